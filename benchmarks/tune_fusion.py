"""Choose the fusion method and weight by evaluation, not by taste.

    python benchmarks/tune_fusion.py ../shared/eval/squad-dev-v1.1-part-a.json [--title both]

Scores every SQuAD question once with each retriever over the same chunks, then
replays fusion variants offline (min-max convex at several weights, z-score
convex, reciprocal rank) on a tuning half of the questions and reports both
halves, for chunks embedded with and without the release title.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa.answer import QA  # noqa: E402
from qa.chunking import ChunkConfig  # noqa: E402
from qa.evaluation import CACHE, load_squad, metrics_at  # noqa: E402
from qa.store import build_index, load_index  # noqa: E402


def mm(x: np.ndarray) -> np.ndarray:
    lo, hi = x.min(axis=1, keepdims=True), x.max(axis=1, keepdims=True)
    return (x - lo) / np.where(hi > lo, hi - lo, 1)


def z(x: np.ndarray) -> np.ndarray:
    return (x - x.mean(axis=1, keepdims=True)) / (x.std(axis=1, keepdims=True) + 1e-9)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("squad", type=Path)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--out", type=Path, default=Path("eval/results/fusion"))
    args = ap.parse_args()
    corpus, queries = load_squad(args.squad, args.limit)
    random.Random(0).shuffle(queries)
    half = len(queries) // 2
    report: dict = {}
    for title in (True, False):
        cfg = ChunkConfig(title_in_embedding=title)
        folder = CACHE / f"squad-tune-title{int(title)}"
        session = QA(corpus, folder)
        build_index(corpus, folder, session.encoder, cfg=cfg)
        index = load_index(folder)
        session._retriever = None
        from qa.retrieval import Retriever
        r = Retriever(index, session.encoder)
        n = len(index.chunks)
        vecs = index.vectors.reconstruct_n(0, n)
        sources = np.array([c.source for c in index.chunks])
        qv = session.encoder.encode([q.question for q in queries], progress=True)
        dense = qv @ vecs.T
        bm = np.stack([r.bm25_scores(q.question) for q in queries])
        rel = np.stack([sources == next(iter(q.relevant)) for q in queries])

        def score(fused: np.ndarray, rows: slice) -> dict:
            top = np.argsort(-fused[rows], axis=1, kind="stable")[:, :10]
            ranks = [list(rel[rows][i, top[i]]) for i in range(top.shape[0])]
            return metrics_at(ranks, (1, 5, 10))

        variants = {"dense": dense, "bm25": bm}
        for a in (0.2, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6):
            variants[f"minmax a={a}"] = a * mm(dense) + (1 - a) * mm(bm)
            variants[f"zscore a={a}"] = a * z(dense) + (1 - a) * z(bm)
        rd = np.argsort(np.argsort(-dense, axis=1), axis=1) + 1
        rb = np.argsort(np.argsort(-bm, axis=1), axis=1) + 1
        variants["rrf k=60"] = 1 / (60 + rd) + 1 / (60 + rb)
        for name, fused in variants.items():
            tune, test = score(fused, slice(0, half)), score(fused, slice(half, None))
            report[f"title={title} {name}"] = {"tune_mrr": tune["mrr@10"], "test_mrr": test["mrr@10"], "test_hit@1": test["hit@1"]}
            print(f"title={title!s:5} {name:16} tune MRR@10 {tune['mrr@10']:.4f}  held-out MRR@10 {test['mrr@10']:.4f} hit@1 {test['hit@1']:.4f}", flush=True)
    best = max(report, key=lambda k: report[k]["tune_mrr"])
    print(f"\nbest on the tuning half: {best}: held-out MRR@10 {report[best]['test_mrr']:.4f}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fusion.json").write_text(json.dumps({"best": best, "variants": report}, indent=1))


if __name__ == "__main__":
    main()
