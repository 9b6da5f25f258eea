"""Train the answer-sentence ranker by grouped k-fold and report held-out folds only.

Every question's candidates are scored by a model that never saw its group (release, SQuAD article, paraphrase
fact). From those out-of-fold scores come the held-out figures, the isotonic calibration of the best candidate's
score, and the thresholds of the three levels -- each fold's thresholds chosen on the other folds, so the levels'
figures are held out too. The shipped model is then fitted on everything.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from .confidence import UNANSWERABLE_WEIGHT, confidence_model, question_features
from .dataset import WITHHELD, Table
from .features import FEATURES
from .model import SentenceRanker, fold_of_group, predict

__all__ = [
    "MODELS",
    "Fold",
    "HeldOut",
    "QuestionView",
    "Trained",
    "averaged",
    "choose_levels",
    "fit_ranker",
    "held_out",
    "make_model",
    "partition_salt",
    "run_held_out",
    "views",
]

FOLDS = 5
MAX_REFUSED = 0.05  # share of answerable questions a level may refuse outright ("not in the releases")
MAX_DOWNGRADED = 0.10  # share of answerable questions a level may show as "closest passage" only
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
class QuestionView:
    """What a user sees for one question, from candidate scores."""

    set: str
    id: str
    kind: str
    answerable: bool
    fold: int
    top: float  # the best candidate's score
    sentence_right: bool
    release_right: bool
    passage_hit1: bool
    passage_rr: float  # reciprocal rank of the first right passage among the passages shown (one per release first)
    retrieval_hit1: bool  # retrieval's own first passage (before the ranker)


def _passages_shown(order: np.ndarray, rows: np.ndarray, release: np.ndarray) -> list[int]:
    """Candidate indices of the passages shown, best first: each release's best passage, releases by their best."""
    seen_release: set[int] = set()
    seen_row: set[int] = set()
    shown = []
    for i in order:
        if int(release[i]) in seen_release or int(rows[i]) in seen_row:
            continue
        seen_release.add(int(release[i]))
        seen_row.add(int(rows[i]))
        shown.append(int(i))
    return shown


def views(tables: Sequence[Table], scores: np.ndarray, fold: np.ndarray) -> list[QuestionView]:
    out: list[QuestionView] = []
    offset = 0
    for t in tables:
        n = len(t.question)
        s, f = scores[offset : offset + n], fold[offset : offset + n]
        offset += n
        starts = np.searchsorted(t.question, np.arange(len(t.items) + 1))
        for i, item in enumerate(t.items):
            a, b = int(starts[i]), int(starts[i + 1])
            if a == b:
                out.append(QuestionView(t.name, item.id, item.kind, item.answerable, -1, 0.0, False, False, False, 0.0, False))
                continue
            order = a + np.argsort(-s[a:b], kind="stable")
            shown = _passages_shown(order, t.chunk_row, t.release_rank)
            rr = next((1 / (r + 1) for r, j in enumerate(shown[:10]) if t.passage_right[j]), 0.0)
            first = a + int(np.argmin(np.where(t.passage_rank[a:b] > 0, t.passage_rank[a:b], 10**6)))
            top = int(order[0])
            out.append(
                QuestionView(
                    t.name,
                    item.id,
                    item.kind,
                    item.answerable,
                    int(f[a]),
                    float(s[top]),
                    bool(t.sentence_right[top]),
                    bool(t.release_right[top]),
                    bool(t.passage_right[shown[0]]),
                    rr,
                    bool(t.passage_right[first]),
                )
            )
    return out


def _isotonic(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(x, y.astype(float))
    return np.asarray(iso.X_thresholds_, dtype=np.float64), np.asarray(iso.y_thresholds_, dtype=np.float64)


def choose_levels(qs: Sequence[QuestionView]) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Calibration knots and the (answer, closest) thresholds: flag the most unanswerable questions while refusing at
    most MAX_REFUSED and downgrading at most MAX_DOWNGRADED of the answerable ones (each set weighs the same)."""
    x = np.array([q.top for q in qs])
    right = np.array([q.sentence_right for q in qs])
    cx, cy = _isotonic(x, right)
    p = np.interp(x, cx, cy)
    answerable = np.array([q.answerable for q in qs])
    sets = sorted({q.set for q in qs if q.answerable})
    per_set = {name: np.array([q.set == name and q.answerable for q in qs]) for name in sets}
    grid = np.unique(p)  # thresholds at observed values: a level starts exactly where a question sits
    # the written unanswerable questions and the withheld ones weigh half each: both kinds are what a user meets
    withheld = np.array([q.set.endswith(WITHHELD) for q in qs])[~answerable]
    halves = max(int(withheld.sum()), 1), max(int((~withheld).sum()), 1)
    unanswerable_weight = np.where(withheld, 1.0 / halves[0], 1.0 / halves[1])
    best: tuple[float, float, float] | None = None
    for closest_at in grid:
        refused = max(float((p[m] < closest_at).mean()) for m in per_set.values())
        if refused > MAX_REFUSED:
            break
        for answer_at in grid[grid >= closest_at]:
            downgraded = max(float(((p[m] >= closest_at) & (p[m] < answer_at)).mean()) for m in per_set.values())
            if downgraded > MAX_DOWNGRADED:
                break
            flagged = float(np.average(p[~answerable] < answer_at, weights=unanswerable_weight)) if (~answerable).any() else 0.0
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
    """Each question's level, with calibration and thresholds chosen on the other folds."""
    out = []
    for q in qs:
        if q.fold < 0:
            out.append("none")
            continue
        cx, cy, answer_at, closest_at = per_fold[q.fold]
        p = float(np.interp(q.top, cx, cy))
        out.append("answer" if p >= answer_at else "closest" if p >= closest_at else "none")
    return out


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


def summarise(qs: Sequence[QuestionView], levels: Sequence[str]) -> dict[str, dict[str, float]]:
    """Per set: the held-out figures a user sees."""
    out: dict[str, dict[str, float]] = {}
    for name in dict.fromkeys(q.set for q in qs):
        idx = [i for i, q in enumerate(qs) if q.set == name]
        ans = [i for i in idx if qs[i].answerable]
        una = [i for i in idx if not qs[i].answerable]
        fol = [i for i in ans if qs[i].kind == "followup"]
        m: dict[str, float] = {"questions": len(idx), "answerable": len(ans), "unanswerable": len(una)}
        if ans:
            m["sentence_right"] = _mean(qs[i].sentence_right for i in ans)
            m["release_first"] = _mean(qs[i].release_right for i in ans)
            m["passage_hit@1"] = _mean(qs[i].passage_hit1 for i in ans)
            m["passage_mrr@10"] = _mean(qs[i].passage_rr for i in ans)
            m["retrieval_hit@1"] = _mean(qs[i].retrieval_hit1 for i in ans)
            m["answerable_closest"] = _mean(levels[i] == "closest" for i in ans)
            m["answerable_none"] = _mean(levels[i] == "none" for i in ans)
            m["answered_right"] = _mean(levels[i] == "answer" and qs[i].sentence_right for i in ans)
        if una:
            m["unanswerable_closest"] = _mean(levels[i] == "closest" for i in una)
            m["unanswerable_none"] = _mean(levels[i] == "none" for i in una)
        if fol:
            m["followups_right"] = _mean(qs[i].sentence_right for i in fol)
            m["followups"] = len(fol)
        out[name] = m
    return out


def _mean(values: Any) -> float:
    v = list(values)
    return float(sum(bool(x) if not isinstance(x, float) else x for x in v) / len(v)) if v else math.nan
