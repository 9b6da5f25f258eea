"""Choose the fusion method and weight by evaluation, not by taste.

    python benchmarks/tune_fusion.py SQUAD_PART_A.json [--title both]

Scores every SQuAD question once with each retriever over the same chunks, then
replays fusion variants offline (min-max convex at several weights, z-score
convex, reciprocal rank) on a tuning half of the questions and reports both
halves, for chunks embedded with and without the release title.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import numpy as np
from tuning import minmax as mm  # benchmarks/tuning.py, beside this script
from tuning import replay, save_best

from qa import QA, ChunkConfig, Settings, build_index, load_index
from qa.eval_data import load_squad
from qa.query.retriever import Retriever


def z(x: np.ndarray) -> np.ndarray:
    return (x - x.mean(axis=1, keepdims=True)) / (x.std(axis=1, keepdims=True) + 1e-9)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("squad", type=Path)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--out", type=Path, default=Path("eval/results/fusion"))
    args = ap.parse_args()
    cache = Settings.from_env().cache
    corpus, queries = load_squad(args.squad, args.limit, cache)
    random.Random(0).shuffle(queries)
    half = len(queries) // 2
    report: dict = {}
    for title in (True, False):
        cfg = ChunkConfig(title_in_embedding=title)
        folder = cache / "eval" / f"squad-tune-title{int(title)}"
        session = QA(corpus, folder)
        build_index(corpus, folder, session.encoder, cfg=cfg)
        index = load_index(folder)
        r = Retriever(index, session.encoder)
        n = len(index.chunks)
        vecs = index.vectors.reconstruct_n(0, n)
        sources = np.array([c.source for c in index.chunks])
        qv = session.encoder.encode([q.question for q in queries], progress=True)
        dense = qv @ vecs.T
        bm = np.stack([r.bm25_scores(q.question) for q in queries])
        rel = np.stack([sources == next(iter(q.relevant)) for q in queries])

        variants = {"dense": dense, "bm25": bm}
        for a in (0.2, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6):
            variants[f"minmax a={a}"] = a * mm(dense) + (1 - a) * mm(bm)
            variants[f"zscore a={a}"] = a * z(dense) + (1 - a) * z(bm)
        rd = np.argsort(np.argsort(-dense, axis=1), axis=1) + 1
        rb = np.argsort(np.argsort(-bm, axis=1), axis=1) + 1
        variants["rrf k=60"] = 1 / (60 + rd) + 1 / (60 + rb)
        for name, fused in variants.items():
            replay(f"title={title} {name}", fused, rel, half, report)
    save_best(report, args.out / "fusion.json")


if __name__ == "__main__":
    main()
