"""The store's own promises: one question searches on one thread, BM25 files do not depend on the process, a manifest is
parsed once while it stays the same."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from time import time_ns
from typing import Any

import numpy as np
import pytest

from qa.store.lexical import LexicalIndex
from qa.store.vectors import VectorIndex

ROOT = Path(__file__).resolve().parents[1]


class _Recording:
    """A faiss index that notes how many OpenMP threads each search may use."""

    def __init__(self, index: Any) -> None:
        self._index = index
        self.threads: list[int] = []

    def search(self, *args: Any, **kwargs: Any) -> Any:
        import faiss

        self.threads.append(faiss.omp_get_max_threads())
        return self._index.search(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._index, name)


@pytest.mark.parametrize("kind", ["flat", "ivf"])
def test_one_question_searches_on_one_thread_and_finds_the_exact_neighbours(kind: str) -> None:
    import faiss

    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((4000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    store = VectorIndex.build(vectors, kind)
    recording = _Recording(store._index)
    store._index = recording
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(2)  # as on a 2-core machine, whatever this one has
    try:
        scores, rows = store.search(vectors[7:8], 5)
        store.search(vectors[:3], 5)
        store.search(vectors[7:8], 5, ids=np.arange(0, 4000, 2))
        after = faiss.omp_get_max_threads()
    finally:
        faiss.omp_set_num_threads(before)
    assert recording.threads == [1, 2, 1]  # one question: one thread; a batch keeps the caller's threads
    assert after == 2  # the caller's setting is restored
    exact = np.argsort(-(vectors @ vectors[7]))[:5]
    assert rows[0][0] == 7 and scores[0][0] == pytest.approx(1.0, abs=1e-5)
    if kind == "flat":
        assert list(rows[0]) == list(exact)


_WRITE_BM25 = """
import sys
from time import time_ns
from pathlib import Path
from qa.store.lexical import LexicalIndex
texts = Path(sys.argv[1]).read_text().split("\\n\\n")
LexicalIndex.build(texts, {"k1": 0.9, "b": 0.4}).write(Path(sys.argv[2]))
"""


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_two_builds_of_the_same_texts_write_byte_identical_bm25_files(tmp_path: Path) -> None:
    seeds = sorted((ROOT / "tests" / "fixtures" / "real").glob("*.txt"))
    assert len(seeds) >= 5
    texts = tmp_path / "texts.txt"
    texts.write_text("\n\n".join(p.read_text(encoding="utf-8") for p in seeds), encoding="utf-8")
    written = []
    for seed in ("1", "2", "3"):  # Python's string hashing, hence set order, differs with the seed
        out = tmp_path / f"bm25-{seed}"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, "-c", _WRITE_BM25, str(texts), str(out)], cwd=ROOT, env=env, check=True)
        written.append(_digests(out))
    assert written[0] == written[1] == written[2]
    assert "vocab.index.json" in written[0]
    # and the index scores as before: the same words, the same BM25
    read = LexicalIndex.read(tmp_path / "bm25-1")
    built = LexicalIndex.build(texts.read_text().split("\n\n"), {"k1": 0.9, "b": 0.4})
    for query in ("defense ministerial meeting", "tariff agreement exports", "nothing-indexed-here"):
        assert np.allclose(read.scores(query), built.scores(query))
    vocabulary = read._model.vocab_dict
    words = [w for w in vocabulary if w]
    assert [vocabulary[w] for w in sorted(words)] == list(range(len(words)))


def test_an_unchanged_manifest_is_parsed_once_and_a_replaced_one_again(small_corpus, fake_encoder, tmp_path):
    from dataclasses import replace

    from qa import build_index
    from qa.store.manifest import read_manifest, write_manifest

    index = tmp_path / "index"
    build_index(small_corpus, index, fake_encoder)
    path = index / "manifest.json"
    assert read_manifest(index) is not read_manifest(index)  # written just now: always parsed
    old = time_ns() - 3600 * 10**9
    os.utime(path, ns=(old, old))
    first = read_manifest(index)
    assert read_manifest(index) is first  # an hour old and unchanged: parsed once
    write_manifest(index, replace(first, built_at="another build"))  # a writer replaces the file
    os.utime(path, ns=(old, old))  # even with the same time (a new inode)
    assert read_manifest(index).built_at == "another build"
