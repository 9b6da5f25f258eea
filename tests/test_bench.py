"""The whole-corpus benchmark runs end to end on a tiny real corpus (numbers are not asserted: they belong to the README).

What is asserted is what the figures stand on: every file indexed with real vectors of the benchmark's encoder, the
Senate questions answered by release-qa and its peers over that whole index, a rerun that reuses the build.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow  # builds and benchmarks an index in a subprocess

SENATE = ROOT / "tests" / "fixtures" / "eval_all"


def run_bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "benchmarks/bench.py", "--corpus", str(SENATE / "senate"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_bench_whole_corpus_tiny(tmp_path):
    from qa import load_index
    from qa.corpus import corpus_files
    from qa.embedding import make_encoder

    index, out = tmp_path / "index", tmp_path / "out"
    proc = run_bench(
        "--index",
        str(index),
        "--out",
        str(out),
        "--senate-qa",
        str(SENATE / "senate_dev_qa.jsonl"),
        "--small",
        "8",
        "--repeat",
        "3",
        "--cold-runs",
        "1",
        "--raw-sample",
        "16",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for heading in (
        "### Build",
        "### Build vs raw",
        "### Query latency",
        "### Cold start",
        "### senate_dev_qa",
        "### ANN",
        "### Targets",
    ):
        assert heading in proc.stdout
    assert (out / "bench.md").read_text().strip() in proc.stdout
    report = json.loads((out / "bench.json").read_text())
    built = load_index(index)
    files = corpus_files(SENATE / "senate")
    assert report["build"]["files"] == len(files)
    assert report["build"]["this_run"]["embedded"] == report["build"]["chunks"] == len(built.chunks)
    assert {c.source for c in built.chunks} == {str(f.relative_to(SENATE / "senate")) for f in files}

    # real vectors of the backend the benchmark ran: row i is chunk i's text embedded by that encoder
    enc = make_encoder(None, report["backend"])
    rows = [0, len(built.chunks) - 1]
    stored = built.vectors.reconstruct_batch(np.array(rows, dtype=np.int64))
    fresh = enc.encode([built.chunks[i].embed_text for i in rows])
    assert (stored * fresh).sum(axis=1).min() > 0.99

    assert [r["chunks"] for r in report["queries"]][-1] == len(built.chunks)
    assert report["queries"][0]["chunks"] < len(built.chunks)  # the small index, a subset of the whole
    questions = [line for line in (SENATE / "senate_dev_qa.jsonl").read_text().splitlines() if line.strip()]
    assert report["senate"]["questions"] == len(questions) and report["senate"]["chunks"] == len(built.chunks)
    assert set(report["senate"]["methods"]) == {"bm25", "dense", "rrf", "release-qa"}
    assert report["ann"]["flat"]["recall@10"] == 1.0
    assert {t["target"].split(" at ")[0] for t in report["targets"]} >= {
        "build / raw encode chunks/s",
        "cold `qa ask` on the seeds, s",
    }

    again = run_bench("--index", str(index), "--out", str(tmp_path / "again"), "--skip", "raw,queries,cold,senate,ann")
    assert again.returncode == 0, again.stderr[-3000:]
    rerun = json.loads((tmp_path / "again" / "bench.json").read_text())["build"]
    assert rerun["this_run"]["embedded"] == 0 and rerun["this_run"]["reused"] == len(built.chunks)
    assert rerun["build_s"] == report["build"]["build_s"]  # the figures of the build that did the work, not of the no-op
