"""Sentence vectors pooled from their paragraph's pass, a build that resumes after an interruption, and the coverage
check reusing the question's pass -- with the real model on the seed releases."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from conftest import ONNX_VERIFY, SEEDS

from qa import ChunkConfig, build_index, load_index
from qa.chunking import Chunk, chunk_release, sentence_spans
from qa.corpus import read_corpus
from qa.embedding import make_encoder
from qa.pooling import late_vectors
from qa.store.checkpoint import PARTIAL


@pytest.fixture(scope="module")
def seed_chunks() -> list[Chunk]:
    return [c for r in read_corpus(SEEDS) for c in chunk_release(r)]


@pytest.mark.slow
def test_sentence_pieces_come_from_the_paragraph_pass(torch_encoder, seed_chunks):
    encoder = torch_encoder
    chunk = max(seed_chunks, key=lambda c: len(sentence_spans(c.text)))
    states = encoder.token_states([chunk.embed_text])[0]
    assert float(states.vector() @ encoder.encode([chunk.embed_text])[0]) > 0.9999  # the chunk's own vector, same pass
    spans = sentence_spans(chunk.text)
    assert len(spans) >= 3
    shift = len(chunk.embed_text) - len(chunk.text)
    for (a, b), vector in zip(spans, late_vectors(chunk, states, spans, "late"), strict=True):
        rows = states.rows(a + shift, b + shift)
        alone = encoder.model.tokenizer.tokenize(chunk.text[a:b])
        assert [states.pieces[i] for i in rows] == alone  # offsets map the sentence onto exactly its pieces
        expected = states.hidden[rows].mean(axis=0)
        assert vector is not None and np.allclose(vector, expected / np.linalg.norm(expected), atol=1e-5)
    title_rows = states.rows(0, shift - 1)
    assert [states.pieces[i] for i in title_rows] == encoder.model.tokenizer.tokenize(chunk.title)


@pytest.mark.slow
def test_onnx_pieces_and_offsets_match_torch(torch_encoder, seed_chunks):
    encoder = torch_encoder
    onnx = make_encoder(backend="onnx", verify_texts=ONNX_VERIFY)
    texts = [c.embed_text for c in seed_chunks[:6]]
    for ours, theirs in zip(onnx.token_states(texts), encoder.token_states(texts), strict=True):
        assert ours.pieces == theirs.pieces and np.array_equal(ours.offsets, theirs.offsets)
        assert np.array_equal(ours.special, theirs.special)
        assert float(ours.vector() @ theirs.vector()) > 0.999


def test_a_sentence_past_the_window_is_encoded_on_its_own(encoder, tmp_path):
    release = read_corpus(SEEDS)[0]
    words = " ".join(release.paragraphs).split()
    title = " ".join(words[:100])  # a title this long pushes the paragraph's last sentences past 256 pieces
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    body = " ".join(words[100:230])
    (corpus / "long-title.md").write_text(f"# {title}\n\n{body}\n", encoding="utf-8")
    logged: list[str] = []
    build_index(corpus, tmp_path / "index", encoder, cfg=ChunkConfig(sentence_pooling="late"), log=logged.append)
    index = load_index(tmp_path / "index")
    past = [m for m in logged if "past the model's window" in m]
    assert len(index.chunks) == 1 and past, logged
    chunk_row, a, b = (int(x) for x in index.sentence_table[-1])
    chunk = index.chunks[chunk_row]
    alone = encoder.encode([f"{chunk.title}\n{chunk.text[a:b]}"])[0]
    assert float(index.sentences.reconstruct(len(index.sentence_table) - 1) @ alone) > 0.9999


class _Interrupted:
    """The real encoder, interrupted (as by Ctrl-C) at its ``after``-th call; every text it is given is recorded."""

    def __init__(self, encoder, after: int | None = None) -> None:  # type: ignore[no-untyped-def]
        self.inner, self.after, self.calls, self.texts = encoder, after, 0, []

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.inner, name)

    def _call(self, texts):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.after is not None and self.calls > self.after:
            raise KeyboardInterrupt
        self.texts.extend(texts)

    def token_states(self, texts):  # type: ignore[no-untyped-def]
        self._call(texts)
        return self.inner.token_states(texts)

    def encode(self, texts, progress: bool = False):  # type: ignore[no-untyped-def]
        self._call(texts)
        return self.inner.encode(texts)


@pytest.mark.slow
@pytest.mark.parametrize("pooling", ["separate", "late"])
def test_an_interrupted_build_resumes_without_embedding_again(encoder, tmp_path, monkeypatch, pooling):
    import qa.build

    # One encoder call per 4 texts ("separate": chunks and sentences alike) or 4 chunks (pooled; none past the window).
    monkeypatch.setattr(qa.build, "CHECKPOINT_EVERY", 4)
    cfg = ChunkConfig(sentence_pooling=pooling)
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    clean = tmp_path / "clean"
    build_index(corpus, clean, encoder, cfg=cfg, log=lambda msg: None)
    fresh = load_index(clean)
    chunk_texts = {c.embed_text for c in fresh.chunks}
    index = tmp_path / "index"
    first = _Interrupted(encoder, after=2)
    with pytest.raises(KeyboardInterrupt):
        build_index(corpus, index, first, cfg=cfg, log=lambda msg: None)
    assert len(set(first.texts)) == 8 and not (index / "manifest.json").exists()
    assert sorted(p.name for p in (index / PARTIAL).glob("part-*.json")) == ["part-000000.json", "part-000001.json"]
    logged: list[str] = []
    second = _Interrupted(encoder)
    build_index(corpus, index, second, cfg=cfg, log=logged.append)
    assert not set(second.texts) & set(first.texts), "only what was not saved is embedded"
    assert chunk_texts <= set(first.texts) | set(second.texts)
    assert any("resuming an interrupted build" in m for m in logged)
    assert not (index / PARTIAL).exists()
    resumed = load_index(index)
    assert [c.key for c in resumed.chunks] == [c.key for c in fresh.chunks]
    assert np.array_equal(resumed.sentence_table, fresh.sentence_table)
    for a, b in ((resumed.vectors, fresh.vectors), (resumed.sentences, fresh.sentences)):
        assert np.allclose(a.reconstruct_n(0, a.ntotal), b.reconstruct_n(0, b.ntotal), atol=1e-5)


@pytest.mark.slow
def test_changing_the_pooling_reembeds_sentences_and_keeps_chunk_vectors(encoder, tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    index = tmp_path / "index"
    build_index(corpus, index, encoder, cfg=ChunkConfig(sentence_pooling="separate"), log=lambda msg: None)
    before = load_index(index)
    report = build_index(corpus, index, encoder, cfg=ChunkConfig(sentence_pooling="late"), log=lambda msg: None)
    after = load_index(index)
    assert report.written and report.embedded == 0 and after.manifest.chunking["sentence_pooling"] == "late"
    old, new = (x.sentences.reconstruct_n(0, x.sentences.ntotal) for x in (before, after))
    assert (old * new).sum(axis=1).mean() < 0.99  # pooled now, not copied


def test_the_coverage_check_reuses_the_question_pass(encoder, monkeypatch):
    question = "Which country became the 18th member state of the UN Command?"
    expected = encoder.token_states([question])[0]
    vector = encoder.encode_query(question)
    assert float(vector @ encoder.encode([question])[0]) > 0.9999
    calls: list[list[str]] = []
    real = encoder.token_states
    monkeypatch.setattr(encoder, "token_states", lambda texts: calls.append(list(texts)) or real(texts))
    pieces, vectors = encoder.token_vectors([question])[0]
    assert calls == [], "the question's pass is reused"
    keep = ~expected.special
    assert pieces == [p for p, k in zip(expected.pieces, keep, strict=True) if k]
    unit = expected.hidden[keep] / np.linalg.norm(expected.hidden[keep], axis=1, keepdims=True)
    assert np.allclose(vectors, unit, atol=1e-5)
    encoder.token_vectors(["another question entirely"])
    assert calls == [["another question entirely"]]
