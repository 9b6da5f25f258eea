"""Follow-up questions without an LLM: which questions lean on an earlier one, and which topic they carry.

A question asked after others is a follow-up when it opens with a connective ("And who ...", "What about ..."),
leans on a pronoun without naming a topic of its own ("Who co-chaired it?"), or is short and names nothing
("when did the convention enter into force?"). Existential "there" ("How many states are there?") is not a
reference, and a question naming something ("How many UNC member states are there?") is self-contained.
A self-contained question never carries earlier words. A follow-up carries only its antecedent's
topic: the last earlier question, itself resolved when it was a follow-up too -- never every earlier question.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = [
    "CARRY_WEIGHT",
    "ELLIPSIS",
    "NONE",
    "REFERENCE",
    "antecedent_topic",
    "carry_weight",
    "content_words",
    "followup_kind",
    "is_followup",
    "leans_on_earlier",
    "resolve_followup",
    "stop_word",
]

CARRY_WEIGHT = 0.5  # how much the earlier topic counts for a follow-up with one or two words of its own

_PRONOUNS = frozenset(
    [
        "it",
        "its",
        "they",
        "them",
        "their",
        "theirs",
        "he",
        "him",
        "his",
        "she",
        "her",
        "this",
        "that",
        "these",
        "those",
        "there",
        "such",
    ]
)
_FUNCTION_WORDS = frozenset(
    [
        "who",
        "whom",
        "whose",
        "what",
        "which",
        "when",
        "where",
        "why",
        "how",
        "and",
        "also",
        "about",
        "did",
        "does",
        "do",
        "was",
        "were",
        "is",
        "are",
        "be",
        "been",
        "has",
        "have",
        "had",
        "will",
        "would",
        "can",
        "could",
        "should",
        "may",
        "might",
        "the",
        "a",
        "an",
        "of",
        "in",
        "on",
        "at",
        "to",
        "for",
        "with",
        "by",
        "from",
        "as",
        "tell",
        "me",
        "please",
        "say",
        "said",
        "else",
        "other",
        "more",
        "many",
        "much",
    ]
)
_CONNECTIVES = ("and", "also", "but", "so")
SHORT = 7  # content words up to which a question naming nothing of its own is read as a follow-up
_WORD = re.compile(r"[\w][\w'’-]*")
_EXISTENTIAL = re.compile(
    r"\b(?:(?:is|are|was|were|will|would)\s+there\b|there\s+(?:is|are|was|were|will|would|have|has)\b)", re.I
)


def stop_word(word: str) -> bool:
    """A question word, pronoun or function word: says nothing about the topic."""
    return word.lower() in _FUNCTION_WORDS or word.lower() in _PRONOUNS


def content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text) if not stop_word(w) and len(w) > 1]


def _names_a_topic(question: str) -> bool:
    """A capitalised word or acronym past the first word names something ("the UNC", "Jane Smith")."""
    words = _WORD.findall(question)
    return any(w[0].isupper() and w.lower() not in _PRONOUNS and w.lower() not in _FUNCTION_WORDS for w in words[1:])


ELLIPSIS = "ellipsis"  # cannot stand alone: opens with a connective ("and who ...", "what about ...") or names nothing
REFERENCE = "reference"  # may lean on an earlier question: a pronoun without a name of its own, or short and naming nothing
NONE = "none"  # self-contained


def _elliptic(question: str) -> bool:
    """A connective first ("And who ...", "so when ...", "what about ...") or one content word at most ("Who else attended?")."""
    words = [w.lower() for w in _WORD.findall(question)]
    if not words:
        return False
    if words[0] in _CONNECTIVES or question.lower().lstrip().startswith(("what about", "how about")):
        return True
    return len(content_words(question)) <= 1


def followup_kind(question: str) -> str:
    """How a question asked after others leans on them: ELLIPSIS (it cannot be read alone), REFERENCE (a pronoun, a
    demonstrative or a short question naming nothing: it may lean on the earlier question, or name its own topic in
    lower case -- retrieval decides, :mod:`qa.ranking.pipeline`) or NONE."""
    if _elliptic(question):
        return ELLIPSIS
    return REFERENCE if is_followup(question) else NONE


def leans_on_earlier(question: str) -> bool:
    """Plainly a follow-up: a connective first, one content word at most, or a pronoun and no name of its own."""
    if _elliptic(question):
        return True
    text = _EXISTENTIAL.sub(" ", question)
    return any(w.lower() in _PRONOUNS for w in _WORD.findall(text)) and not _names_a_topic(text)


def is_followup(question: str) -> bool:
    """Whether a question asked after others leans on them: plainly so, or a short question naming nothing of its
    own ("when did the convention enter into force?"). A question naming a topic ("How many UNC member states are
    there?") or saying much is self-contained."""
    if leans_on_earlier(question):
        return True
    return not _names_a_topic(_EXISTENTIAL.sub(" ", question)) and len(content_words(question)) <= SHORT


def carry_weight(question: str) -> float:
    """The less a follow-up says itself, the more the earlier topic counts.

    "Who co-chaired it?" is all topic; "Which country joined it as the 18th member?"
    carries its own answer words, and a full-strength topic pulls it back to the
    earlier question's paragraph. Chosen on the dev split of eval/seed_qa.jsonl.
    """
    return CARRY_WEIGHT * min(1.0, 2 / max(len(content_words(question)), 1))


def antecedent_topic(history: Sequence[str]) -> str:
    """The topic a follow-up carries: the last earlier question's content words, with its own antecedent's when it
    was a follow-up itself."""
    history = [h for h in history if h and h.strip()]
    if not history:
        return ""
    last = history[-1]
    words = content_words(last)
    if leans_on_earlier(last):
        words += content_words(antecedent_topic(history[:-1]))
    return " ".join(dict.fromkeys(words))


def resolve_followup(question: str, history: Sequence[str]) -> tuple[str, bool]:
    """(query to search, whether history was used). A self-contained question is left alone."""
    if not is_followup(question):
        return question, False
    seen = {w.lower() for w in content_words(question)}
    carried = [w for w in antecedent_topic(history).split() if w.lower() not in seen]
    return (f"{question} {' '.join(carried)}" if carried else question), bool(carried)
