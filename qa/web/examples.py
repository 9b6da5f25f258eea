"""Example questions a reader would ask, each drawn from one sentence of an indexed release.

A sentence is turned into a question by its grammar alone (no word lists of any
data set): "X was co-chaired by Y" → "Who co-chaired X?"; "X was held on/in …"
→ "When/Where was X held?"; "X cost …" → "How much did X cost?"; "The Harbour
Authority opened a new terminal …" → "Which authority opened a new terminal …?". A candidate is kept only when the
session answers it with the very sentence it came from, so every example shown
teaches what a good question gets: its sentence, marked and cited.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ..chunking import sentence_spans

__all__ = ["Example", "candidate_questions", "pick_examples"]

_SUBJECT = r"(?P<subj>(?:[A-Z][\w'’.-]*|[Tt]he|[Aa]n?)(?: [\w'’.&-]+){0,9}?)"
_PASSIVE_BY = re.compile(rf"^{_SUBJECT} (?:was|were) (?P<verb>[a-z-]+ed) by \S")
_HELD = re.compile(rf"^{_SUBJECT} (?:was|were|will be) held (?P<prep>on|in) (?P<what>\S)")
_COST = re.compile(rf"^{_SUBJECT} (?:cost|costs) \S")
_ACTIVE = re.compile(
    rf"^{_SUBJECT} (?P<verb>[a-z]+ed|said|held|became|met|made|took|gave|won|began|led|built|sent|set|spent|"
    rf"signed|announced|launched) (?P<obj>[^,;:()]+)"
)
_CUT = re.compile(r" (?:that|which|who|whose|where|while|because|after|before|since|as well as|in order to) ")
_MAX_SUBJECT = 90
_MAX_OBJECT_WORDS = 12


@dataclass(frozen=True)
class Example:
    """A question and the release sentence that answers it."""

    question: str
    sentence: str
    source: str


def _subject(text: str) -> str | None:
    text = text.strip()
    if not 3 <= len(text) <= _MAX_SUBJECT or text.lower() in {"it", "they", "he", "she", "this", "we"}:
        return None
    if re.search(r"\b(?:was|were|is|are|has|have|had|will)\b|\d", text):  # a clause, not a subject
        return None
    first, _, rest = text.partition(" ")
    return f"{first.lower()} {rest}".strip() if first in {"The", "A", "An"} else text


def _asker(subject: str) -> str:
    """ "The Valley Bridge" -> "Which bridge" (a named thing is asked for by its kind); anyone else -> "Who"."""
    words = subject.split()
    if len(words) >= 2 and words[0] == "The" and all(w[:1].isupper() for w in words[1:]) and words[-1].isalpha():
        return f"Which {words[-1].lower()}"
    return "Who"


def candidate_questions(sentence: str) -> list[str]:
    """Questions this sentence answers, by its grammar; [] when none fits."""
    s = " ".join(sentence.split())
    out: list[str] = []
    if m := _PASSIVE_BY.match(s):
        subj = _subject(m["subj"])
        if subj:
            out.append(f"Who {m['verb']} {subj}?")
    if m := _HELD.match(s):
        subj = _subject(m["subj"])
        if subj and (m["prep"] == "on" or m["what"].isupper()):
            out.append(f"{'When' if m['prep'] == 'on' else 'Where'} was {subj} held?")
    if m := _COST.match(s):
        subj = _subject(m["subj"])
        if subj:
            out.append(f"How much did {subj} cost?")
    if (m := _ACTIVE.match(s)) and not re.match(r"(?:was|were|is|are|has|have|had|in|on|at|by|for|to|from|with)\b", m["obj"]):
        obj = _CUT.split(m["obj"].rstrip(". "), maxsplit=1)[0].split()
        if 3 <= len(obj) <= _MAX_OBJECT_WORDS and _subject(m["subj"]):
            out.append(f"{_asker(m['subj'])} {m['verb']} {' '.join(obj)}?")
    return out


def _sentences(paragraphs: Iterable[str]) -> Iterable[str]:
    for para in paragraphs:
        for start, end in sentence_spans(para):
            sentence = para[start:end].strip()
            if 40 <= len(sentence) <= 400:
                yield re.sub(r"^\(?\d{1,2}[.)]\s+|^[o•▪-]\s+", "", sentence)


def _same(a: str, b: str) -> bool:
    norm = lambda t: " ".join(t.split()).strip(" .").lower()  # noqa: E731
    x, y = norm(a), norm(b)
    return bool(x and y) and (x == y or x in y or y in x)


def pick_examples(
    sources: Sequence[str],
    paragraphs: Callable[[str], list[str]],
    answer: Callable[[str], str | None],
    n: int = 4,
    budget: int = 16,
) -> list[Example]:
    """Up to ``n`` examples from the releases in ``sources`` (newest first), one per release, each checked by asking.

    ``answer(question)`` is the session's answer sentence (None when it has none); at most ``budget`` questions
    are asked in all, so the check stays a few seconds whatever the library's size.
    """
    out: list[Example] = []
    asked = 0
    for source in sources:
        if len(out) >= n or asked >= budget:
            break
        for sentence in _sentences(paragraphs(source)):
            questions = candidate_questions(sentence)
            if not questions or asked >= budget:
                continue
            asked += 1
            got = answer(questions[0])
            if got and _same(got, sentence) and all(e.question != questions[0] for e in out):
                out.append(Example(questions[0], sentence, source))
                break
    return out
