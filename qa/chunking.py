"""Stage 2: releases -> paragraph chunks, their sentences, and the text each is embedded and indexed as.

One chunk per paragraph, so a citation points at something a reader can find.
Fragments too short to stand alone join a neighbour; paragraphs longer than the
model's window split at sentence boundaries; scrapes with no paragraph breaks
become overlapping sentence windows. The stored text is always a span of the
release as written; only the *embedded* text may carry the title as context.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import linear as re
from .config import ChunkConfig
from .corpus import Release

__all__ = [
    "Chunk",
    "Sentences",
    "approx_tokens",
    "chunk_release",
    "content_key",
    "embed_text",
    "sentence_spans",
    "sentence_table",
    "sentences_at",
]

TokenCounter = Callable[[str], int]

_WORD_OR_PUNCT = re.compile(r"\w+|[^\w\s]")


def approx_tokens(text: str) -> int:
    """Word-piece estimate (about 1.2 pieces per word or mark) for when no tokenizer is at hand."""
    return math.ceil(len(_WORD_OR_PUNCT.findall(text)) * 1.2)


def embed_text(title: str, text: str, cfg: ChunkConfig) -> str:
    """What is embedded (and indexed by BM25) for a passage or sentence: the title gives it context."""
    return f"{title}\n{text}" if cfg.title_in_embedding and title else text


def content_key(text: str) -> str:
    """Content hash of embedded text: equal keys share a vector, so unchanged text is never re-embedded."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Chunk:
    """A passage as stored: row *i* of the chunk store is vector *i* of the FAISS index."""

    doc_id: str
    source: str
    title: str
    date: str | None
    section: str | None
    paragraph: int  # 1-based paragraph number in the cleaned release
    part: int  # 0 for a whole paragraph; 1, 2, ... for windows of a long one
    text: str
    embed_text: str
    organisation: str | None = None
    language: str | None = None
    also_in: tuple[str, ...] = ()  # other files holding the same release (syndicated copies)

    @property
    def key(self) -> str:
        """:func:`content_key` of what is embedded."""
        return content_key(self.embed_text)


# ------------------------------------------------------------------ sentences

# Titles before a name ("Sen.", "Dr."): a paragraph that ends in one is cut off from the name that follows.
_TITLES = frozenset("adm amb capt cmdr col dr gen gov hon lt mr mrs ms pres prof rep reps sen sens sgt st".split())
# Abbreviations whose full stop ends no sentence: the titles and the rest.
_ABBREVIATIONS = _TITLES | frozenset(
    "jr sr inc corp co ltd llc no nos vs etc e.g i.e u.s u.k u.n e.u jan feb mar apr jun jul aug"
    " sep sept oct nov dec dept est approx fig p pp vol ft rev min sec gov't a.m p.m".split()
)
# A sentence ends at its marks and closing quotes (group "end"), before space and a capital or digit.
_SENTENCE_END = re.compile(r"[.!?]+[\"”’')\]]*(?P<end>\s+)[\"“‘'(\[]?[A-Z0-9]")
_SPACES = (" ", "\n", "\t")


def _last_word(text: str, start: int, stop: int) -> str:
    """The word ending at ``stop`` (not before ``start``), found by looking back only over that word."""
    begin = max(text.rfind(space, start, stop) for space in _SPACES) + 1
    return text[max(begin, start) : stop]


def _is_title(word: str) -> bool:
    """A title before a name ("Sen.", "Dr"): a line or paragraph ending in one runs on into the name."""
    return word.lower().rstrip(".") in _TITLES


def _lines(text: str) -> list[tuple[int, int]]:
    """(start, end) spans of the paragraphs a chunk joined with ``\n`` (a heading, a lead-in, a short closing line);
    a line cut after a title ("… said Sen.") runs on into the name on the next one."""
    spans: list[tuple[int, int]] = []
    start = 0
    for m in re.finditer(r"\n", text):
        if not _is_title(_last_word(text, start, m.start())):
            spans.append((start, m.start()))
            start = m.end()
    spans.append((start, len(text)))
    return spans


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) character spans of the sentences in ``text``; abbreviations and initials do not end one, a line
    break does (a heading is never glued to the sentence under it).

    Linear in the text: each candidate end looks back only over its own word.
    """
    spans: list[tuple[int, int]] = []
    for line_start, line_end in _lines(text):
        line = text[line_start:line_end]
        spans.extend((line_start + a, line_start + b) for a, b in _line_sentences(line))
    return spans


def _line_sentences(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    start = after_previous = 0  # where the current sentence starts; where the word before this end can start
    for m in _SENTENCE_END.finditer(text):
        end, word_start, after_previous = m.start("end"), after_previous, m.end("end")
        if text[m.start()] == ".":
            last = _last_word(text, word_start, m.start() + 1).lower().rstrip(".").lstrip("(\"“'")
            if last in _ABBREVIATIONS or (len(last) == 1 and "a" <= last <= "z"):  # an initial
                continue
        spans.append((start, end))
        start = after_previous
    if start < len(text.rstrip()):
        spans.append((start, len(text.rstrip())))
    return spans


# -------------------------------------------------------------------- windows


def _word_windows(words: list[str], size: int, overlap: int) -> list[str]:
    """Windows of ``size`` words, each sharing ``overlap`` with the one before; the last ends at the text's end, full size."""
    if len(words) <= size:
        return [" ".join(words)]
    step = max(1, size - overlap)
    starts = list(range(0, len(words) - size + 1, step))
    if starts[-1] + size < len(words):
        starts.append(len(words) - size)  # never a tail fragment
    return [" ".join(words[s : s + size]) for s in starts]


def _split_long(text: str, cfg: ChunkConfig, count: TokenCounter) -> list[str]:
    """Cut a paragraph over the budget into sentence windows (word windows when a 'sentence' is itself too long).

    Text with no paragraph breaks (a whole release scraped into one line) becomes
    windows of ``window_tokens`` that overlap by ``window_overlap``, so a fact
    stated across a boundary is whole in one of them; the last window is pulled
    back to full size instead of leaving a fragment of a few words.
    """
    total = count(text)
    breakless = total > 2 * cfg.max_tokens  # over ~330 words
    target = cfg.window_tokens if breakless else math.ceil(total / math.ceil(total / cfg.max_tokens))
    overlap = cfg.window_overlap if breakless else 0
    pieces: list[str] = []
    for a, b in sentence_spans(text):
        sentence = text[a:b]
        n = count(sentence)
        if n <= target:
            pieces.append(sentence)
        else:
            words = sentence.split()
            per = max(20, int(len(words) * target / n))
            pieces.extend(_word_windows(words, per, per // 4))
    sizes = [count(p) for p in pieces]
    windows: list[tuple[int, int]] = []  # [first, last) piece of each window
    i = 0
    while i < len(pieces):
        j, size = i, 0
        while j < len(pieces) and (j == i or size + sizes[j] <= target):
            size += sizes[j]
            j += 1
        windows.append((i, j))
        if j >= len(pieces):
            break
        k, back = j, 0  # the next window starts with this one's last pieces, up to `overlap` tokens
        while overlap and k - 1 > i and back + sizes[k - 1] <= overlap:
            k -= 1
            back += sizes[k]
        i = k
    if len(windows) > 1 and sum(sizes[windows[-1][0] : windows[-1][1]]) < target // 2:
        first, last = windows[-1]  # a tail: start it earlier so it is a full window
        while first > windows[-2][0] + 1 and sum(sizes[first - 1 : last]) <= target:
            first -= 1
        windows[-1] = (first, last)
    return [" ".join(pieces[a:b]) for a, b in windows]


def leads_on(para: str, min_words: int) -> bool:
    """A paragraph that is not finished: a short lead-in ending in a colon ("The projects include:",
    "Statement on the nomination:"), or a line cut after a title ("… the nomination of Rep.")."""
    words = para.split()
    return bool(words) and ((para.endswith(":") and len(words) <= 4 * min_words) or _is_title(words[-1]))


def _merge_fragments(paragraphs: tuple[str, ...], min_words: int) -> list[tuple[int, str]]:
    """Join paragraphs of fewer than ``min_words`` words, and unfinished ones (:func:`leads_on`), to a neighbour.

    A fragment that ends a sentence ("Thanks.") closes the paragraph before it;
    one that does not (a heading, "Background:") leads into the next one. The chunk keeps
    the number of the paragraph that holds its text (the one after a heading), because that
    is where a reader counting the release's paragraphs finds the cited words.
    """
    merged: list[tuple[int, str]] = []
    carry: tuple[int, str] | None = None
    for number, para in enumerate(paragraphs, start=1):
        if carry:
            para = carry[1] + "\n" + para  # a heading joins the paragraph it heads, which keeps its own number
            carry = None
        if leads_on(para, min_words) and number < len(paragraphs):
            carry = (number, para)
        elif len(para.split()) >= min_words:
            merged.append((number, para))
        elif merged and para[-1:] in '.!?"”)':
            prev_number, prev = merged.pop()
            merged.append((prev_number, prev + "\n" + para))
        else:
            carry = (number, para)
    if carry:
        if merged:
            number, para = merged.pop()
            merged.append((number, para + "\n" + carry[1]))
        else:
            merged.append(carry)
    return merged


def chunk_release(release: Release, cfg: ChunkConfig = ChunkConfig(), count_tokens: TokenCounter = approx_tokens) -> list[Chunk]:
    chunks: list[Chunk] = []
    for number, para in _merge_fragments(release.paragraphs, cfg.min_words):
        parts = [para] if count_tokens(para) <= cfg.max_tokens else _split_long(para, cfg, count_tokens)
        for i, text in enumerate(parts, start=1 if len(parts) > 1 else 0):
            chunks.append(
                Chunk(
                    release.doc_id,
                    release.source,
                    release.title,
                    release.date,
                    release.section,
                    number,
                    i,
                    text,
                    embed_text(release.title, text, cfg),
                    release.organisation,
                    release.language,
                )
            )
    return chunks


@dataclass
class Sentences:
    """Every sentence of every chunk, in chunk order: what the sentence vectors are built from."""

    table: np.ndarray  # (n, 3) int32: chunk row, start, end (character offsets in the chunk text)
    keys: list[str]
    texts: list[str]


def sentence_table(chunks: list[Chunk], cfg: ChunkConfig) -> Sentences:
    """Every chunk's sentences, as :func:`sentence_spans` splits them now."""
    rows = [(row, a, b) for row, chunk in enumerate(chunks) for a, b in sentence_spans(chunk.text) or [(0, len(chunk.text))]]
    return sentences_at(chunks, np.asarray(rows, dtype=np.int32).reshape(-1, 3), cfg)


def sentences_at(chunks: list[Chunk], table: np.ndarray, cfg: ChunkConfig) -> Sentences:
    """The sentences a table of (chunk row, start, end) names: an index's stored table gives the sentences its
    vectors were embedded from, however the splitting has changed since."""
    texts = [embed_text(chunks[row].title, chunks[row].text[a:b], cfg) for row, a, b in table.tolist()]
    return Sentences(table, [content_key(text) for text in texts], texts)
