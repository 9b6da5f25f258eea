"""Whether a question is answerable from its candidates: a small question-level model over the ranker's scores.

The ranker orders a question's sentences; how far ahead its best one is, how much of the question the best
passage and release hold, whether the kind of thing asked for (a date, a number, a name) is in the best
sentence, and whether any sentence of its release holds the thing asked about next to such a thing say whether
the archive answers the question at all. A follow-up says less in its own words than a question asked alone, so the
model is told which questions are follow-ups. A logistic regression over those few
question-level facts, trained by the same grouped folds (its negatives: the questions whose best sentence does
not answer, the unanswerable ones among them weighing more), gives the probability the levels are set from.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .features import FEATURES
from .kinds import KINDS

__all__ = ["QUESTION_FEATURES", "UNANSWERABLE_WEIGHT", "confidence_model", "question_features"]

QUESTION_FEATURES = (
    "top",  # the ranker's score of the best candidate
    "margin",  # best minus second best
    "share",  # the best candidate's softmax share among the question's candidates
    "s_cover",  # the best sentence's IDF-weighted share of the question's words
    "p_cover",  # ... of its passage
    "r_cover",  # the best passage share of the best sentence's release
    "q_in_title",
    "s_dense",
    "p_dense",
    "kind_missing",  # the question asks for a date / number / name ... and the best sentence holds none
    "release_gap",  # how far the second release's retrieval score is behind the first
    "r_miss",  # the rarest question word the best sentence's release lacks (its IDF over the rarest word's)
    # over the best sentence's release, the most any of its sentences holds of:
    "focus_in_release",  # the thing asked about ("how many *reports*")
    "focus_near_release",  # ... next to a thing of the asked kind ("1,700 prosecutions")
    "kind_found_release",  # a thing of the asked kind
    "kind_new_release",  # ... that the question does not already name
    "followup",  # asked after others: its own few words match less, and its release was chosen before it
)
UNANSWERABLE_WEIGHT = 4.0  # few unanswerable questions exist to learn from: each weighs as much as four others


def _col(features: np.ndarray, name: str) -> np.ndarray:
    return features[:, FEATURES.index(name)].astype(np.float64)


def _most(values: np.ndarray) -> float:
    """The largest value, NaN when there is none (a question with no focus)."""
    return float(np.nanmax(values)) if np.isfinite(values).any() else float("nan")


def question_features(scores: np.ndarray, features: np.ndarray) -> np.ndarray:
    """One question's row of QUESTION_FEATURES from its candidates' scores and feature rows."""
    if len(scores) == 0:
        return np.full(len(QUESTION_FEATURES), np.nan)
    order = np.argsort(-scores, kind="stable")
    best = int(order[0])
    second = float(scores[order[1]]) if len(order) > 1 else float(scores[best]) - 1.0
    shifted = np.exp(scores.astype(np.float64) - float(scores[best]))
    release = _col(features, "release_rank")
    same = release == release[best]
    kind_asked, kind_found = _col(features, "kind_asked")[best], _col(features, "kind_found")[best]
    gaps = _col(features, "release_gap")
    other = gaps[release != release[best]]
    row = {
        "top": float(scores[best]),
        "margin": float(scores[best]) - second,
        "share": float(1.0 / shifted.sum()),
        "s_cover": _col(features, "s_cover")[best],
        "p_cover": _col(features, "p_cover")[best],
        "r_cover": float(np.nanmax(_col(features, "p_cover")[same])),
        "q_in_title": _col(features, "q_in_title")[best],
        "s_dense": _col(features, "s_dense")[best],
        "p_dense": _col(features, "p_dense")[best],
        "kind_missing": float(kind_asked != KINDS.index("other") and kind_found == 0),
        "release_gap": float(other.max()) if len(other) else -1.0,
        "r_miss": _col(features, "r_miss")[best],
        "followup": _col(features, "followup")[best],
        **{f"{name}_release": _most(_col(features, name)[same]) for name in ("focus_in", "focus_near", "kind_found", "kind_new")},
    }
    return np.array([row[name] for name in QUESTION_FEATURES], dtype=np.float64)


def confidence_model() -> Any:
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), LogisticRegression(C=0.5, max_iter=2000))
