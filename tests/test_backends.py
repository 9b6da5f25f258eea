"""Encoder backends agree; ONNX is the default and queries never import torch; an index of another backend is
re-embedded, never mixed; the FAISS type follows corpus size."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import ONNX_VERIFY, ROOT, SEEDS, run_cli

from qa import QA, IndexStatus, build_index, index_status
from qa.chunking import chunk_release
from qa.config import DEFAULT_BACKEND, Settings
from qa.corpus import read_corpus
from qa.embedding import OnnxEncoder, make_encoder
from qa.errors import QAError, Remedy, StoreError, cli_message
from qa.store.vectors import VectorIndex


@pytest.fixture(scope="module")
def seed_texts():
    return [c.embed_text for r in read_corpus(SEEDS) for c in chunk_release(r)]


@pytest.mark.slow
@pytest.mark.parametrize("backend,floor", [("onnx", 0.999), ("onnx-int8", 0.99)])
def test_onnx_backends_agree_with_sentence_transformers(torch_encoder, seed_texts, backend, floor):
    encoder = torch_encoder
    onnx = make_encoder(backend=backend, verify_texts=ONNX_VERIFY)
    assert isinstance(onnx, OnnxEncoder) and onnx.dim == encoder.dim == 384
    cosine = (onnx.encode(seed_texts) * encoder.encode(seed_texts)).sum(axis=1)
    assert cosine.mean() >= floor and cosine.min() >= floor - 0.02
    meta = json.loads((onnx.folder / "meta.json").read_text())
    assert meta[f"cosine_{backend}"] >= 0.99 and meta["verified_on"] >= 100  # checked when exported
    long_text = " ".join(seed_texts)  # far past the 256-piece window: counted whole, as the chunker needs
    assert onnx.count_tokens(long_text) == encoder.count_tokens(long_text) > 1000


def test_default_backend_is_onnx():
    assert DEFAULT_BACKEND in ("onnx", "onnx-int8")  # the ONNX variant that keeps every eval figure near torch
    assert Settings().backend == Settings.from_env({}).backend == DEFAULT_BACKEND
    encoder = make_encoder()
    assert isinstance(encoder, OnnxEncoder) and encoder.backend == DEFAULT_BACKEND
    assert Settings.from_env({"QA_BACKEND": "torch"}).backend == "torch"  # torch stays selectable


@pytest.mark.slow
def test_index_of_another_backend_is_reembedded_with_a_message(tmp_path, torch_encoder):
    encoder = torch_encoder
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    index = tmp_path / "index"
    build_index(corpus, index, encoder)
    assert index_status(corpus, index) == IndexStatus.OTHER_BACKEND  # the default backend is not torch
    out = run_cli("index", "--corpus", str(corpus), "--index", str(index), "--json")
    assert out.returncode == 0, out.stderr
    assert f"the index was embedded with torch; re-embedding with {DEFAULT_BACKEND}" in out.stderr
    assert json.loads(out.stdout)["embedded"] == 19
    assert json.loads((index / "manifest.json").read_text())["model"]["backend"] == DEFAULT_BACKEND
    assert index_status(corpus, index) == IndexStatus.FRESH

    build_index(corpus, index, encoder)  # back to torch: re-embedded, never mixed
    onnx = make_encoder(backend="onnx-int8", verify_texts=ONNX_VERIFY)
    with pytest.raises(StoreError, match="another encoder backend") as caught:
        QA(corpus, index, encoder=onnx, auto_build=False).ask("Which country became the 18th UNC Member State?")
    assert "`release-qa index --backend onnx-int8`" in cli_message(caught.value)
    answer = QA(corpus, index, encoder=onnx).ask("Which country became the 18th UNC Member State?")  # builds first
    assert "Germany" in answer.passages[0].text
    assert json.loads((index / "manifest.json").read_text())["model"]["backend"] == "onnx-int8"


QUERY_PROBE = """
import json, sys
from qa.cli import main
from qa import QA
code = main(["ask", "Which country became the 18th UNC Member State?", "--corpus", sys.argv[1], "--index", sys.argv[2]])
answer = QA(sys.argv[1], sys.argv[2]).ask("Who co-chaired the 2nd ROK-UNCMS Defense Ministerial Meeting?")
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers", "sentence_transformers"))
print(json.dumps({"code": code, "title": answer.passages[0].title, "heavy": heavy}))
"""


@pytest.mark.slow
def test_a_query_process_never_imports_torch(tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    index = tmp_path / "index"
    build_index(corpus, index, make_encoder(verify_texts=ONNX_VERIFY))  # the default backend, as `make run` builds it
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("QA_BACKEND", None)
    out = subprocess.run(
        [sys.executable, "-c", QUERY_PROBE, str(corpus), str(index)], capture_output=True, text=True, timeout=180, env=env
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert "Germany" in out.stdout and result["code"] == 0
    assert result["title"] == "ROK-UNCMS Defense Ministerial Meeting Statement Released"
    assert result["heavy"] == []


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(QAError, match="unknown backend 'gpu'"):
        make_encoder(backend="gpu")


def test_faiss_type_follows_corpus_size(monkeypatch):
    import qa.store.vectors

    vectors = np.random.default_rng(0).standard_normal((500, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    assert VectorIndex.build(vectors, "auto").kind == "flat"
    monkeypatch.setattr(qa.store.vectors, "FLAT_MAX", 100)
    ivf = VectorIndex.build(vectors, "auto")
    assert ivf.kind == "ivf" and ivf.ntotal == 500
    assert np.allclose(ivf.reconstruct(7), vectors[7])  # rows stay addressable for fusion and reuse
    hnsw = VectorIndex.build(vectors[:50], "hnsw")  # overridable either way
    assert hnsw.kind == "hnsw" and VectorIndex.build(vectors, "flat").kind == "flat"
    for index in (ivf, hnsw):
        _, found = index.search(vectors[:10], 1)
        assert (found[:, 0] == np.arange(10)).mean() >= 0.9


def test_a_failed_export_says_to_use_torch(tmp_path, monkeypatch):
    import qa.onnx_export

    def broken(*args, **kwargs):  # an export that fails the way a missing operator does
        raise RuntimeError("Exporting the operator 'aten::scaled_dot_product_attention' to ONNX opset 17 is not supported")

    monkeypatch.setattr(qa.onnx_export, "export_onnx", broken)
    encoder = make_encoder(cache=tmp_path)  # an empty cache: the export has to happen now
    with pytest.raises(QAError, match=r"cannot export all-MiniLM-L6-v2 to ONNX \(RuntimeError: Exporting") as caught:
        encoder.encode_query("Which country became the 18th UNC Member State?")
    assert caught.value.remedy is Remedy.SET_BACKEND_TORCH
    assert cli_message(caught.value).endswith("use the torch backend (--backend torch, or QA_BACKEND=torch)")
