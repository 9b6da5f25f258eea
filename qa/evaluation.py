"""Stage 7: evaluation -- is the right passage first, and against what a user would use instead?

Each evaluator is a callable returning a dict of metrics with one primary
metric (the sentence-transformers convention). Every run scores, in the same
process and on the same chunks, the peers a user might pick instead of this
project: BM25 alone (bm25s), dense alone (plain sentence-transformers + FAISS
flat), reciprocal-rank fusion of the two, and this project's full pipeline
through the same ``QA.ask`` the chat and the CLI use. The question sets and
their corpora are read by :mod:`qa.eval_data` (re-exported here for the CLI).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .answering.abstain import AbstainPolicy
from .errors import QAError
from .eval_data import EvalQuery
from .peers import Peers
from .session import QA

__all__ = [
    "METHODS",
    "GoldQAEvaluator",
    "RetrievalEvaluator",
    "calibrate",
    "metrics_at",
    "percentiles",
    "style_metrics",
    "summary_table",
]

METHODS = {  # method id -> how reports name it
    "bm25": "bm25 (bm25s)",
    "dense": "dense (same model + FAISS flat)",
    "rrf": "rrf hybrid (bm25s + dense)",
    "txtai": "txtai hybrid (same model)",
    "release-qa": "release-qa (hybrid + follow-ups)",
}


# ------------------------------------------------------------------ metrics


def _norm(text: str) -> str:
    """The shared sets' gold rule: lower case, alphanumeric runs joined by single spaces."""
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def metrics_at(
    rankings: Sequence[Sequence[bool]],
    ks: Sequence[int] = (1, 3, 5, 10),
    gains: Sequence[Sequence[float]] | None = None,
    n_relevant: Sequence[int] | None = None,
) -> dict[str, float]:
    """hit@k, MRR@10 and nDCG@10 from per-query relevance lists (rank order)."""
    n = len(rankings)
    if n == 0:
        return {}
    out: dict[str, float] = {}
    for k in ks:
        out[f"hit@{k}"] = sum(any(r[:k]) for r in rankings) / n
    out["mrr@10"] = sum(next((1 / (i + 1) for i, rel in enumerate(r[:10]) if rel), 0.0) for r in rankings) / n
    ndcg = 0.0
    for qi, r in enumerate(rankings):
        g = gains[qi] if gains else [1.0 if rel else 0.0 for rel in r]
        dcg = sum(gi / math.log2(i + 2) for i, gi in enumerate(g[:10]))
        ideal_n = n_relevant[qi] if n_relevant else sum(1 for x in r if x)
        ideal = sorted(g, reverse=True)[:10] if gains else [1.0] * min(10, max(ideal_n, 1 if any(r) else 0))
        idcg = sum(gi / math.log2(i + 2) for i, gi in enumerate(ideal))
        ndcg += dcg / idcg if idcg > 0 else 0.0
    out["ndcg@10"] = ndcg / n
    return out


def percentiles(ms: Sequence[float]) -> dict[str, float]:
    if not ms:
        return {"p50_ms": 0.0, "p95_ms": 0.0}
    return {"p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95))}


# ------------------------------------------------------------------ evaluators


Judge = Callable[[EvalQuery, Any], bool]  # (query, chunk) -> relevant?


def _judge(query: EvalQuery, chunk: Any) -> bool:
    if query.relevant:
        return chunk.source in query.relevant
    text = _norm(chunk.text)
    return any(_norm(g) in text for g in query.gold)


Ranker = Callable[[EvalQuery], tuple[list[int], Any]]  # query -> (chunk rows, Answer or None)


@dataclass
class EvalRun:
    """One evaluation's details beside its flat metrics: per-method metrics and the full pipeline's misses."""

    dataset: str
    queries: int
    chunks: int
    methods: dict[str, dict[str, float]] = field(default_factory=dict)  # method id -> metrics
    misses: list[dict[str, Any]] = field(default_factory=list)


class RetrievalEvaluator:
    """Ranks every query with each method (the peers, then release-qa through ``QA.ask``).

    Calling it returns flat metrics, ``"<method>_<metric>"`` (sentence-transformers style), with
    :attr:`primary_metric` among them; the details of the last call are in :attr:`run`.
    """

    def __init__(
        self,
        queries: list[EvalQuery],
        name: str = "eval",
        k: int = 10,
        peers: bool = True,
        ks: Sequence[int] = (1, 3, 5, 10),
        txtai: bool = False,
    ) -> None:
        self.queries = queries
        self.name = name
        self.k = k
        self.peers = peers
        self.txtai = txtai
        self.ks = ks
        self.primary_metric = "release-qa_mrr@10"
        self.run: EvalRun | None = None

    def _rankers(self, session: QA, row_of: dict[tuple[str, int, int], int]) -> dict[str, Ranker]:
        rankers: dict[str, Ranker] = {}
        if self.peers:
            peers = Peers(session, self.txtai)
            rankers["bm25"] = lambda q: (peers.bm25_rows(q.question, self.k), None)
            rankers["dense"] = lambda q: (peers.dense_rows(q.question, self.k), None)
            rankers["rrf"] = lambda q: (peers.rrf_rows(q.question, self.k), None)
            if self.txtai:
                rankers["txtai"] = lambda q: (peers.txtai_rows(q.question, self.k), None)

        def full(q: EvalQuery) -> tuple[list[int], Any]:
            answer = session.ask(q.question, self.k, q.history)
            return [row_of[(p.source, p.paragraph, p.part)] for p in answer.passages], answer

        rankers["release-qa"] = full
        return rankers

    def _score(
        self, outcomes: list[tuple[list[int], Any, float]], chunks: list[Any]
    ) -> tuple[dict[str, float], list[list[bool]], list[list[int]], list[Any]]:
        """Metrics of one method from its (rows, answer, milliseconds) per query."""
        rankings, gains = [], []
        for q, (rows, _, _) in zip(self.queries, outcomes):
            rel = [_judge(q, chunks[r]) for r in rows]
            rankings.append(rel)
            gains.append([q.relevant.get(chunks[r].source, 0.0) if q.relevant else float(x) for r, x in zip(rows, rel)])
        answers = [a for _, a, _ in outcomes]
        answerable = [i for i, q in enumerate(self.queries) if q.answerable]
        m = metrics_at(
            [rankings[i] for i in answerable],
            self.ks,
            [gains[i] for i in answerable],
            [max(1, len(self.queries[i].relevant)) for i in answerable],
        )
        m.update(percentiles([ms for _, _, ms in outcomes]))
        m.update(style_metrics(self.queries, rankings))
        if answers and answers[0] is not None:
            stages = [a.timings for a in answers]
            m["retrieval_p50_ms"] = float(
                np.percentile([s["encode_ms"] + s["dense_ms"] + s["bm25_ms"] + s["fusion_ms"] for s in stages], 50)
            )
            m.update(_answer_metrics(self.queries, rankings, answers))
        return m, rankings, [rows for rows, _, _ in outcomes], answers

    def __call__(self, session: QA) -> dict[str, float]:
        chunks = list(session.ensure_index().chunks)
        row_of = {(c.source, c.paragraph, c.part): i for i, c in enumerate(chunks)}
        run = EvalRun(self.name, len(self.queries), len(chunks))
        rankers = self._rankers(session, row_of)
        outcomes: dict[str, list[tuple[list[int], Any, float]]] = {method: [] for method in rankers}
        for ranker in rankers.values():  # warm-up, not timed
            ranker(self.queries[0]) if self.queries else None
        for q in self.queries:  # methods take turns on each question: on a shared machine they see the same load
            for method, ranker in rankers.items():
                t = time.perf_counter()
                rows, answer = ranker(q)
                outcomes[method].append((rows, answer, (time.perf_counter() - t) * 1000))
        for method in rankers:
            run.methods[method], rankings, rows, answers = self._score(outcomes[method], chunks)
        run.misses = [
            {
                "id": q.id,
                "question": q.question,
                "history": q.history,
                "gold": q.gold or sorted(q.relevant),
                "got": chunks[r[0]].text[:160] if r else None,
                "no_answer": a.no_answer,
            }
            for q, rel, r, a in zip(self.queries, rankings, rows, answers)
            if (q.answerable and not (rel and rel[0])) or (q.answerable == a.no_answer)
        ][:200]
        self.run = run
        return {f"{method}_{name}": value for method, m in run.methods.items() for name, value in m.items()}


def style_metrics(queries: list[EvalQuery], rankings: list[list[bool]]) -> dict[str, float]:
    """For a paraphrase set: hit@1 per wording style, and how many facts are right in every wording."""
    by_style: dict[str, list[bool]] = {}
    by_fact: dict[str, list[bool]] = {}
    for q, r in zip(queries, rankings):
        if q.answerable and q.style:
            first = bool(r and r[0])
            by_style.setdefault(q.style, []).append(first)
            if q.fact:
                by_fact.setdefault(q.fact, []).append(first)
    out = {f"hit@1[{style}]": sum(v) / len(v) for style, v in sorted(by_style.items())}
    if by_fact:
        out["facts_all_right"] = float(sum(all(v) for v in by_fact.values()))
        out["facts"] = float(len(by_fact))
    return out


def _answer_metrics(queries: list[EvalQuery], rankings: list[list[bool]], answers: list[Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    unans = [i for i, q in enumerate(queries) if not q.answerable]
    ans = [i for i, q in enumerate(queries) if q.answerable]
    abstained = [i for i, a in enumerate(answers) if a.no_answer]
    if unans:
        out["abstain_recall"] = sum(1 for i in unans if answers[i].no_answer) / len(unans)
        out["abstain_precision"] = (sum(1 for i in abstained if not queries[i].answerable) / len(abstained)) if abstained else 0.0
        out["abstained"], out["unanswerable"] = float(sum(1 for i in unans if answers[i].no_answer)), float(len(unans))
    if ans:
        out["false_abstain"] = sum(1 for i in ans if answers[i].no_answer) / len(ans)
        out["refused"], out["answerable"] = float(sum(1 for i in ans if answers[i].no_answer)), float(len(ans))
    follow = [i for i in ans if queries[i].history]
    if follow:
        out["followup_hit@1"] = sum(1 for i in follow if rankings[i] and rankings[i][0]) / len(follow)
        out["followups_right"], out["followups"] = (
            float(sum(1 for i in follow if rankings[i] and rankings[i][0])),
            float(len(follow)),
        )
    return out


GoldQAEvaluator = RetrievalEvaluator  # gold substrings are judged by the same evaluator


def summary_table(rows: list[tuple[str, dict[str, dict[str, float]]]], names: dict[str, str]) -> str:
    """One table: each set's hit@1 / MRR@10 per method, then what only the full pipeline has (styles, abstention, latency)."""
    methods = [m for m in names if any(m in r for _, r in rows)]
    lines = [
        "| set | " + " | ".join(names[m] for m in methods) + " | release-qa details |",
        "|---|" + "---|" * (len(methods) + 1),
    ]
    for name, result in rows:
        cells = [f"{result[m]['hit@1']:.3f} / {result[m]['mrr@10']:.3f}" if m in result else "" for m in methods]
        ours = result.get("release-qa", {})
        notes = [f"{k[6:-1]} {v:.2f}" for k, v in ours.items() if k.startswith("hit@1[")]
        if "facts" in ours:
            notes.append(f"all phrasings right {ours['facts_all_right']:.0f}/{ours['facts']:.0f} facts")
        if "unanswerable" in ours:
            notes.append(f"abstained {ours['abstained']:.0f}/{ours['unanswerable']:.0f} unanswerable")
        if "answerable" in ours and "unanswerable" in ours:
            notes.append(f"refused {ours['refused']:.0f}/{ours['answerable']:.0f} answerable")
        if "followups" in ours:
            notes.append(f"follow-ups {ours['followups_right']:.0f}/{ours['followups']:.0f}")
        if "dense" in result and ours.get("p50_ms"):
            notes.append(f"p50 {ours['p50_ms']:.0f} ms = {ours['p50_ms'] / result['dense']['p50_ms']:.2f}x dense")
        lines.append(f"| {name} | " + " | ".join(cells) + " | " + "; ".join(notes) + " |")
    return "\n".join(lines) + "\n"


def calibrate(session: QA, queries: list[EvalQuery], max_false_abstain: float = 0.03) -> dict[str, Any]:
    """The abstention policy that abstains on the most unanswerable questions while wrongly abstaining on at most
    ``max_false_abstain`` of the answerable ones.

    Every question gets its confidence and its coverage check, then a grid over
    the four :class:`AbstainPolicy` values is scored at once. Ties go to the
    policy that abstains least and checks fewest questions (lowest values), so
    nothing is tuned beyond what the split shows.
    """
    conf, cov, worst, answerable = [], [], [], []
    check_all = AbstainPolicy(-math.inf, math.inf, 0.0, 0.0)  # every question gets the coverage check
    for q in queries:
        a = session.ask(q.question, 5, q.history, policy=check_all)
        conf.append(a.confidence)
        cov.append(1.0 if a.coverage is None else a.coverage)
        worst.append(min((share for _, share in a.coverage_words), default=1.0))
        answerable.append(q.answerable)
    if not any(answerable):
        raise QAError("calibration needs answerable questions in the split")
    c, v, w, ans = (np.array(x)[:, None] for x in (conf, cov, worst, answerable))
    allowed = int(math.floor(max_false_abstain * int(ans.sum())))
    best: tuple[Any, ...] | None = None
    grid = [
        (cv, wd)
        for cv in np.round(np.arange(0.30, 0.801, 0.02), 2)
        for wd in np.round(np.concatenate([[0.0], np.arange(0.15, 0.301, 0.01)]), 2)
    ]
    cvs = np.array([g[0] for g in grid])[None, :]
    wds = np.array([g[1] for g in grid])[None, :]
    for floor in np.round(np.arange(0.0, 0.301, 0.01), 2):
        for check_below in np.round(np.arange(0.30, 0.801, 0.02), 2):
            abstain = (c < floor) | ((c < check_below) & ((v < cvs) | (w < wds)))  # questions x policies
            false = (abstain & ans).sum(axis=0)
            caught = (abstain & ~ans).sum(axis=0)
            for j in np.flatnonzero(false <= allowed):
                key = (-int(caught[j]), int(false[j]), check_below, floor, grid[j][0], grid[j][1])
                if best is None or key < best:
                    best = key
    if best is None:
        raise QAError(
            f"no policy keeps false abstentions at or under {max_false_abstain:.0%} on this split: "
            "check that its answerable questions have gold passages in the corpus"
        )
    check_below, floor, coverage, word = (float(x) for x in best[2:])
    policy = AbstainPolicy(floor=floor, check_below=check_below, coverage=coverage, word=word)
    n_ans, n_unans = int(ans.sum()), int((~ans).sum())
    return {
        "policy": asdict(policy),
        "abstain_recall": -best[0] / n_unans if n_unans else 0.0,
        "false_abstain": best[1] / n_ans,
        "answerable": n_ans,
        "unanswerable": n_unans,
        "set": f"QA_ABSTAIN={policy.floor},{policy.check_below},{policy.coverage},{policy.word}",
    }
