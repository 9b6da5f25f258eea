"""The three reply levels ("answer", "closest", "none"): the calibration of the question-level probability and the
two thresholds, chosen on held-out views so that few answerable questions are refused or downgraded."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .dataset import WITHHELD
from .views import QuestionView

__all__ = ["MAX_DOWNGRADED", "MAX_REFUSED", "Levels", "choose_levels", "fold_levels", "levels_held_out"]

MAX_REFUSED = 0.05  # share of answerable questions a level may refuse outright ("not in the releases")
MAX_DOWNGRADED = 0.10  # share of answerable questions a level may show as "closest passage" only


def _isotonic(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(x, y.astype(float))
    return np.asarray(iso.X_thresholds_, dtype=np.float64), np.asarray(iso.y_thresholds_, dtype=np.float64)


def choose_levels(qs: Sequence[QuestionView]) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Calibration knots and the (answer, closest) thresholds: flag the most unanswerable questions while refusing at
    most MAX_REFUSED and downgrading at most MAX_DOWNGRADED of the answerable ones (each set weighs the same).

    The thresholds are set on the question-level model's own output, not on the calibrated probability: isotonic
    calibration is a step function, and a threshold on one of its plateaus would answer every question on it."""
    top = np.array([q.top for q in qs])
    right = np.array([q.sentence_right for q in qs])
    cx, cy = _isotonic(top, right)
    answerable = np.array([q.answerable for q in qs])
    sets = sorted({q.set for q in qs if q.answerable})
    per_set = {name: np.array([q.set == name and q.answerable for q in qs]) for name in sets}
    grid = np.unique(top)  # thresholds at observed values: a level starts exactly where a question sits
    # the written unanswerable questions and the withheld ones weigh half each: both kinds are what a user meets
    withheld = np.array([q.set.endswith(WITHHELD) for q in qs])[~answerable]
    halves = max(int(withheld.sum()), 1), max(int((~withheld).sum()), 1)
    unanswerable_weight = np.where(withheld, 1.0 / halves[0], 1.0 / halves[1])
    best: tuple[float, float, float] | None = None
    for closest_at in grid:
        refused = max(float((top[m] < closest_at).mean()) for m in per_set.values())
        if refused > MAX_REFUSED:
            break
        for answer_at in grid[grid >= closest_at]:
            downgraded = max(float(((top[m] >= closest_at) & (top[m] < answer_at)).mean()) for m in per_set.values())
            if downgraded > MAX_DOWNGRADED:
                break
            flagged = float(np.average(top[~answerable] < answer_at, weights=unanswerable_weight)) if (~answerable).any() else 0.0
            key = (flagged, -answer_at, -closest_at)
            if best is None or key > (best[0], -best[1], -best[2]):
                best = (flagged, float(answer_at), float(closest_at))
    _, answer_at, closest_at = best if best else (0.0, 0.0, 0.0)
    return cx, cy, answer_at, closest_at


Levels = tuple[np.ndarray, np.ndarray, float, float]  # calibration knots x, y; answer_at; closest_at


def fold_levels(qs: Sequence[QuestionView]) -> dict[int, Levels]:
    """Each fold's calibration and thresholds, chosen on the other folds."""
    return {f: choose_levels([q for q in qs if q.fold not in (f, -1)]) for f in sorted({q.fold for q in qs if q.fold >= 0})}


def levels_held_out(qs: Sequence[QuestionView], per_fold: dict[int, Levels]) -> list[str]:
    """Each question's level, with thresholds chosen on the other folds."""
    out = []
    for q in qs:
        if q.fold < 0:
            out.append("none")
            continue
        _, _, answer_at, closest_at = per_fold[q.fold]
        out.append("answer" if q.top >= answer_at else "closest" if q.top >= closest_at else "none")
    return out
