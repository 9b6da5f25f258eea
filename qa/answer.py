"""Stage 6: ranked chunks -> an Answer: the answering sentence, cited passages, or an honest "not in the releases".

The sentence is the one, among the top passages, whose stored embedding is
closest to the question, nudged by how many of the question's distinctive words
it contains, by whether it holds the kind of thing asked for (a date for
"when") and by its passage's rank. Abstention (:class:`AbstainPolicy`) first
looks at how close the best passage is to the question; when that is
middling, it checks, word by word and in context, whether the passage covers
what the question asks about, and names the words it does not. Its values are
calibrated on held-out questions (``python -m qa eval calibrate``), never on
the questions we report.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .corpus import SUPPORTED_SUFFIXES, parse_bytes, safe_filename
from .embedding import make_encoder
from .errors import CorpusError, IndexError_, QueryError
from .retrieval import FusionConfig, Retriever, stop_word
from .store import Index, bm25_tokenize, build_index, index_status, load_index

__all__ = ["Answer", "Passage", "QA", "ask", "DEFAULT_CORPUS", "DEFAULT_INDEX", "MAX_QUESTION_CHARS"]

_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = Path(os.environ.get("QA_CORPUS", _ROOT / "seeds"))
DEFAULT_INDEX = Path(os.environ.get("QA_INDEX", _ROOT / "embeddings"))
MAX_QUESTION_CHARS = 1000
MAX_K = 50
MAX_UPLOAD_FILES = 20
MAX_UPLOAD_BYTES = 5_000_000
UNKNOWN_PENALTY = 0.25
NO_ANSWER_MESSAGE = "The releases don't cover this question. The closest passages are listed below."


@dataclass(frozen=True)
class AbstainPolicy:
    """When to say "not in the releases". Calibrated on the dev split of eval/seed_qa.jsonl (`qa eval calibrate`).

    Below ``floor`` the evidence is too weak to answer. Between ``floor`` and
    ``check_below`` the best passage is on topic but may not say what is asked
    ("What was the budget of the UN Command?"): the question's words are
    matched in context against that passage, and the answer stands only if
    they are covered (weighted share >= ``coverage``, no word below ``word``).
    Above ``check_below`` the match is strong enough to answer at once, so most
    questions never pay for the check.
    """

    floor: float = 0.0
    check_below: float = 0.44
    coverage: float = 0.38
    word: float = 0.24

    @classmethod
    def from_env(cls) -> "AbstainPolicy":
        """QA_ABSTAIN="floor,check_below,coverage,word" overrides the calibrated values."""
        raw = os.environ.get("QA_ABSTAIN", "").strip()
        if not raw:
            return cls()
        try:
            values = [float(x) for x in raw.split(",")]
            if len(values) != 4:
                raise ValueError(raw)
            return cls(*values)
        except ValueError:
            raise QueryError(f"QA_ABSTAIN={raw!r} is not four numbers 'floor,check_below,coverage,word': "
                             f"unset it to use the calibrated {cls()}") from None

    def abstains(self, confidence: float, coverage: float | None, words: Sequence[tuple[str, float]]) -> bool:
        if confidence < self.floor:
            return True
        if confidence >= self.check_below or coverage is None:
            return False
        return coverage < self.coverage or any(share < self.word for _, share in words)


@dataclass
class Passage:
    """A cited passage: enough to find, trust and quote it."""

    rank: int
    score: float
    text: str
    title: str
    date: str | None
    source: str
    paragraph: int
    doc_id: str
    section: str | None = None
    organisation: str | None = None
    language: str | None = None
    also_in: list[str] = field(default_factory=list)  # other files carrying the same release
    part: int = 0
    dense_rank: int | None = None
    bm25_rank: int | None = None
    dense_score: float = 0.0
    bm25_score: float = 0.0
    sentence_score: float = 0.0  # similarity of the passage's best sentence to the question
    answer_start: int | None = None  # character offsets of the answering sentence inside ``text``
    answer_end: int | None = None


@dataclass
class Answer:
    question: str
    answer: str | None
    no_answer: bool
    passages: list[Passage]
    message: str = ""
    query: str = ""  # what was searched, after follow-up resolution
    followup: bool = False
    confidence: float = 0.0
    coverage: float | None = None  # share of the question the best passage covers; None when not checked
    coverage_words: list[tuple[str, float]] = field(default_factory=list)  # each question word's share
    uncovered: list[str] = field(default_factory=list)  # words the best passage says nothing about ("budget")
    timings: dict[str, float] = field(default_factory=dict)
    id: Any = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract of `python -m qa ask --json` (core fields first, extras after)."""
        data: dict[str, Any] = {
            "id": self.id, "question": self.question, "answer": self.answer, "no_answer": self.no_answer,
            "passages": [asdict(p) for p in self.passages],
        }
        data.update(message=self.message, query=self.query, followup=self.followup,
                    confidence=round(self.confidence, 4),
                    coverage=None if self.coverage is None else round(self.coverage, 4),
                    coverage_words=[[w, c] for w, c in self.coverage_words], uncovered=self.uncovered,
                    timings={k: round(v, 2) for k, v in self.timings.items()})
        return data


def _iso_day(value: str | None, name: str, end: bool = False) -> str | None:
    """'2024', '2024-09' or '2024-09-10' -> a full ISO day (the range's first or last day)."""
    if value is None or not str(value).strip():
        return None
    value = str(value).strip()
    m = re.fullmatch(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?", value)
    if not m:
        raise QueryError(f"{name} must be a date like 2024-09-10 (or 2024-09, 2024), got {value!r}")
    year, month, day = m.group(1), m.group(2), m.group(3)
    if day:
        from datetime import date

        try:
            date(int(year), int(month), int(day))
        except ValueError:
            raise QueryError(f"{name} {value} is not a real date") from None
        return value
    if month:
        return f"{year}-{month}-{'31' if end else '01'}"
    return f"{year}-{'12-31' if end else '01-01'}"


def validate_question(question: Any, k: Any = 5) -> tuple[str, int]:
    if not isinstance(question, str) or not question.strip():
        raise QueryError("the question is empty: ask something, e.g. \"Who co-chaired the meeting?\"")
    if len(question) > MAX_QUESTION_CHARS:
        raise QueryError(f"the question is {len(question)} characters long; the limit is {MAX_QUESTION_CHARS}: shorten it")
    if isinstance(k, bool) or not isinstance(k, int):
        try:
            k = int(str(k))
        except ValueError:
            raise QueryError(f"k must be a whole number from 1 to {MAX_K}, got {k!r}") from None
    if not 1 <= k <= MAX_K:
        raise QueryError(f"k must be from 1 to {MAX_K}, got {k}")
    return question.strip(), k


class QA:
    """A question-answering session over one corpus and index: load once, ask many times."""

    def __init__(
        self,
        corpus: str | Path | None = None,
        index: str | Path | None = None,
        model: str | None = None,
        *,
        backend: str | None = None,
        fusion: FusionConfig = FusionConfig(),
        abstain: AbstainPolicy | None = None,
        auto_build: bool = True,
    ) -> None:
        self.corpus = Path(corpus) if corpus else DEFAULT_CORPUS
        self.folder = Path(index) if index else DEFAULT_INDEX
        self.encoder = make_encoder(model, backend)
        self.fusion = fusion
        self.abstain = abstain or AbstainPolicy.from_env()
        # passage -> its token vectors and stems, for the coverage check
        self._token_cache: dict[tuple[str, str], tuple[tuple[list[str], np.ndarray], set[str]]] = {}
        self.auto_build = auto_build
        self._lock = threading.RLock()
        self._retriever: Retriever | None = None
        self._stamp: tuple[int, int] | None = None

    # -- index lifecycle ---------------------------------------------------
    def ensure_index(self) -> Index:
        """Load the index, building or updating it first when it is missing, stale or corrupt.

        Later calls are cheap: they only check whether another process (``qa index``)
        has switched in a new generation, and load it if so.
        """
        with self._lock:
            stamp = self._manifest_stamp()
            if self._retriever is None or stamp != self._stamp:
                status = index_status(self.corpus, self.folder, self.encoder.name, backend=self.encoder.backend)
                if status == "other-backend":
                    raise IndexError_(
                        f"the index in {self.folder} holds vectors from another encoder backend; this session uses "
                        f"{self.encoder.backend}: rebuild with `python -m qa index --backend {self.encoder.backend} --rebuild` "
                        "or ask with the backend it was built with (vectors of different backends are never mixed)")
                if self._retriever is None and self.auto_build and status != "fresh":
                    build_index(self.corpus, self.folder, self.encoder)
                try:
                    index = load_index(self.folder)
                except IndexError_:
                    if not (self.auto_build and self.corpus.is_dir()):
                        raise
                    build_index(self.corpus, self.folder, self.encoder, rebuild=True)  # corrupt: rebuild from the corpus
                    index = load_index(self.folder)
                self._retriever = Retriever(index, self.encoder, self.fusion)
                self._token_cache.clear()
                self._stamp = self._manifest_stamp()
            return self._retriever.index

    def _manifest_stamp(self) -> tuple[int, int] | None:
        try:
            st = (self.folder / "manifest.json").stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def update(self, **kwargs: Any):  # type: ignore[no-untyped-def]
        """Re-index the corpus incrementally and switch to the new index (queries keep the old one until then)."""
        report = build_index(self.corpus, self.folder, self.encoder, **kwargs)
        self.ensure_index()  # a new manifest means a new generation: load it now, not on the next question
        return report

    def add_releases(self, files: Sequence[str | Path], names: Sequence[str] | None = None):  # type: ignore[no-untyped-def]
        """Copy release files into the corpus and index them incrementally; all or nothing.

        Every file is read and cleaned first: one bad file rejects the upload
        with a message naming it, and nothing already indexed is touched.
        """
        files = [Path(f) for f in files]
        names = list(names) if names else [f.name for f in files]
        if not files:
            raise CorpusError(f"no files given: choose one or more releases ({', '.join(SUPPORTED_SUFFIXES)})")
        if len(files) > MAX_UPLOAD_FILES:
            raise CorpusError(f"{len(files)} files at once; the limit is {MAX_UPLOAD_FILES}: upload them in smaller groups")
        targets: list[tuple[Path, Path]] = []
        taken = {p.name for p in self.corpus.glob("*")} if self.corpus.exists() else set()
        for path, name in zip(files, names):
            display = Path(name).name or "file"
            if Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
                raise CorpusError(f"{display}: unsupported file type; upload {', '.join(SUPPORTED_SUFFIXES)} files")
            size = path.stat().st_size
            if size > MAX_UPLOAD_BYTES:
                raise CorpusError(f"{display} is {size / 1e6:.1f} MB; the limit is {MAX_UPLOAD_BYTES / 1e6:.0f} MB per release")
            try:
                parse_bytes(path.read_bytes(), display, Path(name).suffix)
            except CorpusError as exc:
                raise CorpusError(f"rejected {exc}; nothing was added") from None
            safe = safe_filename(name)
            stem, suffix = safe.rsplit(".", 1)
            n = 1
            while safe in taken:
                n += 1
                safe = f"{stem}-{n}.{suffix}"
            taken.add(safe)
            targets.append((path, self.corpus / safe))
        self.corpus.mkdir(parents=True, exist_ok=True)
        copied: list[Path] = []
        try:
            for src, dst in targets:
                shutil.copyfile(src, dst)
                copied.append(dst)
            return self.update()
        except BaseException:
            for dst in copied:
                dst.unlink(missing_ok=True)
            raise

    @property
    def retriever(self) -> Retriever:
        self.ensure_index()
        assert self._retriever is not None
        return self._retriever

    # -- asking ------------------------------------------------------------
    def ask(self, question: str, k: int = 5, history: Sequence[str] | None = None, *, method: str | None = None,
            since: str | None = None, until: str | None = None, source: str | None = None) -> Answer:
        """Answer from the releases; ``since``/``until`` (YYYY-MM-DD) and ``source`` filter before ranking."""
        question, k = validate_question(question, k)
        since, until = _iso_day(since, "since"), _iso_day(until, "until", end=True)
        if since and until and since > until:
            raise QueryError(f"--since {since} is after --until {until}: swap them")
        history = [h for h in (history or []) if isinstance(h, str) and h.strip()][-10:]
        retriever = self.retriever
        allowed = retriever.filter_mask(since, until, (source or "").strip() or None)
        result = retriever.search(question, k, history, method=method, allowed=allowed)
        if allowed is not None and not result.hits:
            wanted = ", ".join(f"{name} {value}" for name, value in (("since", since), ("until", until), ("source", source)) if value)
            return Answer(question, None, True, [], message=f"No releases match the filter ({wanted}): widen it or remove it.",
                          query=result.query, followup=result.followup, timings=result.timings)
        chunks = retriever.index.chunks
        passages = [
            Passage(
                rank=i + 1, score=round(h.score, 6), text=chunks[h.row].text, title=chunks[h.row].title,
                date=chunks[h.row].date, source=chunks[h.row].source, paragraph=chunks[h.row].paragraph,
                doc_id=chunks[h.row].doc_id, section=chunks[h.row].section, part=chunks[h.row].part,
                organisation=chunks[h.row].organisation, language=chunks[h.row].language, also_in=list(chunks[h.row].also_in),
                dense_rank=h.dense_rank, bm25_rank=h.bm25_rank, dense_score=round(h.dense_score, 6),
                bm25_score=round(h.bm25_score, 6), sentence_score=round(h.sentence_score, 6),
            )
            for i, h in enumerate(result.hits)
        ]
        t = time.perf_counter()
        sentence, confidence = self._best_sentence(retriever.index, result.query, result.query_vector, passages,
                                                   [h.row for h in result.hits])
        result.timings["answer_ms"] = (time.perf_counter() - t) * 1000
        coverage, words = None, []
        if passages and self.abstain.floor <= confidence < self.abstain.check_below:
            t = time.perf_counter()
            coverage, words = self._coverage(question, passages[0])
            result.timings["coverage_ms"] = (time.perf_counter() - t) * 1000
        no_answer = not passages or self.abstain.abstains(confidence, coverage, words)
        uncovered = [w for w, share in words if share < self.abstain.word]
        message = ""
        if no_answer:
            message = (f"The releases don't cover this question: the closest passage never mentions {', '.join(uncovered)}. "
                       "The closest passages are listed below." if uncovered else NO_ANSWER_MESSAGE)
        return Answer(
            question=question,
            answer=None if no_answer else sentence,
            no_answer=no_answer,
            passages=passages,
            message=message,
            query=result.query,
            followup=result.followup,
            confidence=confidence,
            coverage=coverage,
            coverage_words=words,
            uncovered=uncovered,
            timings=result.timings,
        )

    def _coverage(self, question: str, passage: Passage) -> tuple[float, list[tuple[str, float]]]:
        """:func:`question_coverage` of the question by the best passage; passage token vectors are cached."""
        index = self.retriever.index
        text = f"{passage.title}. {passage.text}" if passage.title else passage.text
        key = (passage.doc_id, text)
        q_tokens = self.encoder.token_vectors([question])[0]  # alone: batched with the passage it would be padded
        cached = self._token_cache.get(key)
        if cached is None:
            cached = (self.encoder.token_vectors([text])[0], set(bm25_tokenize([text])[0]))
            if len(self._token_cache) >= 512:
                self._token_cache.pop(next(iter(self._token_cache)))
            self._token_cache[key] = cached
        tokens, stems = cached
        return question_coverage(q_tokens, tokens, stems, index.bm25_idf)

    @staticmethod
    def _best_sentence(index: Index, query: str, qvec: np.ndarray, passages: list[Passage], rows: list[int],
                       top: int = 3) -> tuple[str | None, float]:
        """Mark the answering sentence in its passage; return it with the evidence strength used for abstention.

        Sentence vectors come from the index (no encoding at query time).
        Lexical evidence uses *local* IDF: a question word found in every
        candidate sentence (the topic) counts little, one found in a single
        sentence ("co-chaired") counts a lot, and so do words that are not
        already in the release's title.
        """
        candidates: list[tuple[int, int, int, int]] = []  # passage, sentence row, start, end
        for p_i, row in enumerate(rows[:top]):
            for s_row in index.sentence_rows(row):
                _, a, b = (int(x) for x in index.sentence_table[s_row])
                candidates.append((p_i, s_row, a, b))
        if not candidates:
            return None, 0.0
        texts = [passages[p_i].text[a:b] for p_i, _, a, b in candidates]
        sims = index.sentences.reconstruct_batch(np.array([c[1] for c in candidates], dtype=np.int64)) @ qvec
        stems = [set(t) for t in bm25_tokenize(texts)]
        qstems = set(bm25_tokenize([query])[0])
        weight = {t: math.log(1 + len(candidates) / df) for t in qstems if (df := sum(t in s for s in stems))}
        total = sum(weight.values()) or 1.0
        titles = [set(t) for t in bm25_tokenize([p.title for p in passages[:top]])]
        lexical = np.array([
            sum(w * (0.3 if t in titles[c[0]] else 1.0) for t, w in weight.items() if t in s) / total
            for c, s in zip(candidates, stems)
        ])
        cue = np.array([_answer_type_bonus(query, t) for t in texts])
        prior = np.array([-0.05 * c[0] for c in candidates])
        best = int(np.argmax(sims + 0.5 * lexical + cue + prior))
        p_i, _, a, b = candidates[best]
        passages[p_i].answer_start, passages[p_i].answer_end = a, b
        # Evidence: the best dense match, less a penalty for question words the releases never use
        # ("budget", "recipe"): similarity alone rates on-topic but unanswerable questions too high.
        vocab = index.bm25.vocab_dict
        unknown = sum(1 for t in qstems if t not in vocab) / len(qstems) if qstems else 1.0
        confidence = max(float(passages[0].dense_score), float(sims.max())) - UNKNOWN_PENALTY * unknown
        return texts[best], confidence


_CUES = [  # question form -> what its answer looks like
    (re.compile(r"^\s*(?:when|what (?:year|date|day|month)|since when)\b", re.I),
     re.compile(r"\b(?:1[89]\d\d|20\d\d|January|February|March|April|May|June|July|August|September|October|November|December)\b")),
    (re.compile(r"^\s*(?:how (?:many|much|long|old|far)|what (?:number|percentage|share|amount))\b", re.I),
     re.compile(r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|hundred|thousand|million|billion)\b", re.I)),
    (re.compile(r"^\s*(?:who|whom|whose)\b", re.I), re.compile(r"\b[A-Z][a-z]+(?: [A-Z][a-z]+)+\b")),
    (re.compile(r"^\s*where\b", re.I), re.compile(r"\b(?:in|at|from|to) (?:the )?[A-Z][a-z]+")),
]


def _answer_type_bonus(question: str, sentence: str) -> float:
    """A small push for sentences holding the kind of thing the question asks for (a date for "when", ...)."""
    for asks, looks_like in _CUES:
        if asks.search(question):
            found = {m.group(0) for m in looks_like.finditer(sentence)} - {m.group(0) for m in looks_like.finditer(question)}
            return 0.1 if found else 0.0
    return 0.0


def question_coverage(question: tuple[list[str], np.ndarray], passage: tuple[list[str], np.ndarray],
                      passage_stems: set[str], idf: Any) -> tuple[float, list[tuple[str, float]]]:
    """How much of what the question asks about the passage talks about, from 0 to 1; and each word's share.

    Each question word is matched against the passage's words in context (the
    model's token vectors, as BERTScore does): "backing" finds "support",
    "drills" finds "exercises", "budget" finds nothing. A word the passage
    uses (same stem) counts in full. Rare words weigh more (BM25 IDF), question
    and stop words not at all. This is what tells "What was the budget of the
    UN Command?" (on topic, unanswered) from a paraphrase of something stated.
    """
    pieces, q_vectors = question
    words: list[tuple[str, list[int]]] = []
    for i, piece in enumerate(pieces):
        if piece.startswith("##") and words:
            words[-1] = (words[-1][0] + piece[2:], words[-1][1] + [i])
        else:
            words.append((piece, [i]))
    best = (q_vectors @ passage[1].T).max(axis=1) if len(passage[0]) else np.zeros(len(pieces))
    scored: list[tuple[str, float, float]] = []
    for word, rows in words:
        if not any(c.isalnum() for c in word) or stop_word(word):
            continue
        stems = bm25_tokenize([word])[0]
        if not stems:
            continue
        share = 1.0 if stems[0] in passage_stems else float(np.clip(best[rows].mean(), 0.0, 1.0))
        scored.append((word, share, idf(stems[0])))
    if not scored:
        return 1.0, []
    total = sum(w for _, _, w in scored)
    return sum(s * w for _, s, w in scored) / total, [(word, round(s, 3)) for word, s, _ in scored]


_DEFAULT: dict[tuple[str, str, str | None], QA] = {}
_DEFAULT_LOCK = threading.Lock()


def ask(
    question: str,
    k: int = 5,
    history: Sequence[str] | None = None,
    *,
    corpus: str | Path | None = None,
    index: str | Path | None = None,
    model: str | None = None,
    since: str | None = None,
    until: str | None = None,
    source: str | None = None,
) -> Answer:
    """Answer one question from the releases, building the index on first use if it is missing.

    >>> from qa import ask
    >>> ask("Who co-chaired the 2nd ROK-UNCMS Defense Ministerial Meeting?").passages[0].title
    'ROK-UNCMS Defense Ministerial Meeting Statement Released'
    """
    key = (str(corpus or DEFAULT_CORPUS), str(index or DEFAULT_INDEX), model)
    with _DEFAULT_LOCK:
        session = _DEFAULT.get(key) or _DEFAULT.setdefault(key, QA(corpus, index, model))
    return session.ask(question, k, history, since=since, until=until, source=source)
