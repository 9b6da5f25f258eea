"""Features of (question, candidate sentence, its passage, its release) for the answer-sentence ranker.

Every feature is a generic signal, never a word list taken from a question set: dense similarity of the sentence
and of its passage; BM25-style lexical overlap of sentence, passage and release with corpus IDF; the question words
the release's title and lead already hold against those only this sentence holds; whether the sentence holds the
kind of thing the question asks for (a date, a number, an amount of money, a person, a place, an organisation), and
the question's focus next to it, and which rare question word it, its passage or its release lacks (:mod:`.focus`);
where the sentence sits in its release and how it ends (as a sentence, as a lead-in, or as a heading does); whether
the release dates from the year and month the question names; and the ranks and scores retrieval gave its passage
and release. Scores are also given relative to the best candidate of the same question, so a model compares within
a question.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .. import linear as re
from ..chunking import Chunk
from ..store.index import Index
from ..store.lexical import bm25_tokenize, content_stems
from .candidates import Candidate, release_map
from .dates import MONTH, YEAR, date_columns
from .focus import focus_stems, missing_columns, near_columns
from .kinds import KINDS, MONEY, NAME, NUMBER, answer_kind, question_kind, things

__all__ = [
    "BASE",
    "DERIVED",
    "FEATURES",
    "QUESTION_RELATIVE",
    "Question",
    "derive",
    "describe",
    "question_of",
]


BASE = (  # described per candidate (what the training tables store)
    "s_dense",
    "s_dense_gap",
    "s_dense_rank",
    "p_dense",
    "p_dense_gap",
    "s_cover",
    "s_bm25",
    "s_bm25_gap",
    "s_local",
    "s_only",
    "s_new",
    "p_cover",
    "p_bm25",
    "r_bm25",
    "q_in_title",
    "kind_asked",
    "kind_found",
    "kind_new",
    "has_number",
    "has_date",
    "has_money",
    "has_name",
    "position",
    "position_rel",
    "paragraph",
    "is_lead",
    "release_rank",
    "release_score",
    "release_gap",
    "passage_rank",
    "passage_score",
    "words",
    "closed",
    "q_words",
    "followup",
    "focus_in",
    "focus_near",
    "s_miss",
    "p_miss",
    "r_miss",
    "year_gap",
    "month_match",
)
DERIVED = (  # how the candidate's release compares: derived from BASE within each question
    "r_s_dense_best",
    "r_s_bm25_best",
    "r_s_cover_best",
    "s_dense_in_release",
    "s_bm25_in_release",
)
RELATIVE = ("s_dense", "s_cover", "s_bm25", "s_local", "p_dense", "p_bm25", "kind_found", "focus_in")
QUESTION_RELATIVE = tuple(  # each key column against the question's other candidates: gap to the best, rank, z-score
    f"{name}_{how}" for name in RELATIVE for how in ("qgap", "qrank", "qz")
)
FEATURES = BASE + DERIVED + QUESTION_RELATIVE

# How a sentence ends: a closing mark (a sentence), a colon (a lead-in: "… the following offences:"), or neither (a
# heading), before any closing quotes or brackets.
_ENDING = re.compile(r"(?P<mark>[.!?:])[\"”’')\]]*\s*$")


def _closed(sentence: str) -> float:
    """1 for a sentence that ends as one does, 0.5 for a lead-in ending in a colon, 0 for a heading."""
    m = _ENDING.search(sentence)
    return 0.0 if m is None else 0.5 if m.group("mark") == ":" else 1.0


# ------------------------------------------------------------------- question


@dataclass
class Question:
    """What the features need of a question, computed once per question."""

    text: str  # the user's own words
    topic: str  # words carried from the antecedent question, "" when none
    vector: np.ndarray
    stems: list[str]
    kind: str
    followup: bool
    focus: list[str]  # stems naming what is asked about ("how many *prosecutions*")


def question_of(text: str, topic: str, vector: np.ndarray, followup: bool) -> Question:
    stems = list(dict.fromkeys(content_stems(text) or bm25_tokenize([text])[0]))
    return Question(text, topic, vector, stems, question_kind(text), followup, focus_stems(text))


# -------------------------------------------------------------------- features


def _gap(x: np.ndarray) -> np.ndarray:
    finite = x[np.isfinite(x)]
    return x - (finite.max() if len(finite) else 0.0)


def _share(stems: Sequence[set[str]], wanted: list[str], weight: dict[str, float]) -> np.ndarray:
    total = sum(weight[t] for t in wanted) or 1.0
    return np.array([sum(weight[t] for t in wanted if t in s) / total for s in stems], dtype=np.float32)


def _bm25(tokens: list[list[str]], wanted: list[str], idf: dict[str, float], k1: float = 1.2, b: float = 0.75) -> np.ndarray:
    lengths = np.array([len(t) for t in tokens], dtype=np.float32)
    avg = float(lengths.mean()) if len(lengths) and lengths.mean() > 0 else 1.0
    out = np.zeros(len(tokens), dtype=np.float32)
    for i, toks in enumerate(tokens):
        for t in wanted:
            tf = toks.count(t)
            if tf:
                out[i] += idf[t] * tf * (k1 + 1) / (tf + k1 * (1 - b + b * lengths[i] / avg))
    return out


def _lexical(
    index: Index, cands: list[Candidate], q: Question, chunks: dict[int, Chunk], lead_row: dict[str, int], texts: list[str]
) -> dict[str, np.ndarray]:
    """The lexical columns: overlap of sentence, passage and release lead with the question's own words."""
    n = len(cands)
    rows = sorted({c.chunk_row for c in cands})
    s_tokens = bm25_tokenize(texts)
    s_stems = [set(t) for t in s_tokens]
    p_stems = {row: set(t) for row, t in zip(rows, bm25_tokenize([chunks[r].text for r in rows]), strict=False)}
    sources = list(lead_row)  # each release's lead and title tokenized once, in one batch
    first = {c.source: c.chunk_row for c in reversed(cands)}
    tokens = bm25_tokenize(
        [f"{chunks[lead_row[src]].title} {chunks[lead_row[src]].text}" for src in sources]
        + [chunks[first[src]].title for src in sources]
    )
    lead = {src: set(t) for src, t in zip(sources, tokens[: len(sources)], strict=True)}
    titles = {src: set(t) for src, t in zip(sources, tokens[len(sources) :], strict=True)}
    wanted = q.stems
    idf = {t: index.bm25_idf(t) for t in wanted}
    local = {t: math.log(1 + n / df) if (df := sum(t in s for s in s_stems)) else 0.0 for t in wanted}
    known = [lead[c.source] for c in cands]
    s_cover = _share(s_stems, wanted, idf)
    s_bm25 = _bm25(s_tokens, wanted, idf)
    s_only = np.array(
        [
            sum(idf[t] for t in wanted if t in s and t not in k) / (sum(idf.values()) or 1.0)
            for s, k in zip(s_stems, known, strict=False)
        ],
        dtype=np.float32,
    )
    s_new = np.array(
        [
            sum(idf[t] for t in wanted if t in s and t not in k) / (sum(idf[t] for t in wanted if t not in k) or 1.0)
            for s, k in zip(s_stems, known, strict=False)
        ],
        dtype=np.float32,
    )
    p_cover = _share([p_stems[c.chunk_row] for c in cands], wanted, idf)
    q_in_title = _share([titles[c.source] | lead[c.source] for c in cands], wanted, idf)
    s_local = _share(s_stems, wanted, local)
    release_stems: dict[str, set[str]] = {src: titles[src] | lead[src] for src in sources}
    for c, stems in zip(cands, s_stems, strict=True):
        release_stems[c.source] |= stems
    missing = missing_columns(
        wanted, idf, s_stems, [p_stems[c.chunk_row] for c in cands], [release_stems[c.source] for c in cands]
    )
    return {
        **missing,
        **near_columns(texts, s_stems, q.focus, _near_things(q.kind)),
        "s_cover": s_cover,
        "s_bm25": s_bm25,
        "s_bm25_gap": _gap(s_bm25),
        "s_local": s_local,
        "s_only": s_only,
        "s_new": s_new,
        "p_cover": p_cover,
        "q_in_title": q_in_title,
    }


_ANY_DATE = re.compile(f"{YEAR.pattern}|{MONTH.pattern}")


def _near_things(kind: str) -> Callable[[str], list[tuple[int, int]]] | None:
    """Where the things stand that the question's focus should be next to: any year or month for a date, a count
    or measure for a number, an amount for money."""
    if kind == "date":
        return lambda text: [m.span() for m in _ANY_DATE.finditer(text)]
    return (lambda text: things(kind, text)) if kind in ("number", "money") else None


def _kinds(q: Question, texts: list[str]) -> dict[str, np.ndarray]:
    """Answer-type columns: what the question asks for, and whether each sentence holds such a thing."""
    asked = KINDS.index(q.kind)
    asked_things = {q.text[a:b].lower() for a, b in things(q.kind, q.text)}
    sure = [things(q.kind, t) for t in texts]  # found once, read twice
    found = np.array([answer_kind(q.kind, t, s) for t, s in zip(texts, sure, strict=True)], dtype=np.float32)
    new = np.array(
        [bool({t[a:b].lower() for a, b in s} - asked_things) for t, s in zip(texts, sure, strict=True)], dtype=np.float32
    )
    return {
        "kind_asked": np.full(len(texts), asked, dtype=np.float32),
        "kind_found": found,
        "kind_new": new,
        "has_number": np.array([bool(NUMBER.search(t)) for t in texts], dtype=np.float32),
        "has_date": np.array([bool(YEAR.search(t) or MONTH.search(t)) for t in texts], dtype=np.float32),
        "has_money": np.array([bool(MONEY.search(t)) for t in texts], dtype=np.float32),
        "has_name": np.array([bool(NAME.search(t)) for t in texts], dtype=np.float32),
    }


def describe(
    index: Index,
    cands: list[Candidate],
    q: Question,
    passage_bm25: Callable[[], np.ndarray],
    release_bm25: Callable[[], np.ndarray],
) -> np.ndarray:
    """The feature matrix, one row per candidate, columns as :data:`FEATURES`."""
    n = len(cands)
    if n == 0:
        return np.zeros((0, len(FEATURES)), dtype=np.float32)
    rmap = release_map(index)
    lead_row = {c.source: rmap.rows[c.source][0] for c in cands}
    chunks = {row: index.chunks[row] for row in dict.fromkeys([c.chunk_row for c in cands] + list(lead_row.values()))}
    texts = [chunks[c.chunk_row].text[c.start : c.end] for c in cands]
    s_vectors = index.sentences.reconstruct_batch(np.array([c.sentence_row for c in cands], dtype=np.int64))
    rows = sorted({c.chunk_row for c in cands})
    p_sim = dict(zip(rows, index.vectors.reconstruct_batch(np.array(rows, dtype=np.int64)) @ q.vector, strict=False))
    s_dense = (s_vectors @ q.vector).astype(np.float32)
    p_dense = np.array([p_sim[c.chunk_row] for c in cands], dtype=np.float32)
    lexical = _lexical(index, cands, q, chunks, lead_row, texts)
    bm25_all, release_all = passage_bm25(), release_bm25()
    p_bm25 = np.array([bm25_all[c.chunk_row] for c in cands], dtype=np.float32)
    r_bm25 = np.array([release_all[c.chunk_row] for c in cands], dtype=np.float32)

    release_top = max(c.release_score for c in cands)
    columns = {
        **lexical,
        **_kinds(q, texts),
        **date_columns(q.text, [c.source for c in cands], {src: chunks[row].date for src, row in lead_row.items()}),
        "s_dense": s_dense,
        "s_dense_gap": _gap(s_dense),
        "s_dense_rank": np.argsort(np.argsort(-s_dense)).astype(np.float32),
        "p_dense": p_dense,
        "p_dense_gap": _gap(p_dense),
        "p_bm25": p_bm25 / max(float(p_bm25.max()), 1e-9),
        "r_bm25": r_bm25 / max(float(r_bm25.max()), 1e-9),
        "position": np.array([c.position for c in cands], dtype=np.float32),
        "position_rel": np.array([c.position / max(c.release_sentences, 1) for c in cands], dtype=np.float32),
        "paragraph": np.array([chunks[c.chunk_row].paragraph for c in cands], dtype=np.float32),
        "is_lead": np.array([c.position < 2 for c in cands], dtype=np.float32),
        "release_rank": np.array([c.release_rank for c in cands], dtype=np.float32),
        "release_score": np.array([c.release_score for c in cands], dtype=np.float32),
        "release_gap": np.array([c.release_score - release_top for c in cands], dtype=np.float32),
        "passage_rank": np.array([c.passage_rank or math.nan for c in cands], dtype=np.float32),
        "passage_score": np.array([math.nan if c.passage_score is None else c.passage_score for c in cands], dtype=np.float32),
        "words": np.array([len(t.split()) for t in texts], dtype=np.float32),
        "closed": np.array([_closed(t) for t in texts], dtype=np.float32),
        "q_words": np.full(n, len(q.text.split()), dtype=np.float32),
        "followup": np.full(n, float(q.followup), dtype=np.float32),
    }
    base = np.column_stack([columns[name] for name in BASE]).astype(np.float32)
    return derive(base, np.array([c.release_rank for c in cands]), np.zeros(n, dtype=np.int64))


def _group_max(values: np.ndarray, groups: np.ndarray, size: int) -> np.ndarray:
    best = np.full(size, -np.inf)
    np.maximum.at(best, groups, values)
    return best[groups]


def derive(base: np.ndarray, release_rank: np.ndarray, question: np.ndarray) -> np.ndarray:
    """BASE columns with DERIVED appended: each release's best sentence (against the question's best) and each
    sentence against its release's best, so the model sees which release holds a strong sentence."""
    if len(base) == 0:
        return np.zeros((0, len(FEATURES)), dtype=np.float32)
    keys, release = np.unique(question.astype(np.int64) * 1000 + release_rank.astype(np.int64), return_inverse=True)
    _, asked = np.unique(question, return_inverse=True)
    out = []
    for name in ("s_dense", "s_bm25", "s_cover"):
        col = base[:, BASE.index(name)].astype(np.float64)
        in_release = _group_max(col, release, len(keys))
        overall = _group_max(col, asked, int(asked.max()) + 1)
        out.append(in_release - overall if name != "s_cover" else in_release)
    for name in ("s_dense", "s_bm25"):
        col = base[:, BASE.index(name)].astype(np.float64)
        out.append(col - _group_max(col, release, len(keys)))
    for name in RELATIVE:
        out.extend(_relative(base[:, BASE.index(name)].astype(np.float64), asked))
    return np.column_stack([base, *out]).astype(np.float32)


def _relative(col: np.ndarray, asked: np.ndarray) -> list[np.ndarray]:
    """Within each question: the gap to its best candidate, the rank (0 = best; missing values rank last) and the
    z-score. Which sentence is best *for this question* matters more than how high its absolute score is."""
    size = int(asked.max()) + 1
    present = np.isfinite(col)
    filled = np.where(present, col, -np.inf)
    best = np.full(size, -np.inf)
    np.maximum.at(best, asked, filled)
    gap = np.where(present, col - best[asked], np.nan)
    order = np.lexsort((-filled, asked))  # by question, best first
    starts = np.searchsorted(asked[order], np.arange(size))
    rank = np.empty(len(col))
    rank[order] = np.arange(len(col)) - starts[asked[order]]
    count = np.bincount(asked, weights=present, minlength=size)
    total = np.bincount(asked, weights=np.where(present, col, 0.0), minlength=size)
    mean = total / np.maximum(count, 1)
    var = np.bincount(asked, weights=np.where(present, (col - mean[asked]) ** 2, 0.0), minlength=size) / np.maximum(count, 1)
    z = np.where(present, (col - mean[asked]) / np.sqrt(var[asked] + 1e-12), np.nan)
    return [gap, rank, z]
