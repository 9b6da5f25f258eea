"""`qa index --ray`: the build's new texts embedded by Ray Data on a local Ray cluster of two encoder processes.

The index it writes must be the one a local build writes (same chunk store, manifest, sentence table, BM25;
vectors within 1e-5), it must embed only what no earlier generation holds, and it must finish when one of its
workers is killed mid-build.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import ray  # the cluster extra, installed by make setup

from qa.build import build_index
from qa.store.index import load_index

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "releases"


@pytest.fixture(scope="module")
def engine():
    """A local Ray (offline, no dashboard, no usage report) with two encoder processes of one thread each."""
    from qa.distributed import RayEngine

    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    engine = RayEngine(workers=2, batch_size=4)
    assert engine.connect() == 2
    yield engine
    ray.shutdown()


class _Recording:
    """The engine, remembering every text it was given."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner, self.name, self.texts = inner, inner.name, []

    def embed(self, encoder, texts, piece):  # type: ignore[no-untyped-def]
        self.texts.extend(texts)
        return self.inner.embed(encoder, texts, piece)


def _same_index(ours: Path, theirs: Path) -> None:
    a, b = load_index(ours), load_index(theirs)
    assert [c.key for c in a.chunks] == [c.key for c in b.chunks]
    assert (ours / a.manifest.live["chunks"]).read_bytes() == (theirs / b.manifest.live["chunks"]).read_bytes()
    assert np.array_equal(a.sentence_table, b.sentence_table)
    for x, y in ((a.vectors, b.vectors), (a.sentences, b.sentences)):
        assert np.abs(x.reconstruct_n(0, x.ntotal) - y.reconstruct_n(0, y.ntotal)).max() < 1e-5
    ma, mb = (json.loads((f / "manifest.json").read_text()) for f in (ours, theirs))
    differ = {k for k in ma.keys() | mb.keys() if ma.get(k) != mb.get(k)}
    # folders: the corpus's folder times as each build saw them (one changed within two seconds is never trusted)
    assert differ <= {"built_at", "checksums", "folders"}, differ
    assert set(ma["checksums"]) == set(mb["checksums"])
    for query in ("senator farm bill funding", "rail services night train", "ministry announced"):
        assert np.allclose(a.bm25_scores(query), b.bm25_scores(query))


def _corpus(tmp_path: Path, names: list[str]) -> Path:
    corpus = tmp_path / "corpus"
    corpus.mkdir(exist_ok=True)
    for name in names:
        shutil.copy(FIXTURES / name, corpus / name)
    return corpus


def test_ray_build_equals_local_build_and_reuses_what_is_embedded(engine, encoder, tmp_path):
    corpus = _corpus(tmp_path, ["ministry_uk.txt", "release.md"])
    build_index(corpus, tmp_path / "local", encoder, log=lambda m: None)
    recording = _Recording(engine)
    report = build_index(corpus, tmp_path / "ray", encoder, engine=recording, log=lambda m: None)
    assert report.written and report.embedded == report.chunks
    _same_index(tmp_path / "ray", tmp_path / "local")

    shutil.copy(FIXTURES / "breakless.txt", corpus / "breakless.txt")  # one new release: only its texts go to Ray
    build_index(corpus, tmp_path / "local", encoder, log=lambda m: None)
    before = len(recording.texts)
    report = build_index(corpus, tmp_path / "ray", encoder, engine=recording, log=lambda m: None)
    new = {c.embed_text for c in load_index(tmp_path / "ray").chunks if c.source == "breakless.txt"}
    sent = set(recording.texts[before:])
    assert new <= sent and not {c.embed_text for c in load_index(tmp_path / "local").chunks if c.source != "breakless.txt"} & sent
    assert report.reused > 0 and report.embedded == len(new)
    _same_index(tmp_path / "ray", tmp_path / "local")


def _kill_a_worker_once_results_arrive(index: Path, killed: list[int], stop: threading.Event) -> None:
    """Waits for the build's first checkpoint (results are streaming back), then kills one encoder process."""
    import psutil

    while not stop.is_set():
        if any((index / "partial").glob("part-*.json")):
            workers = [p for p in psutil.Process().children(recursive=True) if "MapWorker" in " ".join(p.cmdline())]
            if workers:
                workers[0].kill()
                killed.append(workers[0].pid)
                return
        time.sleep(0.05)


def test_ray_build_finishes_when_a_worker_is_killed(engine, encoder, tmp_path, monkeypatch):
    import qa.build

    monkeypatch.setattr(qa.build, "CHECKPOINT_EVERY", 4)  # a checkpoint every 4 texts: the kill lands mid-build
    corpus = _corpus(tmp_path, ["ministry_uk.txt", "ministry_jp.txt", "release.md", "breakless.txt"])
    build_index(corpus, tmp_path / "local", encoder, log=lambda m: None)
    killed: list[int] = []
    stop = threading.Event()
    killer = threading.Thread(target=_kill_a_worker_once_results_arrive, args=(tmp_path / "ray", killed, stop), daemon=True)
    killer.start()
    try:
        report = build_index(corpus, tmp_path / "ray", encoder, engine=engine, log=lambda m: None)
    finally:
        stop.set()
        killer.join()
    assert killed, "no encoder process was killed: the build ended before its first checkpoint"
    assert report.written and not (tmp_path / "ray" / "partial").exists()
    _same_index(tmp_path / "ray", tmp_path / "local")


def test_ray_refuses_pooled_sentences_clearly(engine, encoder, tmp_path):
    from qa.config import ChunkConfig
    from qa.errors import QAError

    corpus = _corpus(tmp_path, ["release.md"])
    with pytest.raises(QAError, match="sentence pooling"):
        build_index(corpus, tmp_path / "ray", encoder, cfg=ChunkConfig(sentence_pooling="late"), engine=engine)
