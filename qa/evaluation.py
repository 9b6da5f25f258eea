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
from .peers import Peers, WindowPeers
from .ranking.model import SentenceRanker
from .session import QA

__all__ = [
    "METHODS",
    "GoldQAEvaluator",
    "Judge",
    "RetrievalEvaluator",
    "Shown",
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
    "bm25-windows": "bm25, 150-word windows",
    "dense-windows": "dense, 150-word windows",
    "rrf-windows": "rrf, 150-word windows",
    "txtai-windows": "txtai hybrid, 150-word windows",
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


@dataclass
class Shown:
    """What a method shows for one question: passages in order (source, text) and the sentence it marks."""

    passages: list[tuple[str, str]]
    sentence: str | None
    answer: Any = None  # the full pipeline's Answer; None for peers


Ranker = Callable[[EvalQuery], Shown]


class Judge:
    """Whether a passage, a release or a sentence holds a question's answer (gold substrings after normalisation;
    SQuAD and BEIR: the question's own paragraph)."""

    def __init__(self, chunks: Sequence[Any]) -> None:
        release: dict[str, list[str]] = {}
        for c in chunks:
            release.setdefault(c.source, []).append(c.text)
        self.release = {source: _norm(" ".join(texts)) for source, texts in release.items()}

    def passage(self, q: EvalQuery, source: str, text: str) -> bool:
        if q.relevant:
            return source in q.relevant
        norm = _norm(text)
        return any(_norm(g) in norm for g in q.gold)

    def release_right(self, q: EvalQuery, source: str) -> bool:
        if q.relevant:
            return source in q.relevant
        if q.file:
            return source == q.file
        return any(_norm(g) in self.release.get(source, "") for g in q.gold)

    def sentence(self, q: EvalQuery, shown: Shown) -> bool:
        if not shown.sentence or not shown.passages or not q.gold:
            return False
        if q.relevant and shown.passages[0][0] not in q.relevant:
            return False
        norm = _norm(shown.sentence)
        return any(_norm(g) in norm for g in q.gold)


@dataclass
class EvalRun:
    """One evaluation's details beside its flat metrics: per-method metrics and the full pipeline's misses."""

    dataset: str
    queries: int
    chunks: int
    methods: dict[str, dict[str, float]] = field(default_factory=dict)  # method id -> metrics
    misses: list[dict[str, Any]] = field(default_factory=list)


class RetrievalEvaluator:
    """Runs every query through each method (the peers, then release-qa through ``QA.ask``) and scores what each
    shows: the marked sentence (the primary figure), the release first, the passages, abstention, follow-ups.

    Calling it returns flat metrics, ``"<method>_<metric>"`` (sentence-transformers style), with
    :attr:`primary_metric` among them; the details of the last call are in :attr:`run`. With ``windows``, the same
    peers also run over 150-word windows of the releases.
    """

    def __init__(
        self,
        queries: list[EvalQuery],
        name: str = "eval",
        k: int = 10,
        peers: bool = True,
        ks: Sequence[int] = (1, 3, 5, 10),
        txtai: bool = False,
        windows: bool = False,
        ranker_of: Callable[[EvalQuery], SentenceRanker] | None = None,
    ) -> None:
        self.queries = queries
        self.ranker_of = ranker_of  # the answer-sentence model per question (held-out evaluation); None: the session's
        self.name = name
        self.k = k
        self.peers = peers
        self.txtai = txtai
        self.windows = windows
        self.ks = ks
        self.primary_metric = "release-qa_mrr@10"
        self.run: EvalRun | None = None

    def _rankers(self, session: QA) -> dict[str, Ranker]:
        index = session.ensure_index()
        chunks = index.chunks
        rankers: dict[str, Ranker] = {}

        def on_chunks(rows_of: Callable[[str, int], list[int]]) -> Ranker:
            def rank(q: EvalQuery) -> Shown:
                rows = rows_of(q.question, self.k)
                sentence = _best_stored_sentence(index, session.encoder.encode_query(q.question), rows[0]) if rows else None
                return Shown([(chunks[r].source, chunks[r].text) for r in rows], sentence)

            return rank

        def on_windows(w: WindowPeers, rows_of: Callable[[str, int], list[int]]) -> Ranker:
            def rank(q: EvalQuery) -> Shown:
                rows = rows_of(q.question, self.k)
                return Shown([w.windows[r] for r in rows], w.answer(q.question, rows[0]) if rows else None)

            return rank

        if self.peers:
            peers = Peers(session, self.txtai)
            rankers["bm25"] = on_chunks(peers.bm25_rows)
            rankers["dense"] = on_chunks(peers.dense_rows)
            rankers["rrf"] = on_chunks(peers.rrf_rows)
            if self.txtai:
                rankers["txtai"] = on_chunks(peers.txtai_rows)
            if self.windows:
                w = WindowPeers(session, txtai=self.txtai)
                rankers["bm25-windows"] = on_windows(w, w.bm25_rows)
                rankers["dense-windows"] = on_windows(w, w.dense_rows)
                rankers["rrf-windows"] = on_windows(w, w.rrf_rows)
                if self.txtai:
                    rankers["txtai-windows"] = on_windows(w, w.txtai_rows)

        def full(q: EvalQuery) -> Shown:
            ranker = self.ranker_of(q) if self.ranker_of else None
            answer = session.ask(q.question, min(3 * self.k, 50), q.history, ranker=ranker)  # folded passages take slots too
            shown = [p for p in answer.passages if not getattr(p, "folded", False)]
            return Shown([(p.source, p.text) for p in shown], getattr(answer, "candidate", None) or answer.answer, answer)

        rankers["release-qa"] = full
        return rankers

    def _score(self, outcomes: list[tuple[Shown, float]], judge: Judge) -> tuple[dict[str, float], list[list[bool]]]:
        """Metrics of one method from what it showed and how long it took, per query."""
        rankings, gains = [], []
        for q, (shown, _) in zip(self.queries, outcomes, strict=False):
            rel = [judge.passage(q, source, text) for source, text in shown.passages]
            rankings.append(rel)
            gains.append(
                [
                    q.relevant.get(source, 0.0) if q.relevant else float(x)
                    for (source, _), x in zip(shown.passages, rel, strict=False)
                ]
            )
        answerable = [i for i, q in enumerate(self.queries) if q.answerable]
        m = metrics_at(
            [rankings[i] for i in answerable],
            self.ks,
            [gains[i] for i in answerable],
            [max(1, len(self.queries[i].relevant)) for i in answerable],
        )
        if answerable:
            m["sentence_right"] = sum(judge.sentence(self.queries[i], outcomes[i][0]) for i in answerable) / len(answerable)
            m["release_first"] = sum(
                bool(outcomes[i][0].passages) and judge.release_right(self.queries[i], outcomes[i][0].passages[0][0])
                for i in answerable
            ) / len(answerable)
        m.update(percentiles([ms for _, ms in outcomes]))
        m.update(style_metrics(self.queries, rankings))
        answers = [shown.answer for shown, _ in outcomes]
        if answers and answers[0] is not None:
            stages = [a.timings for a in answers]
            m["retrieval_p50_ms"] = float(
                np.percentile(
                    [s.get("encode_ms", 0) + s.get("dense_ms", 0) + s.get("bm25_ms", 0) + s.get("fusion_ms", 0) for s in stages],
                    50,
                )
            )
            m.update(
                _answer_metrics(
                    self.queries,
                    rankings,
                    answers,
                    [judge.sentence(q, o[0]) for q, o in zip(self.queries, outcomes, strict=False)],
                )
            )
        return m, rankings

    def __call__(self, session: QA) -> dict[str, float]:
        chunks = session.ensure_index().chunks
        judge = Judge(chunks)
        run = EvalRun(self.name, len(self.queries), len(chunks))
        rankers = self._rankers(session)
        outcomes: dict[str, list[tuple[Shown, float]]] = {method: [] for method in rankers}
        for ranker in rankers.values():  # warm-up, not timed
            ranker(self.queries[0]) if self.queries else None
        for q in self.queries:  # methods take turns on each question: on a shared machine they see the same load
            for method, ranker in rankers.items():
                t = time.perf_counter()
                shown = ranker(q)
                outcomes[method].append((shown, (time.perf_counter() - t) * 1000))
        rankings: list[list[bool]] = []
        for method in rankers:
            run.methods[method], rankings = self._score(outcomes[method], judge)
        run.misses = [
            {
                "id": q.id,
                "question": q.question,
                "history": q.history,
                "gold": q.gold or sorted(q.relevant),
                "got": shown.sentence,
                "passage": shown.passages[0][1][:160] if shown.passages else None,
                "level": getattr(shown.answer, "level", None),
            }
            for q, rel, (shown, _) in zip(self.queries, rankings, outcomes["release-qa"], strict=False)
            if (q.answerable and not judge.sentence(q, shown))
            or (not q.answerable and getattr(shown.answer, "level", "answer") == "answer")
        ][:200]
        self.run = run
        return {f"{method}_{name}": value for method, m in run.methods.items() for name, value in m.items()}


def _best_stored_sentence(index: Any, qvec: np.ndarray, row: int) -> str | None:
    """A peer's answer over the project's passages: the passage's stored sentence most similar to the question."""
    spans = index.sentence_spans(row)
    if not spans:
        return None
    sims = index.sentences.reconstruct_batch(np.array([s for s, _, _ in spans], dtype=np.int64)) @ qvec
    _, a, b = spans[int(np.argmax(sims))]
    return str(index.chunks[row].text[a:b])


def style_metrics(queries: list[EvalQuery], rankings: list[list[bool]]) -> dict[str, float]:
    """For a paraphrase set: hit@1 per wording style, and how many facts are right in every wording."""
    by_style: dict[str, list[bool]] = {}
    by_fact: dict[str, list[bool]] = {}
    for q, r in zip(queries, rankings, strict=False):
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


def _answer_metrics(
    queries: list[EvalQuery], rankings: list[list[bool]], answers: list[Any], right: list[bool]
) -> dict[str, float]:
    """Abstention per level (answer / closest passage / not in the releases) and follow-ups, as the user sees them."""
    out: dict[str, float] = {}
    unans = [i for i, q in enumerate(queries) if not q.answerable]
    ans = [i for i, q in enumerate(queries) if q.answerable]
    level = [getattr(a, "level", "none" if a.no_answer else "answer") for a in answers]
    abstained = [i for i, a in enumerate(answers) if a.no_answer]
    if unans:
        out["abstain_recall"] = sum(1 for i in unans if answers[i].no_answer) / len(unans)
        out["abstain_precision"] = (sum(1 for i in abstained if not queries[i].answerable) / len(abstained)) if abstained else 0.0
        out["abstained"], out["unanswerable"] = float(sum(1 for i in unans if answers[i].no_answer)), float(len(unans))
        out["unanswerable_flagged"] = sum(1 for i in unans if level[i] != "answer") / len(unans)
        out["unanswerable_closest"] = sum(1 for i in unans if level[i] == "closest") / len(unans)
        out["unanswerable_none"] = sum(1 for i in unans if level[i] == "none") / len(unans)
    if ans:
        out["false_abstain"] = sum(1 for i in ans if answers[i].no_answer) / len(ans)
        out["refused"], out["answerable"] = float(sum(1 for i in ans if answers[i].no_answer)), float(len(ans))
        out["answerable_closest"] = sum(1 for i in ans if level[i] == "closest") / len(ans)
        out["answerable_none"] = sum(1 for i in ans if level[i] == "none") / len(ans)
        out["answered_right"] = sum(1 for i in ans if level[i] == "answer" and right[i]) / len(ans)
    follow = [i for i in ans if queries[i].history]
    if follow:
        out["followup_hit@1"] = sum(1 for i in follow if rankings[i] and rankings[i][0]) / len(follow)
        out["followup_sentence_right"] = sum(1 for i in follow if right[i]) / len(follow)
        out["followups_right"], out["followups"] = float(sum(1 for i in follow if right[i])), float(len(follow))
    return out


GoldQAEvaluator = RetrievalEvaluator  # gold substrings are judged by the same evaluator


def summary_table(rows: list[tuple[str, str, dict[str, dict[str, float]]]], names: dict[str, str]) -> str:
    """One table per set (its name, a note on how release-qa answered it, every method's figures): for every method
    the answer sentence right (primary), right release first, passage hit@1 / MRR@10 and p50 latency; under it what
    only the full pipeline has (levels, follow-ups, wording styles)."""
    out = []
    for name, note, result in rows:
        lines = [
            f"**{name}**",
            "",
            *([f"_{note}_", ""] if note else []),
            "| method | answer sentence right | right release first | passage hit@1 | passage MRR@10 | p50 ms |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for method in names:
            if method in result:
                m = result[method]
                cells = [m.get(c, math.nan) for c in ("sentence_right", "release_first", "hit@1", "mrr@10")]
                lines.append(f"| {names[method]} | " + " | ".join(f"{v:.3f}" for v in cells) + f" | {m.get('p50_ms', 0.0):.0f} |")
        ours = result.get("release-qa", {})
        notes = []
        if "unanswerable" in ours:
            notes.append(
                f"unanswerable {ours['unanswerable']:.0f}: flagged {ours['unanswerable_flagged']:.2f} "
                f"(closest passage {ours['unanswerable_closest']:.2f}, not in the releases {ours['unanswerable_none']:.2f})"
            )
        if "answerable" in ours:
            notes.append(
                f"answerable {ours['answerable']:.0f}: refused {ours['answerable_none']:.2f}, "
                f"downgraded to closest {ours['answerable_closest']:.2f}, answered right {ours['answered_right']:.2f}"
            )
        if "followups" in ours:
            notes.append(f"follow-ups right {ours['followups_right']:.0f}/{ours['followups']:.0f}")
        notes += [f"hit@1 {k[6:-1]} {v:.2f}" for k, v in ours.items() if k.startswith("hit@1[")]
        if "facts" in ours:
            notes.append(f"all phrasings right {ours['facts_all_right']:.0f}/{ours['facts']:.0f} facts")
        out.append("\n".join(lines) + ("\n\nrelease-qa: " + "; ".join(notes) if notes else "") + "\n")
    return "\n".join(out)


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
        conf.append(a.evidence)  # the number the policy reads (not the ranker's output, which sets the level)
        cov.append(1.0 if a.coverage is None else a.coverage)
        worst.append(min((share for _, share in a.coverage_words), default=1.0))
        answerable.append(q.answerable)
    if not any(answerable):
        raise QAError("calibration needs answerable questions in the split")
    c, v, w, ans = (np.array(x)[:, None] for x in (conf, cov, worst, answerable))
    allowed = math.floor(max_false_abstain * int(ans.sum()))
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
