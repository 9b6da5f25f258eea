"""When two files hold the same release: near-duplicate texts that agree on their facts.

Syndicated copies of a release (the ministry's page, a wire's repost) differ in headers, footers and
disclaimers; they are indexed once and cited with every copy. A copy with other names, numbers or
places is another text, however close its wording: it is kept and cited apart. :func:`same_facts`
decides, from the facts each text states -- numbers, and capitalised words inside sentences (names,
places, organisations): copies may differ in what one of them adds, never in facts each has and
the other lacks. Short lines (headers, bylines, labels) do not count.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .chunking import sentence_spans

__all__ = ["JACCARD", "facts", "near_copies", "same_facts"]

JACCARD = 0.7  # word 3-shingle similarity from which two releases are near copies
_LONG = 12  # words: shorter paragraphs are headers, bylines and labels
_PUNCT = "\"'“”‘’()[]{},.;:!?–—-"


def facts(text: str) -> set[str]:
    """Numbers and capitalised words that do not start a sentence, in paragraphs of running text."""
    out: set[str] = set()
    for para in text.split("\n\n"):
        if len(para.split()) < _LONG:
            continue
        for a, b in sentence_spans(para):
            words = [w.strip(_PUNCT) for w in para[a:b].split()]
            out.update(w for w in words[1:] if w and (w[0].isupper() or any(ch.isdigit() for ch in w)))
            if words and words[0] and any(ch.isdigit() for ch in words[0]):
                out.add(words[0])
    return out


def same_facts(a: str, b: str) -> bool:
    """Whether two near-identical texts agree: neither states a fact the other replaces with another."""
    fa, fb = facts(a), facts(b)
    return not (fa - fb) or not (fb - fa)


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
