"""When two files hold the same release: near-duplicate texts that agree on their facts.

Syndicated copies of a release (the ministry's page, a wire's repost) differ in headers, footers and
disclaimers; they are indexed once and cited with every copy. A copy with other names, numbers or
places is another text, however close its wording: it is kept and cited apart. :func:`same_facts`
decides, sentence by sentence: where a sentence of one text is the same sentence in the other with
its facts changed -- numbers, capitalised words inside it (names, places, organisations) -- the texts
disagree. What only one of them says (a header, an "About" paragraph) does not count, nor do short
lines (bylines, labels).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from . import linear as re
from .chunking import sentence_spans

__all__ = ["JACCARD", "facts", "near_copies", "same_facts"]

JACCARD = 0.7  # word 3-shingle similarity from which two releases are near copies
_LONG = 12  # words: shorter paragraphs are headers, bylines and labels
_SAME_SENTENCE = 0.5  # word Jaccard from which two sentences are one sentence, edited
_PUNCT = "\"'“”‘’()[]{},.;:!?–—-"


def _sentences(text: str) -> list[str]:
    out: list[str] = []
    for para in text.split("\n\n"):
        if len(para.split()) >= _LONG:
            out.extend(para[a:b] for a, b in sentence_spans(para))
    return out


def _words(sentence: str) -> list[str]:
    return [w for w in (w.strip(_PUNCT) for w in sentence.split()) if w]


_PIECE = re.compile(r"[^\W\d_]+|\d[\d,.]*\d|\d")  # a run of letters, or a number ("4,000", "2.5")


def _pieces(word: str) -> list[str]:
    """How a fact is compared: names by their parts, numbers without thousands separators, in lower case
    ("TI-CPI" is "ti", "cpi"; a footnote mark glued to a word, "rate[2", is "rate" and "2")."""
    return [p.replace(",", "") if p[0].isdigit() else p.lower() for p in _PIECE.findall(word)]


def facts(sentence: str) -> set[str]:
    """Numbers, and capitalised words that do not start the sentence: names, places, organisations, amounts."""
    out: set[str] = set()
    for i, w in enumerate(_words(sentence)):
        capital = i > 0 and w[0].isupper()
        out.update(p for p in _pieces(w) if p[0].isdigit() or capital)
    return out


def _vocabulary(text: str) -> set[str]:
    return {piece for w in _words(text) for piece in _pieces(w)}


def same_facts(a: str, b: str) -> bool:
    """Whether two near-identical texts agree: no sentence of one is a sentence of the other with its facts
    replaced -- each side naming a number, name or place the other text never mentions. Sentences only one
    of them has (a wire's header, an "About" paragraph, a footer) do not count."""
    words_a, words_b = _vocabulary(a), _vocabulary(b)
    theirs = [({w.lower() for w in _words(s)}, facts(s) - words_a, s) for s in _sentences(b)]
    for sentence in _sentences(a):
        words, mine = {w.lower() for w in _words(sentence)}, facts(sentence) - words_b
        if not mine or not words:
            continue
        for other_words, other_facts, other in theirs:
            if other_facts and other != sentence and len(words & other_words) / len(words | other_words) >= _SAME_SENTENCE:
                return False
    return True


def _hashes(signature: str) -> np.ndarray:
    return np.frombuffer(bytes.fromhex(signature), dtype="<u4")


def near_copies(signature: str, signatures: Mapping[str, str], threshold: float = JACCARD) -> list[str]:
    """The files whose MinHash signature estimates a Jaccard similarity of at least ``threshold``, closest first."""
    if not signature:
        return []
    mine = _hashes(signature)
    close = []
    for source, other in signatures.items():
        theirs = _hashes(other)
        if len(theirs) == len(mine):
            similarity = float(np.mean(mine == theirs))
            if similarity >= threshold:
                close.append((-similarity, source))
    return [source for _, source in sorted(close)]
