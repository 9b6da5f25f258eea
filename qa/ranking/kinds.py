"""What a question asks for (a date, a number, an amount of money, a person, a place, an organisation), and how
surely a sentence holds such a thing.

The question's kind comes from its wh-word and shape ("how many", "when", "who"). A sentence holds a thing of
that kind surely (1), only weakly (0.5) or not at all (0):

- a **date**: a day with its month ("on 9 April 2012", "September 30") or a month with its year surely; a bare
  year or month weakly (the year in a law's name, "the Act 2020", dates no event);
- a **number**: a count or a measure ("over 300 visitors", "eleven proposals", "70%") surely; digits that
  belong only to a date, a year, an ordinal, a numbered label ("Section 3", "No. 2") or a name ("COVID-19") weakly;
- a **person**: a name next to a title ("Mr John Tan", "Professor Ada Lim", "Ada Lim, the Minister of …")
  surely; any two capitalised words in a row weakly ("Trade Agreement" is two);
- money, a place, an organisation: surely or not at all.

Every pattern is a generic shape of English text, not a word list taken from a question set.
"""

from __future__ import annotations

from collections.abc import Callable

from .. import linear as re
from .dates import MONTH, YEAR

__all__ = ["KINDS", "MONEY", "NAME", "NUMBER", "ORG", "PLACE", "answer_kind", "question_kind", "things"]

KINDS = ("date", "number", "money", "person", "place", "organisation", "other")
_ASKS: list[tuple[str, re.Pattern]] = [  # the question's form -> the kind of thing its answer is
    ("date", re.compile(r"\b(?:when|what (?:year|date|day|month|time)|which (?:year|date|day|month)|since when|how long ago)\b")),
    ("money", re.compile(r"\bhow much\b.*\b(?:cost|costs|fee|fees|pay|paid|price|worth|fund|funding|budget|spend|spent)\b")),
    ("money", re.compile(r"\bhow much (?:money|funding)\b")),
    (
        "number",
        re.compile(r"\b(?:how (?:many|much|long|old|far|big|large)|what (?:number|percentage|proportion|share|amount))\b"),
    ),
    ("person", re.compile(r"\b(?:who|whom|whose)\b")),
    ("place", re.compile(r"\b(?:where|which (?:country|city|venue|place|state))\b")),
    ("organisation", re.compile(r"\bwhich (?:organisation|organization|agency|ministry|firm|company|body|department|court)\b")),
]

_NUMBER_WORDS = (
    r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|"
    r"eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundreds?|thousands?|millions?|"
    r"billions?|dozens?|half"
)
NUMBER = re.compile(
    rf"\d|\b(?:{_NUMBER_WORDS}|first|second|third|fourth|fifth)\b",
    re.IGNORECASE,
)
# A count or measure: digits not glued to a letter or hyphen before them ("COVID-19", "G20") and not an ordinal
# ("3rd"), or a number word. Whether it sits inside a date or a numbered label is decided by span (see _quantities).
_CARDINAL = re.compile(
    rf"(?:^|[^\w\-/.])(?P<n>\d[\d,]*(?:\.\d+)?)(?P<ord>st|nd|rd|th)?\b|\b(?P<w>{_NUMBER_WORDS})\b", re.IGNORECASE
)
_LABEL = re.compile(
    r"\b(?:Section|Sections|Article|Articles|Rule|Rules|Regulation|Part|Chapter|Annex|Schedule|Clause|Item|Paragraph|"
    r"para|No|Nos|Vol|Page|Act|Bill|Order)\.?\s+\d[\d\w]*|^\s*\(?\d{1,3}[.)]\s",
    re.IGNORECASE,
)
_MONTHS = MONTH.pattern.removeprefix(r"\b(?:").removesuffix(r")\b")
_FULL_DATE = re.compile(
    rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:{_MONTHS})\b|\b(?:{_MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?\b|"
    rf"\b(?:{_MONTHS})\.?,?\s+(?:1[89]\d\d|20\d\d)\b|\b\d{{1,2}}/\d{{1,2}}/\d{{2,4}}\b|\b\d{{4}}-\d\d-\d\d\b"
)
MONEY = re.compile(
    r"[$€£¥]\s?\d|\b\d[\d,.]*\s?(?:million|billion|dollars?|euros?|pounds?|cents?)\b|\b[A-Z]{2,3}\$", re.IGNORECASE
)
NAME = re.compile(
    r"\b(?:Mr|Ms|Mrs|Dr|Prof|Sir|Dame|Justice|Senator|Minister|President|Judge)\.?\s+[A-Z]|\b[A-Z][a-z]+ [A-Z][a-z]+\b"
)
# A title next to a capitalised name: the sure sign of a person in release text, before it ("Minister Kim",
# "Professor Ada Lim") or after it as an apposition ("Kim Yong Hyun, the Minister of National Defense").
_TITLES = (
    r"(?:Mr|Ms|Mrs|Mdm|Miss|Dr|Prof|Professor|Sir|Dame|H\.E\.|Senator|Sen|Rep|Representative|Judge|Justice|"
    r"President|Chairman|Chairwoman|Chairperson|Chair|Governor|Mayor|Ambassador|Minister|Secretary|Director|"
    r"Commissioner|Deputy|Chief|Vice)"
)
_TITLED = re.compile(
    rf"\b{_TITLES}\.?\s+(?:[A-Z]\.\s*)*[A-Z][\w'’-]+(?:\s+[A-Z][\w'’-]+)?|"
    rf"\b[A-Z][\w'’-]+(?:\s+[A-Z][\w'’-]+){{1,3}},\s+(?:the\s+|a\s+|its\s+)?(?:[A-Z][a-z]+\s+)?{_TITLES}\b"
)
ORG = re.compile(
    r"\b(?:Ministry|Department|Agency|Council|Committee|Commission|Authority|Court|Association|Institute|University|"
    r"Centre|Center|Board|Office|Bank|Society|Foundation|Corporation|Company|Group|Union|Tribunal)\b"
)
PLACE = re.compile(r"\b(?:in|at|from|to|near|across)\s+(?:the\s+)?[A-Z][a-z]+")


def question_kind(question: str) -> str:
    """What the question asks for, from its wh-word and shape (any position: "the council opened how many depots")."""
    text = question.lower()
    for kind, pattern in _ASKS:
        if pattern.search(text):
            return kind
    return "other"


def _spans(pattern: re.Pattern, text: str) -> list[tuple[int, int]]:
    return [m.span() for m in pattern.finditer(text)]


def _quantities(text: str) -> list[tuple[int, int]]:
    """Spans of the counts and measures in ``text``: cardinals outside dates, years and numbered labels."""
    taken = _spans(_FULL_DATE, text) + _spans(YEAR, text) + _spans(_LABEL, text)
    out = []
    for m in _CARDINAL.finditer(text):
        group = "n" if m.group("n") is not None else "w"
        if group == "n" and m.group("ord"):
            continue
        start, end = m.span(group)
        if not any(a <= start < b or a < end <= b for a, b in taken):
            out.append((start, end))
    return out


def _full_dates(text: str) -> list[tuple[int, int]]:
    return _spans(_FULL_DATE, text)


def _titled(text: str) -> list[tuple[int, int]]:
    return _spans(_TITLED, text)


_SURE: dict[str, Callable[[str], list[tuple[int, int]]]] = {
    "date": _full_dates,
    "number": _quantities,
    "person": _titled,
    "money": lambda text: _spans(MONEY, text),
    "place": lambda text: _spans(PLACE, text),
    "organisation": lambda text: _spans(ORG, text),
}
_WEAK: dict[str, Callable[[str], bool]] = {
    "date": lambda text: bool(YEAR.search(text) or MONTH.search(text)),
    "number": lambda text: bool(NUMBER.search(text)),
    "person": lambda text: bool(NAME.search(text)),
}


def things(kind: str, text: str) -> list[tuple[int, int]]:
    """Spans of the things of ``kind`` the text surely holds (none for "other")."""
    sure = _SURE.get(kind)
    return sure(text) if sure else []


def answer_kind(kind: str, sentence: str, sure: list[tuple[int, int]] | None = None) -> float:
    """How surely the sentence holds a thing of the asked kind: 1, 0.5 (weakly) or 0. ``sure``: the sentence's
    :func:`things` of that kind when the caller has them already."""
    if things(kind, sentence) if sure is None else sure:
        return 1.0
    weak = _WEAK.get(kind)
    return 0.5 if weak and weak(sentence) else 0.0
