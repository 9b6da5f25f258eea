"""The chat from launch: seconds until its page is served and until its first answer, for indexes of any size.

    python benchmarks/chat_start.py CORPUS INDEX [CORPUS INDEX ...] [--runs 3] [--backend onnx]

Each run starts ``app.py`` as a user does (a new process, on a free port) over a built index and polls the page,
then asks one question through the chat's ``/ask`` API until it is answered (the index loads behind the page).
The first run warms the file cache and is not counted; the table gives the median of the others.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench import chat_first_answer  # noqa: E402

from qa.environment import child_environment  # noqa: E402
from qa.store.index import load_index  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pairs", nargs="+", type=Path, help="CORPUS INDEX, repeated")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--backend", default="onnx")
    args = ap.parse_args()
    if len(args.pairs) % 2:
        ap.error("give each corpus with its index: CORPUS INDEX [CORPUS INDEX ...]")
    env = child_environment(PYTHONPATH=str(ROOT), TRANSFORMERS_VERBOSITY="error")
    print("| index | chunks | page served s (median) | first answer s (median) |\n|---|---:|---:|---:|")
    for corpus, index in zip(args.pairs[::2], args.pairs[1::2], strict=True):
        runs = [chat_first_answer(corpus, index, args.backend, env) for _ in range(args.runs + 1)][1:]
        page = statistics.median(r[0] for r in runs)
        answer = statistics.median(r[1] for r in runs)
        print(f"| {index.name} | {len(load_index(index)):,} | {page:.2f} | {answer:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
