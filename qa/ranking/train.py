"""Train the answer-sentence ranker by grouped k-fold and report held-out folds only.

Every question's candidates are scored by a model that never saw its group (release, SQuAD article, paraphrase
fact). From those out-of-fold scores come the held-out figures, the question-level model's output, its isotonic
calibration, and the thresholds of the three levels on that output -- each fold's thresholds chosen on the other
folds, so the levels' figures are held out too. The shipped model is then fitted on everything.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from .confidence import UNANSWERABLE_WEIGHT, confidence_model, question_features
from .dataset import WITHHELD, Table
from .features import FEATURES
from .levels import Levels, choose_levels, fold_levels, levels_held_out
from .model import SentenceRanker, fold_of_group, predict
from .views import QuestionView, summarise, views

__all__ = [
    "MODELS",
    "Fold",
    "HeldOut",
    "Trained",
    "averaged",
    "fit_ranker",
    "held_out",
    "make_model",
    "partition_salt",
    "run_held_out",
]

FOLDS = 5
SQUAD_QUESTIONS_WORTH = 180  # all SQuAD questions together weigh as much as 180 release questions: it must not drown them


def _hgb(seed: int = 0) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        max_iter=250, learning_rate=0.06, max_leaf_nodes=31, min_samples_leaf=40, l2_regularization=1.0, random_state=seed
    )


def _logistic(seed: int = 0) -> Any:  # deterministic: the seed changes nothing
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True), StandardScaler(), LogisticRegression(C=1.0, max_iter=2000)
    )


def _lambdarank(seed: int = 0) -> Any:
    from lightgbm import LGBMRanker

    return LGBMRanker(
        objective="lambdarank",
        n_estimators=300,
        learning_rate=0.05,
        num_leaves=15,
        min_child_samples=40,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.8,
        reg_lambda=1.0,
        lambdarank_truncation_level=10,
        n_jobs=1,
        random_state=seed,
        verbose=-1,
    )


MODELS: dict[str, Callable[[int], Any]] = {"lambdarank": _lambdarank, "hgb": _hgb, "logistic": _logistic}


def make_model(name: str, seed: int = 0) -> Any:
    return MODELS[name](seed)


@dataclass
class Fold:
    """All sets stacked: one row per candidate."""

    features: np.ndarray
    label: np.ndarray
    groups: np.ndarray  # group id per candidate
    weight: np.ndarray
    question: np.ndarray  # question id per candidate, unique across sets; a question's candidates are contiguous
    ranked: np.ndarray  # rows the ranker learns from: not a withheld set's (those have no right sentence by design)


def stack(tables: Sequence[Table]) -> Fold:
    feats, labels, groups, weights, questions, ranked = [], [], [], [], [], []
    offset = 0
    for t in tables:
        questions.append(t.question + offset)
        offset += len(t.items)
        feats.append(t.features)
        labels.append(t.sentence_right)
        names = np.array([it.group for it in t.items], dtype=object)
        groups.append(names[t.question])
        weights.append(np.full(len(t.question), squad_weight(len(t.items)) if t.name == "squad" else 1.0, dtype=np.float32))
        ranked.append(np.full(len(t.question), not t.name.endswith(WITHHELD)))
    return Fold(
        np.concatenate(feats),
        np.concatenate(labels),
        np.concatenate(groups),
        np.concatenate(weights),
        np.concatenate(questions),
        np.concatenate(ranked),
    )


def _folds(groups: np.ndarray, k: int = FOLDS, salt: str = "") -> np.ndarray:
    """Fold number per row: whole groups, shuffled by a fixed hash of their name (and the partition's salt)."""
    fold_of = {g: fold_of_group(g, k, salt) for g in set(groups.tolist())}
    return np.array([fold_of[g] for g in groups.tolist()], dtype=np.int64)


def held_out(
    tables: Sequence[Table], model: str = "lambdarank", columns: Sequence[str] = FEATURES, salt: str = "", seed: int = 0
) -> tuple[np.ndarray, np.ndarray, list[Any]]:
    """Out-of-fold scores of every candidate of every table, each candidate's fold, and the fold models."""
    data = stack(tables)
    cols = np.array([FEATURES.index(c) for c in columns])
    fold = _folds(data.groups, salt=salt)
    scores = np.zeros(len(data.label), dtype=np.float32)
    estimators = []
    for f in range(FOLDS):
        train, test = (fold != f) & data.ranked, fold == f
        estimator = make_model(model, seed)
        _fit(estimator, data.features[train][:, cols], data.label[train], data.weight[train], data.question[train])
        scores[test] = predict(estimator, data.features[test][:, cols])
        estimators.append(estimator)
    return scores, fold, estimators


def _fit(estimator: Any, x: np.ndarray, y: np.ndarray, w: np.ndarray, question: np.ndarray) -> None:
    with threadpool_limits(limits=1, user_api="openmp"):  # on a shared machine OpenMP threads wait on each other
        if type(estimator).__name__ == "LGBMRanker":  # listwise: one group per question, weighted per question
            starts = np.flatnonzero(np.r_[True, question[1:] != question[:-1]])
            sizes = np.diff(np.r_[starts, len(question)])
            estimator.fit(x, y.astype(np.int64), group=sizes, sample_weight=w)
        elif type(estimator).__name__ == "Pipeline":
            estimator.fit(x, y, logisticregression__sample_weight=w)
        else:
            estimator.fit(x, y, sample_weight=w)


@dataclass
class HeldOut:
    """One grouped k-fold run: the fold models and the held-out figures they give."""

    estimators: list[Any]  # fold f's ranker, trained without fold f's groups
    confidence: Any  # the question-level model fitted on every fold
    fold_confidence: list[Any]  # fold f's question-level model
    fold_levels: dict[int, Levels]  # fold f's calibration and thresholds, chosen on the other folds
    views: list[QuestionView]
    levels: list[str]


def run_held_out(
    tables: Sequence[Table], model: str = "lambdarank", columns: Sequence[str] = FEATURES, salt: str = "", seed: int = 0
) -> HeldOut:
    """Every question answered by the models that never saw its group, with its level as those models set it."""
    scores, fold, estimators = held_out(tables, model, columns, salt, seed)
    confidence, fold_confidence, qs = _confidence(tables, scores, views(tables, scores, fold))
    per_fold = fold_levels(qs)
    return HeldOut(estimators, confidence, fold_confidence, per_fold, qs, levels_held_out(qs, per_fold))


@dataclass
class Trained:
    """What training yields: the shipped model, the fold models and the held-out figures they give."""

    ranker: SentenceRanker  # fitted on every fold, calibrated on held-out scores: the shipped model
    folds: list[SentenceRanker]  # fold f's model never saw a group of fold f (``qa eval all --held-out`` answers with it)
    views: list[QuestionView]
    levels: list[str]


def fit_ranker(tables: Sequence[Table], model: str = "lambdarank", columns: Sequence[str] = FEATURES) -> Trained:
    """Held-out views and levels, then the final model fitted on every table with calibration from the held-out scores."""
    run = run_held_out(tables, model, columns)
    cx, cy, answer_at, closest_at = choose_levels([q for q in run.views if q.fold >= 0])
    data = stack(tables)
    cols = np.array([FEATURES.index(c) for c in columns])
    estimator = make_model(model)
    r = data.ranked
    _fit(estimator, data.features[r][:, cols], data.label[r], data.weight[r], data.question[r])
    ranker = SentenceRanker(list(columns), estimator, cx, cy, answer_at, closest_at, confidence=run.confidence)
    folds = [
        SentenceRanker(list(columns), run.estimators[f], *run.fold_levels[f], confidence=run.fold_confidence[f])
        for f in sorted(run.fold_levels)
    ]
    return Trained(ranker, folds, run.views, run.levels)


def partition_salt(i: int) -> str:
    """The salt of fold partition ``i``: none for the first (the shipped folds), then "a", "b", …"""
    return "" if i == 0 else chr(ord("a") + i - 1)


def averaged(
    tables: Sequence[Table], model: str, columns: Sequence[str], partitions: int, seeds: int
) -> dict[str, dict[str, float]]:
    """Held-out figures averaged over ``partitions`` fold partitions × ``seeds`` model seeds: one partition and one
    seed move a set of 40 questions by a question or two, so a change is judged on the average."""
    runs: dict[str, dict[str, list[float]]] = {}
    for salt, seed in itertools.product(map(partition_salt, range(partitions)), range(seeds)):
        run = run_held_out(tables, model, columns, salt, seed)
        for name, figures in summarise(run.views, run.levels).items():
            for key, value in figures.items():
                runs.setdefault(name, {}).setdefault(key, []).append(value)
    return {name: {key: float(np.mean(values)) for key, values in figures.items()} for name, figures in runs.items()}


def _confidence(tables: Sequence[Table], scores: np.ndarray, qs: list[QuestionView]) -> tuple[Any, list[Any], list[QuestionView]]:
    """The question-level model fitted on every fold, the fold models, and each question's view with its held-out
    probability as ``top`` (the model trained on the other folds reads the held-out ranker scores)."""
    rows: list[np.ndarray] = []
    offset = 0
    for t in tables:
        s = scores[offset : offset + len(t.question)]
        offset += len(t.question)
        starts = np.searchsorted(t.question, np.arange(len(t.items) + 1))
        rows.extend(question_features(s[a:b], t.features[a:b]) for a, b in itertools.pairwise(starts))
    x = np.array(rows)
    y = np.array([q.answerable and q.sentence_right for q in qs])
    squad = sum(q.set == "squad" for q in qs)
    w = np.array([_confidence_weight(q, squad) for q in qs])
    fold = np.array([q.fold for q in qs])
    top = np.array([q.top for q in qs])
    models = []
    for f in range(FOLDS):
        train, test = (fold != f) & (fold >= 0), fold == f
        models.append(confidence_model().fit(x[train], y[train], logisticregression__sample_weight=w[train]))
        top[test] = predict(models[-1], x[test])
    final = confidence_model().fit(x[fold >= 0], y[fold >= 0], logisticregression__sample_weight=w[fold >= 0])
    return final, models, [replace(q, top=float(p)) for q, p in zip(qs, top, strict=True)]


def squad_weight(questions: int) -> float:
    """The weight of one of ``questions`` SQuAD questions."""
    return min(1.0, SQUAD_QUESTIONS_WORTH / max(questions, 1))


def _confidence_weight(q: QuestionView, squad: int) -> float:
    """Few unanswerable questions were written: each weighs more; a withheld one (many, made here) weighs one."""
    if q.set.endswith(WITHHELD):
        return 1.0
    return UNANSWERABLE_WEIGHT if not q.answerable else squad_weight(squad) if q.set == "squad" else 1.0
