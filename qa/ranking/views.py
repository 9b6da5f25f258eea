"""What a user sees for each question of a held-out run, and per set: the answer sentence, the release and the
passages shown first, from the candidates' scores."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .dataset import Table

__all__ = ["QuestionView", "summarise", "views"]


@dataclass
class QuestionView:
    """What a user sees for one question, from candidate scores."""

    set: str
    id: str
    kind: str
    answerable: bool
    fold: int
    top: float  # the best candidate's score; once the question-level model has read it, that model's output
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
