"""Follow-up questions ("Who co-chaired it?") resolved without an LLM.

When a question is short or leans on a pronoun, the content words of the earlier questions are added to it, so
both retrievers see the topic again; the less the follow-up says itself, the more the earlier topic counts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["CARRY_WEIGHT", "carry_weight", "content_words", "is_followup", "resolve_followup", "stop_word"]

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
_QUESTION_WORDS = frozenset(
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
_WORD = re.compile(r"[\w][\w'’-]*")


def stop_word(word: str) -> bool:
    """A question word, pronoun or function word: says nothing about the topic."""
    return word.lower() in _QUESTION_WORDS or word.lower() in _PRONOUNS


def content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text) if not stop_word(w) and len(w) > 1]


def is_followup(question: str) -> bool:
    """Short, pronoun-led or 'And ...'/'What about ...' questions lean on what came before."""
    words = [w.lower() for w in _WORD.findall(question)]
    if not words:
        return False
    leading = words[0] in {"and", "also", "but", "so"} or question.lower().startswith(("what about", "how about"))
    has_pronoun = any(w in _PRONOUNS for w in words)
    return leading or (has_pronoun and len(content_words(question)) <= 4) or len(content_words(question)) <= 1


def carry_weight(question: str) -> float:
    """The less a follow-up says itself, the more the earlier topic counts.

    "Who co-chaired it?" is all topic; "Which country joined it as the 18th member?"
    carries its own answer words, and a full-strength topic pulls it back to the
    earlier question's paragraph. Chosen on the dev split of eval/seed_qa.jsonl.
    """
    return CARRY_WEIGHT * min(1.0, 2 / max(len(content_words(question)), 1))


def resolve_followup(question: str, history: Sequence[str]) -> tuple[str, bool]:
    """(query to search, whether history was used). A self-contained question is left alone."""
    history = [h for h in history if h and h.strip()]
    if not history or not is_followup(question):
        return question, False
    carried: list[str] = []
    seen = {w.lower() for w in content_words(question)}
    for earlier in reversed(history[-3:]):  # the topic lives in the latest self-contained question
        for w in content_words(earlier):
            if w.lower() not in seen:
                seen.add(w.lower())
                carried.append(w)
        if not is_followup(earlier):
            break
    return (f"{question} {' '.join(carried)}" if carried else question), bool(carried)
