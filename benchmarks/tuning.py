"""Shared by the fusion-tuning scripts: replay a fused score matrix on a tuning half, report the other half."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from qa.evaluation import metrics_at


def minmax(x: np.ndarray) -> np.ndarray:
    """Per-query (row) min-max normalisation, as the retriever does."""
    lo, hi = x.min(axis=1, keepdims=True), x.max(axis=1, keepdims=True)
    return (x - lo) / np.where(hi > lo, hi - lo, 1)


def score(fused: np.ndarray, relevant: np.ndarray, rows: slice) -> dict[str, float]:
    top = np.argsort(-fused[rows], axis=1, kind="stable")[:, :10]
    return metrics_at([list(relevant[rows][i, top[i]]) for i in range(top.shape[0])], (1, 5, 10))


def replay(name: str, fused: np.ndarray, relevant: np.ndarray, half: int, report: dict) -> None:
    """Score one fusion variant on the tuning half and the held-out half; record and print it."""
    tune, held = score(fused, relevant, slice(0, half)), score(fused, relevant, slice(half, None))
    report[name] = {"tune_mrr": tune["mrr@10"], "test_mrr": held["mrr@10"], "test_hit@1": held["hit@1"]}
    print(
        f"{name:44} tune MRR@10 {tune['mrr@10']:.4f}  held-out MRR@10 {held['mrr@10']:.4f} hit@1 {held['hit@1']:.4f}", flush=True
    )


def save_best(report: dict, path: Path) -> None:
    """The variant best on the tuning half, with its held-out score, and every variant, as JSON."""
    variants = {k: v for k, v in report.items() if isinstance(v, dict)}
    best = max(variants, key=lambda k: variants[k]["tune_mrr"])
    print(f"\nbest on the tuning half: {best}: held-out MRR@10 {variants[best]['test_mrr']:.4f}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"best": best, "variants": report}, indent=1))
