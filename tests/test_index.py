"""Incremental indexing with the real model and real FAISS/BM25: nothing unchanged is re-embedded."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import SEEDS

from qa import IndexStatus, build_index, index_status, load_index
from qa.errors import CorpusError, StoreError, cli_message

EXTRA = """Harbour Authority Opens New Ferry Terminal

Published 2 May 2024

The Harbour Authority opened a new ferry terminal on the north quay that can handle 4,000 passengers a day.

The terminal cost 85 million euros and was built in 26 months by a consortium of local firms.
"""


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "corpus"
    shutil.copytree(SEEDS, folder)
    return folder


def test_incremental_add_edit_delete_unchanged(corpus, tmp_path, encoder):
    index = tmp_path / "index"
    first = build_index(corpus, index, encoder)
    assert (first.embedded, first.reused, first.chunks) == (19, 0, 19)
    assert index_status(corpus, index, backend=encoder.backend) == IndexStatus.FRESH

    again = build_index(corpus, index, encoder)
    assert (again.embedded, again.reused, again.written) == (0, 19, False)

    (corpus / "new.txt").write_text(EXTRA, encoding="utf-8")
    assert index_status(corpus, index, backend=encoder.backend) == IndexStatus.STALE
    added = build_index(corpus, index, encoder)
    assert (added.embedded, added.reused, added.chunks) == (2, 19, 21)
    assert added.files_new == ["new.txt"]

    seed = corpus / "003_739443eadc7a4b5c.txt"
    seed.write_text(seed.read_text(encoding="utf-8").replace("over 70 years", "over seventy years"), encoding="utf-8")
    edited = build_index(corpus, index, encoder)
    assert (edited.embedded, edited.removed, edited.files_changed) == (1, 1, ["003_739443eadc7a4b5c.txt"])
    loaded = load_index(index)
    assert any("over seventy years" in c.text for c in loaded.chunks)
    assert not any("over 70 years" in c.text for c in loaded.chunks)

    (corpus / "new.txt").unlink()
    removed = build_index(corpus, index, encoder)
    assert (removed.embedded, removed.removed, removed.chunks) == (0, 2, 19)
    assert removed.files_removed == ["new.txt"]
    assert all(c.source != "new.txt" for c in load_index(index).chunks)

    (corpus / "003_739443eadc7a4b5c.txt").rename(corpus / "renamed.txt")  # a move re-embeds nothing
    moved = build_index(corpus, index, encoder)
    assert moved.embedded == 0 and moved.files_new == ["renamed.txt"]


def test_row_i_is_chunk_i_and_manifest_fields(corpus, tmp_path, encoder):
    index = tmp_path / "index"
    build_index(corpus, index, encoder)
    loaded = load_index(index)
    manifest = json.loads((index / "manifest.json").read_text())
    assert manifest["model"] == {"name": "all-MiniLM-L6-v2", "dim": 384, "backend": encoder.backend}
    assert manifest["chunk_count"] == len(loaded.chunks) == loaded.vectors.ntotal
    assert set(manifest["files"]) == {"000_caf02737a2f89f36.txt", "003_739443eadc7a4b5c.txt"}
    assert {"format_version", "built_at", "chunking", "live"} <= manifest.keys()
    vectors = loaded.vectors.reconstruct_n(0, loaded.vectors.ntotal)
    fresh = encoder.encode([c.embed_text for c in loaded.chunks])
    assert (vectors * fresh).sum(axis=1).min() > 0.999  # row i embeds chunk i


@pytest.mark.slow
def test_other_model_in_manifest_triggers_rebuild(corpus, tmp_path, encoder):
    index = tmp_path / "index"
    build_index(corpus, index, encoder)
    manifest = json.loads((index / "manifest.json").read_text())
    manifest["model"]["name"] = "some-other-model"
    (index / "manifest.json").write_text(json.dumps(manifest))
    assert index_status(corpus, index, backend=encoder.backend) == IndexStatus.INCOMPATIBLE
    report = build_index(corpus, index, encoder)
    assert report.embedded == 19  # vectors of another model are never reused
    assert index_status(corpus, index, backend=encoder.backend) == IndexStatus.FRESH


def test_corrupt_index_is_detected(corpus, tmp_path, encoder):
    index = tmp_path / "index"
    build_index(corpus, index, encoder)
    manifest = json.loads((index / "manifest.json").read_text())
    faiss_file = index / manifest["live"]["vectors"]
    faiss_file.write_bytes(faiss_file.read_bytes()[:100])
    with pytest.raises(StoreError, match=r"corrupt.*rebuild"):
        load_index(index)
    (index / "manifest.json").write_text("{not json")
    with pytest.raises(StoreError, match="not valid JSON"):
        load_index(index)
    assert build_index(corpus, index, encoder).embedded == 19  # rebuilt from the corpus


def test_bad_file_leaves_previous_index_working(corpus, tmp_path, encoder):
    index = tmp_path / "index"
    build_index(corpus, index, encoder)
    before = (index / "manifest.json").read_bytes()
    (corpus / "bad.txt").write_bytes("Caf\xe9".encode("latin-1") * 20)
    with pytest.raises(CorpusError, match=r"bad.txt is not UTF-8.*left unchanged") as caught:
        build_index(corpus, index, encoder)
    worded = cli_message(caught.value)  # one remedy, in the command line's words
    assert worded.endswith("left unchanged: re-save it as UTF-8, e.g. `iconv -f latin1 -t utf-8 bad.txt`"), worded
    assert (index / "manifest.json").read_bytes() == before
    assert len(load_index(index).chunks) == 19


def test_old_generation_files_are_cleaned_up(corpus, tmp_path, encoder):
    index = tmp_path / "index"
    build_index(corpus, index, encoder)
    for i in range(3):
        (corpus / f"n{i}.txt").write_text(EXTRA.replace("4,000", str(1000 + i)), encoding="utf-8")
        build_index(corpus, index, encoder)
    names = sorted(p.name for p in index.iterdir() if not p.name.startswith("."))
    assert len([n for n in names if n.startswith("vectors.")]) == 2  # live + previous


def test_release_bm25_is_written_with_the_index_and_an_index_without_it_still_opens(corpus, tmp_path, encoder):
    from qa.store.chunks import ChunkStore
    from qa.store.lexical import ReleaseIndex

    index = tmp_path / "index"
    build_index(corpus, index, encoder)
    manifest = json.loads((index / "manifest.json").read_text())
    releases = manifest["live"]["releases"]
    assert (index / releases).is_dir() and any(name.startswith(f"{releases}/") for name in manifest["checksums"])
    loaded = load_index(index, verify=True)
    question = "Who co-chaired the Defense Ministerial Meeting?"
    fresh = ReleaseIndex.build(loaded.chunks).scores(question)
    assert loaded.release_scores(question).tolist() == fresh.tolist() and fresh.max() > 0
    # An index of the previous format: chunks as JSON lines, no release-level BM25 among its files.
    shutil.rmtree(index / releases)
    sqlite_name, jsonl_name = manifest["live"]["chunks"], manifest["live"]["chunks"].replace(".sqlite", ".jsonl")
    ChunkStore.write(index / jsonl_name, list(loaded.chunks))
    (index / sqlite_name).unlink()
    del manifest["live"]["releases"]
    manifest["live"]["chunks"] = jsonl_name
    manifest["checksums"] = {
        k: v for k, v in manifest["checksums"].items() if not k.startswith(f"{releases}/") and k != sqlite_name
    }
    (index / "manifest.json").write_text(json.dumps(manifest))
    before = sorted(p.name for p in index.iterdir())
    old = load_index(index, verify=True)
    assert [c.key for c in old.chunks] == [c.key for c in loaded.chunks]
    assert old.release_scores(question).tolist() == fresh.tolist()  # built from the stored chunks, nothing embedded
    for since, source in ((None, "003_"), ("2024-01-01", None)):
        mask = loaded.filter_mask(since=since, source=source)
        assert (
            mask is not None
            and 0 < mask.sum() < len(mask)
            and old.filter_mask(since=since, source=source).tolist() == mask.tolist()
        )
    assert sorted(p.name for p in index.iterdir()) == before  # opening it wrote nothing
    report = build_index(corpus, index, encoder)
    assert not report.written and report.embedded == 0


@pytest.mark.slow
def test_index_folder_holds_only_the_index_after_building_asking_and_peers(corpus, tmp_path, encoder):
    from qa import QA
    from qa.peers import Peers

    index, cache = tmp_path / "index", tmp_path / "cache"
    session = QA(corpus, index, encoder=encoder)
    session.ask("Who co-chaired the meeting?")
    peers = Peers(session, cache=cache)
    assert peers.dense_rows("Who co-chaired the meeting?", 3)
    live = set(json.loads((index / "manifest.json").read_text())["live"].values())
    assert {p.name for p in index.iterdir()} == live | {"manifest.json", ".lock"}
    assert [p.name for p in (cache / "peers").iterdir()] and Peers(session, cache=cache).n == peers.n  # reused


@pytest.mark.parametrize("kind", ["flat", "ivf", "hnsw"])
def test_vectors_read_back_memory_mapped_search_and_reconstruct_as_built(tmp_path, kind):
    import numpy as np

    from qa.store.vectors import VectorIndex

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((3000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    built = VectorIndex.build(vectors, kind)
    built.write(tmp_path / "v.faiss")
    read = VectorIndex.read(tmp_path / "v.faiss")
    ids = np.arange(0, 3000, 7)
    assert read.kind == kind and read.ntotal == 3000
    for restrict in (None, ids):
        assert np.array_equal(built.search(vectors[:20], 5, restrict)[1], read.search(vectors[:20], 5, restrict)[1])
    assert np.allclose(read.reconstruct_batch([3, 2999]), vectors[[3, 2999]], atol=1e-6)
    (tmp_path / "v.faiss").write_bytes((tmp_path / "v.faiss").read_bytes()[:-64])
    with pytest.raises(RuntimeError):
        VectorIndex.read(tmp_path / "v.faiss")


def test_a_corpus_with_nothing_readable_is_a_clear_error_and_writes_nothing(tmp_path, encoder):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    (corpus / "latin1.txt").write_bytes("Caf\xe9 opening hours".encode("latin-1") * 20)
    with pytest.raises(CorpusError, match="no passage could be read from the 1 files"):
        build_index(corpus, index, encoder, skip_bad=True)
    assert not (index / "manifest.json").exists()


def test_a_generation_switched_in_while_the_session_loads_is_loaded_on_the_next_question(
    small_corpus, tmp_path, fake_encoder, monkeypatch
):
    import os

    import qa.session
    from qa import QA
    from qa.store.manifest import MANIFEST

    session = QA(small_corpus, tmp_path / "index", encoder=fake_encoder)
    session.ensure_index()
    loads = []

    def load_then_switch(folder):
        index = load_index(folder)
        if not loads:  # another writer switches in a generation right after this load
            st = (folder / MANIFEST).stat()
            os.utime(folder / MANIFEST, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        loads.append(folder)
        return index

    monkeypatch.setattr(qa.session, "load_index", load_then_switch)
    os.utime(tmp_path / "index" / MANIFEST, ns=(0, 1_000_000_000))  # a new generation: the session reloads
    session.ensure_index()
    session.ensure_index()  # the generation switched in during that reload is noticed
    assert len(loads) == 2


def test_an_index_of_another_backend_is_named_by_path_on_the_command_line_only(small_corpus, tmp_path, fake_encoder):
    from conftest import FakeEncoder

    from qa import QA
    from qa.errors import chat_message, cli_message

    build_index(small_corpus, tmp_path / "index", fake_encoder)
    session = QA(small_corpus, tmp_path / "index", encoder=FakeEncoder(backend="other"), auto_build=False)
    with pytest.raises(StoreError) as caught:
        session.ensure_index()
    assert str(tmp_path / "index") in cli_message(caught.value) and str(tmp_path) not in chat_message(caught.value)


HEADED = """# Harbour Authority Opens New Ferry Terminal

Published 2 May 2024

## Background

The Harbour Authority opened a new ferry terminal on the north quay that can handle 4,000 passengers a day.

## Cost

The terminal cost 85 million euros and was built in 26 months by a consortium of local firms.
"""


def test_a_rebuild_after_the_sentence_splitting_changed_keeps_each_sentence_its_own_vector(
    corpus, tmp_path, encoder, monkeypatch
):
    import qa.chunking
    from qa.chunking import embed_text
    from qa.config import ChunkConfig

    (corpus / "headed.md").write_text(HEADED, encoding="utf-8")
    index = tmp_path / "index"
    with monkeypatch.context() as m:  # an older splitting: one sentence per chunk, headings glued to their paragraph
        m.setattr(qa.chunking, "sentence_spans", lambda text: [(0, len(text))])
        build_index(corpus, index, encoder, cfg=ChunkConfig(version=ChunkConfig().version - 1))
    report = build_index(corpus, index, encoder)
    loaded = load_index(index)
    table = loaded.sentence_table.tolist()
    texts = [loaded.chunks[row].text[a:b] for row, a, b in table]
    assert "Cost" in texts and report.embedded == 0  # headings split off; only sentences are new
    stored = loaded.sentences.reconstruct_n(0, loaded.sentences.ntotal)
    cfg = loaded.manifest.chunk_config()
    fresh = encoder.encode(
        [embed_text(loaded.chunks[row].title, text, cfg) for (row, _, _), text in zip(table, texts, strict=True)]
    )
    assert (stored * fresh).sum(axis=1).min() > 0.999  # row i embeds sentence i, reused or new
