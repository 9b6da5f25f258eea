"""The benchmark suite runs end to end at a tiny size (numbers are not asserted: they belong to the README)."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import FIXTURES, ROOT


def test_bench_runs_end_to_end_tiny(tmp_path):
    out = tmp_path / "bench"
    proc = subprocess.run(
        [sys.executable, "benchmarks/bench.py", "--corpus", str(FIXTURES), "--sizes", "20", "--build-chunks", "8",
         "--ann", "3000", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for heading in ("### Encoders", "### Build", "### Query latency", "### Cold start", "### ANN"):
        assert heading in proc.stdout
    report = json.loads((out / "bench.json").read_text())
    assert set(report["encoders"]) == {"torch", "onnx", "onnx-int8"}
    assert report["build"]["torch"]["reembedded"] == 0 and report["build"]["onnx-int8"]["reembedded"] == 0
    assert {row["vectors"] for row in report["queries"]} == {"real", "synthetic"}
    assert set(report["ann"]) == {"flat", "ivf"} and (out / "latency.png").exists()
