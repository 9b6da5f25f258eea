"""Encoder backends agree; vectors of different backends are never mixed; the FAISS type follows corpus size."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from conftest import ONNX_VERIFY, SEEDS
from qa import QA
from qa.chunking import chunk_release
from qa.corpus import read_corpus
from qa.embedding import OnnxEncoder, make_encoder
from qa.errors import StoreError, QAError
from qa import IndexStatus, build_index, index_status
from qa.index import make_faiss


@pytest.fixture(scope="module")
def seed_texts():
    return [c.embed_text for r in read_corpus(SEEDS) for c in chunk_release(r)]


@pytest.mark.parametrize("backend,floor", [("onnx", 0.999), ("onnx-int8", 0.99)])
def test_onnx_backends_agree_with_sentence_transformers(encoder, seed_texts, backend, floor):
    onnx = make_encoder(backend=backend, verify_texts=ONNX_VERIFY)
    assert isinstance(onnx, OnnxEncoder) and onnx.dim == encoder.dim == 384
    cosine = (onnx.encode(seed_texts) * encoder.encode(seed_texts)).sum(axis=1)
    assert cosine.mean() >= floor and cosine.min() >= floor - 0.02
    meta = json.loads((onnx.folder / "meta.json").read_text())
    assert meta[f"cosine_{backend}"] >= 0.99 and meta["verified_on"] >= 100  # checked when exported
    long_text = " ".join(seed_texts)  # far past the 256-piece window: counted whole, as the chunker needs
    assert onnx.count_tokens(long_text) == encoder.count_tokens(long_text) > 1000


def test_index_refuses_another_backend_until_rebuilt(tmp_path, encoder):
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    index = tmp_path / "index"
    build_index(corpus, index, encoder)
    assert index_status(corpus, index, backend="onnx-int8") == IndexStatus.OTHER_BACKEND
    onnx = make_encoder(backend="onnx-int8", verify_texts=ONNX_VERIFY)
    session = QA(corpus, index, encoder=onnx)
    with pytest.raises(StoreError, match="another encoder backend.*--backend onnx-int8 --rebuild"):
        session.ask("Which country became the 18th UNC Member State?")
    report = build_index(corpus, index, onnx, rebuild=True)
    assert report.embedded == 19
    assert json.loads((index / "manifest.json").read_text())["model"]["backend"] == "onnx-int8"
    answer = QA(corpus, index, encoder=onnx).ask("Which country became the 18th UNC Member State?")
    assert "Germany" in answer.passages[0].text
    assert build_index(corpus, index, encoder).embedded == 19  # back to torch: re-embedded, not mixed


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(QAError, match="unknown backend 'gpu'"):
        make_encoder(backend="gpu")


def test_faiss_type_follows_corpus_size(monkeypatch):
    import qa.index

    vectors = np.random.default_rng(0).standard_normal((500, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    assert not hasattr(make_faiss(vectors, "auto"), "hnsw")
    monkeypatch.setattr(qa.index, "FLAT_MAX", 100)
    ivf = make_faiss(vectors, "auto")
    assert hasattr(ivf, "nprobe") and ivf.ntotal == 500
    assert np.allclose(ivf.reconstruct(7), vectors[7])  # rows stay addressable for fusion and reuse
    hnsw = make_faiss(vectors[:50], "hnsw")  # overridable either way
    assert hasattr(hnsw, "hnsw") and not hasattr(make_faiss(vectors, "flat"), "hnsw")
    for index in (ivf, hnsw):
        _, found = index.search(vectors[:10], 1)
        assert (found[:, 0] == np.arange(10)).mean() >= 0.9
