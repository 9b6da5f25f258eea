"""Unit tests of build, staleness and fusion logic with a fake encoder (fast, deterministic).

Behaviour -- what gets answered and how well -- is tested with the real model elsewhere.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing

import numpy as np
import pytest

from qa import ChunkConfig, FusionConfig, IndexStatus, QueryError, build_index, index_status, load_index
from qa.query.fusion import FUSIONS
from qa.query.retriever import Retriever
from qa.store.manifest import Fit, read_manifest


def test_build_embeds_only_new_text_and_reports_each_file(small_corpus, tmp_path, fake_encoder):
    index = tmp_path / "index"
    first = build_index(small_corpus, index, fake_encoder, log=lambda msg: None)
    assert (
        first.written and first.embedded == first.chunks > 0 and first.files_new == sorted(p.name for p in small_corpus.iterdir())
    )
    assert build_index(small_corpus, index, fake_encoder).written is False  # nothing changed: nothing written
    before = len(fake_encoder.encoded)
    edited = sorted(small_corpus.iterdir())[0]
    edited.write_text(
        edited.read_text(encoding="utf-8") + "\n\nA new closing paragraph with enough words to stand.\n", encoding="utf-8"
    )
    second = build_index(small_corpus, index, fake_encoder)
    assert second.files_changed == [edited.name] and second.embedded == 1
    new_texts = fake_encoder.encoded[before:]
    assert new_texts and all("new closing paragraph" in t for t in new_texts)  # the chunk and its one sentence
    loaded = load_index(index)
    with closing(sqlite3.connect(index / loaded.manifest.live["chunks"])) as db:
        stored = [key for (key,) in db.execute("select key from chunks order by row")]
    assert [c.key for c in loaded.chunks] == stored  # the embedded text rebuilt on reading is the one embedded


def test_status_follows_corpus_and_settings(small_corpus, tmp_path, fake_encoder):
    index = tmp_path / "index"
    assert index_status(small_corpus, index, fake_encoder.name) == IndexStatus.MISSING
    build_index(small_corpus, index, fake_encoder)
    assert index_status(small_corpus, index, fake_encoder.name) == IndexStatus.FRESH == "fresh"
    assert index_status(small_corpus, index, fake_encoder.name, backend="torch") == IndexStatus.OTHER_BACKEND
    assert index_status(small_corpus, index, fake_encoder.name, ChunkConfig(min_words=3)) == IndexStatus.INCOMPATIBLE
    assert index_status(small_corpus, index, "another-model") == IndexStatus.INCOMPATIBLE
    sorted(small_corpus.iterdir())[-1].unlink()
    assert index_status(small_corpus, index, fake_encoder.name) == IndexStatus.STALE


def test_manifest_compatibility_levels(small_corpus, tmp_path, fake_encoder):
    build_index(small_corpus, tmp_path / "index", fake_encoder)
    manifest = read_manifest(tmp_path / "index")
    cfg = ChunkConfig()
    mine = fake_encoder.backend
    assert manifest.compatible_with("fake-model", mine, cfg) == Fit.ALL
    assert manifest.compatible_with("fake-model", mine, cfg, index_type="hnsw") == Fit.CHUNKS
    assert manifest.compatible_with("fake-model", mine, ChunkConfig(min_words=3)) == Fit.VECTORS
    assert manifest.compatible_with("fake-model", "torch", cfg) == Fit.OTHER_BACKEND
    assert manifest.compatible_with("other", mine, cfg) == Fit.NONE


def test_unknown_fusion_method_is_rejected_with_the_valid_ones(small_corpus, tmp_path, fake_encoder):
    with pytest.raises(QueryError, match="unknown fusion method 'rfr': use one of convex, rrf, dense, bm25"):
        FusionConfig(method="rfr")
    build_index(small_corpus, tmp_path / "index", fake_encoder)
    retriever = Retriever(load_index(tmp_path / "index"), fake_encoder)
    with pytest.raises(QueryError, match="unknown fusion method 'hybrid'"):
        retriever.search("Who co-chaired the meeting?", method="hybrid")


def test_each_fusion_method_runs_only_its_retrievers(small_corpus, tmp_path, fake_encoder):
    build_index(small_corpus, tmp_path / "index", fake_encoder)
    retriever = Retriever(load_index(tmp_path / "index"), fake_encoder)
    for method in FUSIONS:
        result = retriever.search("Who co-chaired the Defense Ministerial Meeting?", 3, method=method)
        assert 0 < len(result.hits) <= 3
        scores = [h.score for h in result.hits]
        assert scores == sorted(scores, reverse=True)
        if method == "bm25":
            assert not np.any(result.query_vector) and all(h.dense_rank is None for h in result.hits)
            assert [h.score for h in result.hits] == [h.bm25_score for h in result.hits]
        if method == "dense":
            assert all(h.bm25_rank is None for h in result.hits)
            assert [h.score for h in result.hits] == [h.dense_score for h in result.hits]


def test_index_of_an_older_release_rechunks_and_keeps_its_vectors(small_corpus, tmp_path, fake_encoder):
    """An upgrade must not re-embed a corpus: a manifest whose chunking lacks settings added since still loads,
    and the next build re-chunks with the vectors of unchanged text reused."""

    index = tmp_path / "index"
    build_index(small_corpus, index, fake_encoder)
    manifest = json.loads((index / "manifest.json").read_text())
    for added in ("window_overlap", "title_in_embedding"):  # as an index written before these settings existed
        manifest["chunking"].pop(added, None)
    manifest["chunking"]["version"] = 1
    (index / "manifest.json").write_text(json.dumps(manifest))
    assert len(load_index(index)) == manifest["chunk_count"]
    before = len(fake_encoder.encoded)
    report = build_index(small_corpus, index, fake_encoder)
    assert report.written and len(fake_encoder.encoded) == before, "nothing should be embedded again"
