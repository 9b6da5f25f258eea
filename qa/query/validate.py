"""The one set of checks on a question and its options, for every entry (CLI, Python API, chat API).

Each message names the option and how to fix it, in words that fit any interface.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..errors import QueryError

__all__ = [
    "MAX_HISTORY_ITEMS",
    "MAX_K",
    "MAX_QUESTION_CHARS",
    "MAX_SOURCE_CHARS",
    "Query",
    "check_text",
    "parse_day",
    "validate_history",
    "validate_k",
    "validate_query",
    "validate_question",
    "validate_source",
]

MAX_QUESTION_CHARS = 1000
MAX_HISTORY_ITEMS = 50  # earlier questions accepted with one question (the last 10 are used)
MAX_K = 50
MAX_SOURCE_CHARS = 200


def parse_day(value: Any, name: str, end: bool = False) -> str | None:
    """'2024', '2024-09' or '2024-09-10' -> a full ISO day (the range's first or last day)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise QueryError(
            f"{{{name}}} must be a date as text like 2024-09-10 (or 2024-09, 2024), got {_shown(value)}", fields=(name,)
        )
    value = check_text(value, name).strip()
    if not value:
        return None
    m = re.fullmatch(r"([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?", value)  # ASCII digits only ("٢٠٢٤" is no year)
    if not m:
        raise QueryError(f"{{{name}}} must be a date like 2024-09-10 (or 2024-09, 2024), got {_shown(value)}", fields=(name,))
    year, month, day = m.group(1), m.group(2), m.group(3)
    if month and not 1 <= int(month) <= 12:
        raise QueryError(f"{{{name}}} {value} has month {month}; months run from 01 to 12", fields=(name,))
    if day:
        from datetime import date

        try:
            date(int(year), int(month), int(day))
        except ValueError:
            raise QueryError(f"{{{name}}} {value} is not a real date", fields=(name,)) from None
        return value
    if month:
        import calendar

        return f"{year}-{month}-{calendar.monthrange(int(year), int(month))[1] if end else 1:02d}"
    return f"{year}-{'12-31' if end else '01-01'}"


def _shown(value: Any) -> str:
    """A user's value in a message: short, whatever its type or size."""
    try:
        text = repr(value)
    except ValueError:  # an int too large to print
        text = f"a {type(value).__name__} too large to show"
    return text if len(text) <= 40 else text[:37] + "..."


def check_text(value: str, name: str) -> str:
    """Text must be valid Unicode: a lone surrogate (a mis-decoded argument) cannot be tokenized or shown."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise QueryError(
            f"{name} contains a character that is not valid Unicode at position {exc.start}: "
            "retype it or paste it again as plain text"
        ) from None
    return value


def validate_k(k: Any) -> int:
    """A whole number from 1 to MAX_K: 5, 5.0 and "5" are 5; 5.9, "abc", True are refused (the same everywhere)."""
    value: Any = k
    if isinstance(k, str):
        try:
            value = int(k.strip()) if len(k) <= 20 else None
        except ValueError:
            value = None
    elif isinstance(k, float) and k.is_integer():
        value = int(k)
    if isinstance(value, bool) or not isinstance(value, int):
        raise QueryError(f"{{k}} must be a whole number from 1 to {MAX_K}, got {_shown(k)}", fields=("k",))
    if not 1 <= value <= MAX_K:
        raise QueryError(f"{{k}} must be from 1 to {MAX_K}, got {_shown(value)}", fields=("k",))
    return value


def validate_question(question: Any, k: Any = 5) -> tuple[str, int]:
    if question is not None and not isinstance(question, str):
        raise QueryError(f'the question must be text, got {type(question).__name__}: ask e.g. "Who co-chaired the meeting?"')
    if not question or not question.strip():
        raise QueryError('the question is empty: ask something, e.g. "Who co-chaired the meeting?"')
    if len(question) > MAX_QUESTION_CHARS:
        raise QueryError(f"the question is {len(question)} characters long; the limit is {MAX_QUESTION_CHARS}: shorten it")
    check_text(question, "the question")
    return question.strip(), validate_k(k)


def validate_history(history: Any) -> list[str]:
    """Earlier questions of the conversation: a list of texts (blank ones dropped, the last 10 kept)."""
    if history is None:
        return []
    if isinstance(history, (str, bytes)) or not isinstance(history, (list, tuple)):
        raise QueryError(f"history must be a list of earlier questions (texts), got {type(history).__name__}")
    if len(history) > MAX_HISTORY_ITEMS:
        raise QueryError(f"history has {len(history)} earlier questions; the limit is {MAX_HISTORY_ITEMS}: send the latest ones")
    for i, item in enumerate(history):
        if not isinstance(item, str):
            raise QueryError(f"history item {i + 1} must be text (an earlier question), got {type(item).__name__}")
        if len(item) > MAX_QUESTION_CHARS:
            raise QueryError(f"history item {i + 1} is {len(item)} characters long; the limit is {MAX_QUESTION_CHARS}")
        check_text(item, f"history item {i + 1}")
    return [h for h in history if h.strip()][-10:]


def validate_source(source: Any) -> str | None:
    if source is None:
        return None
    if not isinstance(source, str):
        raise QueryError(
            f"{{source}} must be text (part of an organisation, section or file name), got {type(source).__name__}",
            fields=("source",),
        )
    if len(source) > MAX_SOURCE_CHARS:
        raise QueryError(f"{{source}} is {len(source)} characters long; the limit is {MAX_SOURCE_CHARS}", fields=("source",))
    return check_text(source, "source").strip() or None


@dataclass
class Query:
    """A question with its options, checked: what every public entry (CLI, Python API, chat API) hands on."""

    question: str
    k: int
    history: list[str]
    since: str | None
    until: str | None
    source: str | None


def validate_query(
    question: Any, k: Any = 5, history: Any = None, since: Any = None, until: Any = None, source: Any = None
) -> Query:
    """The one set of checks for every entry point; each message names the option and how to fix it."""
    question, k = validate_question(question, k)
    first, last = parse_day(since, "since"), parse_day(until, "until", end=True)
    if first and last and first > last:
        raise QueryError(f"{{since}} {first} is after {{until}} {last}: swap them", fields=("since", "until"))
    return Query(question, k, validate_history(history), first, last, validate_source(source))
