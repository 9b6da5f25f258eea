"""Beside how similar a candidate sentence is: whether it holds the thing the question asks about, and which of
the question's words its passage and release lack.

- **Focus**: "How many *prosecutions*…", "Which *conference*…", "What maximum annual *intake*…": the words right
  after the question word name the thing asked about. The answer sentence usually holds them, and for a number,
  an amount or a date, holds them next to the number (“more than 1,700 prosecutions”).
- **Missing words**: the rarest question word that a passage or a whole release does not hold. A question about
  something the archive never mentions ("… with Canada?") finds an on-topic release that lacks exactly that word.

The words that end a focus are bm25s's longer English stop-word list (NLTK's) and the modal verbs; nothing here
names words of a question set.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np

from .. import linear as re
from ..store.lexical import bm25_tokenize, function_words

__all__ = ["focus_stems", "missing_columns", "near_columns"]

# The thing asked about follows "how many / how much / which / what" (up to three words, cut at a function word).
_FOCUS = re.compile(r"\b(?:how\s+(?:many|much)|which|what)\s+([A-Za-z][\w'’-]*(?:\s+[A-Za-z][\w'’-]*){0,2})", re.IGNORECASE)
_NEAR = 40  # characters either side of a number, amount or date that count as "next to it"


_AUXILIARIES = frozenset("would shall could may might must".split())  # the modal verbs the stop-word list lacks


@functools.cache
def _function_words() -> frozenset[str]:
    return function_words() | _AUXILIARIES


def focus_stems(question: str) -> list[str]:
    """Stems of the words naming what the question asks about ("How many prosecutions had…" -> ["prosecut"])."""
    m = _FOCUS.search(question)
    if not m:
        return []
    function = _function_words()
    words = []
    for word in m.group(1).split():
        if word.lower() in function:
            break
        words.append(word)
    return list(dict.fromkeys(t for toks in bm25_tokenize([" ".join(words)]) for t in toks)) if words else []


def near_columns(
    texts: Sequence[str],
    stems: Sequence[set[str]],
    focus: list[str],
    things: Callable[[str], list[tuple[int, int]]] | None,
) -> dict[str, np.ndarray]:
    """focus_in: the share of the focus stems the sentence holds; focus_near: whether one of them stands within a
    few words of a thing of the asked kind (``things`` gives their spans: a number for "how many", an amount for
    "how much", ...)."""
    n = len(texts)
    if not focus:
        return {"focus_in": np.full(n, np.nan, dtype=np.float32), "focus_near": np.full(n, np.nan, dtype=np.float32)}
    wanted = set(focus)
    focus_in = np.array([len(wanted & s) / len(wanted) for s in stems], dtype=np.float32)
    near = np.zeros(n, dtype=np.float32)
    if things is not None:
        windows: list[tuple[int, str]] = []
        for i, text in enumerate(texts):
            if focus_in[i] == 0:
                continue
            for start, end in things(text):
                windows.append((i, text[max(0, start - _NEAR) : end + _NEAR]))
        for (i, _), toks in zip(windows, bm25_tokenize([w for _, w in windows]), strict=True):
            if wanted & set(toks):
                near[i] = 1.0
    return {"focus_in": focus_in, "focus_near": near}


def missing_columns(
    wanted: list[str],
    idf: dict[str, float],
    sentence: Sequence[set[str]],
    passage: Sequence[set[str]],
    release: Sequence[set[str]],
) -> dict[str, np.ndarray]:
    """The rarest question word each sentence, passage and release lacks: its IDF over the question's rarest word's
    (0 when it holds every question word)."""
    top = max((idf[t] for t in wanted), default=0.0) or 1.0

    def column(stems: Sequence[set[str]]) -> np.ndarray:
        return np.array([max((idf[t] for t in wanted if t not in s), default=0.0) / top for s in stems], dtype=np.float32)

    return {"s_miss": column(sentence), "p_miss": column(passage), "r_miss": column(release)}
