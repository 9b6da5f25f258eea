"""Latency of ``QA.ask`` with the answer-sentence ranker, stage by stage: a p50 / p95 table.

    python benchmarks/ranker_latency.py --corpus ARCHIVE/corpus --index INDEX --questions ARCHIVE/qa.jsonl [--profile]

The index is an existing one (e.g. the one ``qa eval`` built for the archive); nothing is built here.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from qa.config import Settings
from qa.session import QA


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", type=Path, required=True)
    p.add_argument("--index", type=Path, required=True)
    p.add_argument("--questions", type=Path, required=True, help="JSONL with a 'question' field per line")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--profile", action="store_true", help="also print the 25 costliest functions (cProfile)")
    args = p.parse_args()
    settings = replace(Settings.from_env(), corpus=args.corpus, index=args.index)
    qa = QA.from_settings(settings)
    questions = [json.loads(line)["question"] for line in args.questions.read_text(encoding="utf-8").splitlines() if line.strip()]
    qa.ask(questions[0])  # load the model and the index once
    total, stages = [], {}
    profiler = cProfile.Profile() if args.profile else None
    for _ in range(args.repeat):
        for q in questions:
            if profiler:
                profiler.enable()
            t = time.perf_counter()
            answer = qa.ask(q)
            total.append((time.perf_counter() - t) * 1000)
            if profiler:
                profiler.disable()
            for name, ms in (getattr(answer, "timings", None) or {}).items():
                stages.setdefault(name, []).append(ms)
    print(f"{len(total)} questions, {len(qa.retriever.index.chunks)} chunks\n")
    print("| stage | p50 ms | p95 ms |\n|---|---:|---:|")
    for name, values in [*sorted(stages.items()), ("QA.ask (total)", total)]:
        print(f"| {name} | {np.percentile(values, 50):.1f} | {np.percentile(values, 95):.1f} |")
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
