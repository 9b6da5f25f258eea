"""Cold `qa ask`: a new process answering one question from a built index -- wall time, peak RSS, what dominates.

    python benchmarks/cold_start.py --corpus CORPUS --index INDEX [--runs 5] [--question "..."] [--profile 25]

Each run is a fresh `python -m qa ask QUESTION --corpus CORPUS --index INDEX --json` (file cache warm after the first
run): the median and the fastest wall time over --runs, and the peak resident memory of each run. --profile N adds
one run under cProfile and prints its N most expensive calls (cumulative). The staleness check is timed on its own
both ways: the full check (the corpus listed and every file compared with the manifest: `qa index`, the chat's
start-up) and the folder check `qa ask` makes (the folders' times against the signature recorded by the build).
A last row runs the store and the encoder alone in a new process -- the folder check, `load_index`, the question's
vector, one FAISS search over chunks and one over sentences, BM25 over chunks and over releases, the ten chunks shown
-- without the answering stage, to split a cold question's cost between retrieval and the rest.
"""

from __future__ import annotations

import argparse
import io
import json
import pstats
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.environment import child_environment  # noqa: E402

PROBE = r"""
import resource, sys
sys.argv = ["qa", *sys.argv[1:]]
from qa.cli import main
try:
    code = main(sys.argv[1:])
finally:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(usage.ru_utime + usage.ru_stime, usage.ru_maxrss, file=sys.stderr)
"""


RETRIEVAL = r"""
import resource, sys
from pathlib import Path
from qa.build import index_status
from qa.embedding import make_encoder
from qa.store.index import load_index
corpus, folder, question = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
encoder = make_encoder()
status = index_status(corpus, folder, encoder.name, backend=encoder.backend, trust_folders=True)
index = load_index(folder)
vector = encoder.encode_query(question)[None, :]
_, rows = index.vectors.search(vector, 50)
index.sentences.search(vector, 50)
index.bm25_scores(question)
index.releases.scores(question)
shown = [index.chunks[int(r)].text for r in rows[0][:10]]
usage = resource.getrusage(resource.RUSAGE_SELF)
print(status.value, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, file=sys.stderr)
"""


def retrieval_once(args: argparse.Namespace, env: dict[str, str]) -> tuple[float, float, int]:
    cmd = [sys.executable, "-c", RETRIEVAL, str(args.corpus), str(args.index), args.question]
    t = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - t
    if done.returncode:
        raise SystemExit(f"retrieval probe failed: {done.stderr.strip()[-500:]}")
    _, cpu, rss_kib = done.stderr.strip().splitlines()[-1].split()
    return wall, float(cpu), int(rss_kib) * 1024


def run_once(args: argparse.Namespace, env: dict[str, str]) -> tuple[float, float, int, str]:
    cmd = [sys.executable, "-c", PROBE, "ask", args.question, "--corpus", str(args.corpus), "--index", str(args.index), "--json"]
    t = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - t
    if done.returncode:
        raise SystemExit(f"qa ask failed: {done.stderr.strip()[-500:]}")
    cpu, rss_kib = done.stderr.strip().splitlines()[-1].split()
    return wall, float(cpu), int(rss_kib) * 1024, (json.loads(done.stdout).get("answer") or "(abstained)")[:80]


def staleness_seconds(corpus: Path, index: Path, trust_folders: bool) -> tuple[float, str]:
    """The best of three (the file cache warm, as for every run): seconds and the status found."""
    from qa.build import index_status

    times, status = [], ""
    for _ in range(3):
        t = time.perf_counter()
        status = index_status(corpus, index, trust_folders=trust_folders).value
        times.append(time.perf_counter() - t)
    return min(times), status


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--question", default="What did the senator say about the farm bill?")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--profile", type=int, default=0, help="print the N most expensive calls of one profiled run")
    args = ap.parse_args()
    env = child_environment(PYTHONPATH=str(ROOT))
    runs = [run_once(args, env) for _ in range(args.runs)]
    walls, cpus, peaks = [r[0] for r in runs], [r[1] for r in runs], [r[2] for r in runs]
    print(f"\n`qa ask` cold over {args.index.name}, {args.runs} runs (answer: {runs[-1][3]!r})\n")
    (full, status), (folders, quick) = (staleness_seconds(args.corpus, args.index, trust) for trust in (False, True))
    print("| median wall s | fastest wall s | median CPU s | peak RSS MiB (max of runs) | full check s | folder check s |")
    print("|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {statistics.median(walls):.2f} | {min(walls):.2f} | {statistics.median(cpus):.2f} | {max(peaks) / 2**20:.0f} | "
        f"{full:.3f} ({status}) | {folders:.3f} ({quick}) |"
    )
    alone = [retrieval_once(args, env) for _ in range(args.runs)]
    print("\nRetrieval alone (store + encoder, no answering stage), same runs:\n")
    print("| median wall s | median CPU s | peak RSS MiB (max of runs) |\n|---:|---:|---:|")
    print(
        f"| {statistics.median(r[0] for r in alone):.2f} | {statistics.median(r[1] for r in alone):.2f} | "
        f"{max(r[2] for r in alone) / 2**20:.0f} |"
    )
    if args.profile:
        out = Path(ROOT / ".cache" / "cold_start.prof")
        cmd = [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "qa", "ask", args.question]
        subprocess.run([*cmd, "--corpus", str(args.corpus), "--index", str(args.index)], env=env, cwd=ROOT, capture_output=True)
        text = io.StringIO()
        pstats.Stats(str(out), stream=text).sort_stats("cumulative").print_stats(args.profile)
        print("\n```\n" + "\n".join(line for line in text.getvalue().splitlines() if line.strip()) + "\n```")


if __name__ == "__main__":
    main()
