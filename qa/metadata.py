"""Titles, dates, datelines and language: what a release says about itself, read by evidence.

A citation is only as good as its title and date, and releases state them in many ways: front
matter, a headline over the text, a dateline ("SEOUL, Sept. 10 (Yonhap) --"), a "Prepared by …,
DATE" line, the file name. This module reads each kind of evidence; ``title_by_evidence`` and
``date_by_evidence`` rank them, strongest first, so a date the text merely mentions (an event)
never outranks the release's own. Nothing here removes text: that is :mod:`qa.cleaning`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date as _date

from . import linear as re

__all__ = [
    "date_by_evidence",
    "date_line",
    "detect_language",
    "filename_date",
    "find_date",
    "is_upper_headline",
    "metadata_date",
    "parse_dateline",
    "split_run_in_head",
    "stated_date",
    "title_by_evidence",
    "word_count",
]


def word_count(text: str) -> int:
    return len(text.split())


# ----------------------------------------------------------------------- dates

_MONTHS = {
    m: i
    for i, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for m in names
}
_MONTH = r"(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>(?:19|20)\d{2})"
_DATE_PATTERNS = [
    re.compile(rf"\b{_MONTH}\s+{_DAY},?\s+{_YEAR}\b", re.IGNORECASE),
    re.compile(rf"\b{_DAY}\s+(?:of\s+)?{_MONTH},?\s+{_YEAR}\b", re.IGNORECASE),
    re.compile(rf"\b{_YEAR}-(?P<month>\d{{1,2}})-(?P<day>\d{{1,2}})\b"),
    re.compile(rf"\b{_YEAR}\.\s?(?P<month>\d{{1,2}})\.\s?(?P<day>\d{{1,2}})\b"),
    re.compile(rf"\b{_YEAR}년\s*(?P<month>\d{{1,2}})월\s*(?P<day>\d{{1,2}})일"),
]
# Dates glued into file names, as archives name them: 2024-09-10, 20240910, 10Apr2006.
_FILENAME_DATES = [
    re.compile(rf"(?:^|[^0-9]){_YEAR}[-_.]?(?P<month>[01]\d)[-_.]?(?P<day>[0-3]\d)(?:[^0-9]|$)"),
    re.compile(rf"(?:^|[^0-9])(?P<day>\d{{1,2}}){_MONTH}{_YEAR}", re.IGNORECASE),
]


def _to_iso(m: re.Match) -> str | None:
    month = m.group("month").lower().rstrip(".")
    month_num = _MONTHS.get(month) or (int(month) if month.isdigit() else 0)
    try:
        return _date(int(m.group("year")), month_num, int(m.group("day"))).isoformat()
    except ValueError:
        return None


def find_date(text: str, patterns: Iterable[re.Pattern] = _DATE_PATTERNS) -> str | None:
    """The earliest full date (with a year) in ``text`` as ISO ``YYYY-MM-DD``; never a guessed year."""
    found: list[tuple[int, str]] = []
    for pattern in patterns:
        for m in pattern.finditer(text):
            iso = _to_iso(m)
            if iso:
                found.append((m.start(), iso))
                break
    return min(found)[1] if found else None


_DATE_LINE = re.compile(
    r"^(?:(?:date|published|posted|released?|updated|issued|for\s+immediate\s+release)\s*:?\s*)?(?P<rest>.{6,40})$", re.IGNORECASE
)


# A site's category note after the date ("12 May 2021 Posted in News", "Filed under Releases"): still a date line.
_CATEGORY_NOTE = re.compile(r"\s+(?:posted|filed)\s+(?:in|under)\s+\w[\w ,&'’-]{0,40}$", re.IGNORECASE)


def _date_only(line: str) -> str | None:
    """The date, if the line holds nothing but a date (and maybe a label like "Published:")."""
    line = _CATEGORY_NOTE.sub("", line)
    m = _DATE_LINE.match(line)
    if not m or word_count(line) > 7:
        return None
    iso = find_date(m.group("rest"))
    if iso is None:
        return None
    leftover = re.sub(r"[\d\W_]+", " ", m.group("rest")).split()
    return (
        iso
        if all(
            w.lower().rstrip(".") in _MONTHS
            or w.lower() in {"st", "nd", "rd", "th", "of"}
            or w.lower()
            in {
                "mon",
                "tue",
                "wed",
                "thu",
                "fri",
                "sat",
                "sun",
                "monday",
                "tuesday",
                "wednesday",
                "thursday",
                "friday",
                "saturday",
                "sunday",
            }
            for w in leftover
        )
        else None
    )


# ------------------------------------------------------------------- datelines

_DATELINE = re.compile(
    rf"""^(?P<place>[A-Z][A-Za-z.'\-]*(?:[ ,]+[A-Z][A-Za-z.'\-]*){{0,3}}?)?   # SEOUL / Washington, D.C. / NEW YORK
        (?:,?\s*(?P<when>(?i:{_MONTH})\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+(?:19|20)\d\d)?))?   # , Sept. 10 / , March 5, 2023
        \s*(?:\((?P<agency>[^()]{{2,40}})\)|/(?P<wire>[^/]{{2,40}})/)?                      # (Yonhap) / /PRNewswire/
        \s*(?:--|—|–|-)\s+(?P<text>\S)""",
    re.VERBOSE,
)


def parse_dateline(paragraph: str) -> tuple[str, str | None, str | None, str | None] | None:
    """("SEOUL, Sept. 10 (Yonhap) -- text") -> (text, place, ISO date or None, agency); None if no dateline."""
    m = _DATELINE.match(paragraph)
    if not m or not (m.group("place") or m.group("when")) or m.start("text") > 100:
        return None
    place = (m.group("place") or "").strip(" ,") or None
    if place and not (place.isupper() or "," in place or m.group("when") or m.group("agency") or m.group("wire")):
        return None  # "Kim - the minister ..." is prose, not a dateline
    when = find_date(m.group("when") or "")
    agency = (m.group("agency") or m.group("wire") or "").strip() or None
    return paragraph[m.start("text") :], place, when, agency


# ------------------------------------------------------------------- headlines

_WORD = r"(?:[^\W_]|[$£€(“\"'])[\w'’.&$,()-]*"
_MONTH_ANY = _MONTH.replace("(?P<month>", "(?:")
# "Bennett Announces Over $235,000 … Departments WASHINGTON, D.C. Senator …": a headline run, then a dateline.
_HEADLINE_THEN_DATELINE = re.compile(
    rf"^(?P<head>(?:{_WORD}\s+){{3,30}}?)(?:[A-Z]{{4,}}(?:[ ,]+[A-Z][A-Za-z.]*)*\s*(?:[,(–—-]|$)|[A-Z]{{4,}}\s+[A-Z][a-z])"
)
_UPPER_RUN = re.compile(r"^(?P<head>(?:[A-Z0-9$&'’.,:-]+\s+){3,}?)[A-Z][a-z]")  # what follows the head: m.end("head")
_DATE_PREFIX = re.compile(
    rf"^(?:(?:mon|tues|wednes|thurs|fri|satur|sun)day,?\s+)?(?:{_MONTH_ANY}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+(?:19|20)\d\d|\d{{1,2}}\s+{_MONTH_ANY},?\s+(?:19|20)\d\d)\s+",
    re.IGNORECASE,
)


def is_upper_headline(text: str) -> bool:
    return len(re.findall(r"[^\W\d_]{2,}", text)) >= 3 and text.upper() == text and any(ch.isalpha() for ch in text)


def all_capitals(text: str) -> bool:
    """Set in capitals, allowing a stray small letter: scrapes strip apostrophes ("FEMA s DECISION")."""
    letters = [ch for ch in text if ch.isalpha()]
    return bool(letters) and sum(ch.islower() for ch in letters) <= len(letters) // 25


def _is_headline(text: str) -> bool:
    """Title case or upper case, a few words, no sentence end: how headlines are set."""
    words = text.split()
    if not 3 <= len(words) <= 30 or text[-1:] in ".:;,":
        return False
    caps = sum(1 for w in words if w[:1].isupper() or w[:1].isdigit() or w[:1] in "$&'‘“\"")
    return caps / len(words) >= 0.6


def split_run_in_head(para: str) -> list[str]:
    """Separate what a one-line scrape glued together at its start: a date, a headline, the dateline."""
    out: list[str] = []
    m = _DATE_PREFIX.match(para)
    if m and len(para) > m.end() + 20:
        out.append(para[: m.end()].strip())
        para = para[m.end() :]
    for pattern in (_UPPER_RUN, _HEADLINE_THEN_DATELINE):
        m = pattern.match(para) if not all_capitals(para) else None  # an all-capitals line is one headline
        rest_is_place = m is not None and re.fullmatch(r"[A-Z]{4,}[A-Za-z .,]*", para[m.end("head") :].strip()) is not None
        if (
            m
            and _is_headline(m.group("head").strip())
            and (word_count(para) > word_count(m.group("head")) + 5 or rest_is_place)
            and len(re.findall(r"[^\W\d_]{3,}", m.group("head"))) >= 3
        ):
            head = m.group("head").strip()
            rest = para[m.end("head") :]
            # "… dealers May 9 2007 WASHINGTON …": the date after the headline is its own line
            d = re.search(rf"\s(?:{_MONTH}\s+\d{{1,2}},?\s+(?:19|20)\d\d)$", head, re.IGNORECASE)
            if d:
                out.extend([head[: d.start()].strip(), head[d.start() :].strip()])
            else:
                out.append(head)
            out.append(rest.strip())
            return out
    # "Coburn amendment fines medical marijuana dealers May 9 2007 WASHINGTON …"
    d = re.match(
        rf"^(?P<head>.{{15,200}}?)\s(?P<date>{_MONTH}\s+\d{{1,2}},?\s+(?:19|20)\d\d)\s+(?P<rest>[A-Z]{{4,}})", para, re.IGNORECASE
    )
    if d and not re.search(r"[.!?]", d.group("head")):
        out.extend([d.group("head").strip(), d.group("date").strip(), para[d.start("rest") :].strip()])
        return out
    out.append(para)
    return out


# ---------------------------------------------------------- the release's own date

# The release's own date, where releases state it: a dateline ("Singapore – 4 March 2025 –",
# "(NewMediaWire) - September 05, 2024 - CHICAGO —", "HONG KONG SAR - Media OutReach - 21 July 2026 -"),
# a "Prepared by …, DATE" line, an issue line ("For Immediate Release: July 19, 2006").
_PREPARED = re.compile(r"^(?:prepared|issued|released|published)\s+by\b", re.IGNORECASE)


def stated_date(paras: Sequence[str], first: int = 8) -> str | None:
    """The date the release states for itself in its first paragraphs, never an event the text reports."""
    for para in paras[:first]:
        head = para[:160]
        iso = _date_only(head)
        if iso:
            return iso
        found = [m for m in (pattern.search(head) for pattern in _DATE_PATTERNS) if m]
        if not found:
            continue
        m = min(found, key=lambda x: x.start())
        before, rest = head[: m.start()], head[m.end() :]
        separated = re.search(r"(?:[-–—|:,(/]|^)\s*$", before) is not None and (
            not rest.strip() or rest.lstrip()[:1] in "-–—|:)/(" or rest.lstrip()[:1].isupper()
        )
        prepared = re.match(r"^\s*prepared\s+by\b", before, re.IGNORECASE) is not None
        if (word_count(before) <= 8 and separated) or prepared:
            return _to_iso(m)
    return None


def date_line(para: str) -> str | None:
    """The date of a head line that states only when the release was issued, else None.

    "Published: 3 May 2024", "Prepared by the Statistics Office, May 23, 2021".
    """
    return _date_only(para) or (stated_date([para]) if _PREPARED.match(para) else None)


def filename_date(stem: str) -> str | None:
    """A date glued into a file name, as archives name them (2024-09-10, 20240910, 10Apr2006)."""
    return find_date(stem, _FILENAME_DATES)


def metadata_date(value: str) -> str | None:
    """A metadata date: ISO 8601 with or without a time ("2016-03-29T13:00:00.000Z"), or any date we read."""
    m = re.match(r"^\s*((?:19|20)\d\d)-(\d\d)-(\d\d)(?:[T ]|$)", value or "")
    if m:
        try:
            return _date(int(m.group(1)), int(m.group(2)), int(m.group(3))).isoformat()
        except ValueError:
            return None
    return find_date(value or "")


# ------------------------------------------------------------------- language


def detect_language(paragraphs: Sequence[str]) -> str | None:
    """ISO 639-1 code of the release's language (langdetect, seeded so it is repeatable)."""
    sample = " ".join(paragraphs)[:2000]
    if len(sample) < 20:
        return None
    try:
        from langdetect import DetectorFactory, detect
        from langdetect.lang_detect_exception import LangDetectException
    except ImportError:
        return None
    DetectorFactory.seed = 0
    try:
        return str(detect(sample))
    except LangDetectException:
        return None


# ---------------------------------------------------------------- by evidence


def title_by_evidence(hints: dict[str, str], text_title: str | None, stem: str) -> tuple[str, str]:
    """(title, where it came from): the format's metadata or headline, the text's headline, the file name."""
    title = hints.get("title") or text_title or stem.replace("_", " ")
    source = hints.get("title_source", "metadata") if hints.get("title") else ("text" if text_title else "file name")
    return title, source


def date_by_evidence(
    hints: dict[str, str], text_date: str | None, stem: str, body: Sequence[str]
) -> tuple[str | None, str | None]:
    """(ISO date, where it came from), strongest evidence first.

    The file's metadata, a date the release states for itself (date line, dateline, "Prepared by
    …, DATE"), the file name, and only then a date the opening text mentions (often an event, not
    the release).
    """
    dates = [
        ("metadata", metadata_date(hints.get("date", ""))),
        ("text", text_date),
        ("file name", filename_date(stem)),
        ("opening text", find_date(" ".join(body[:2]))),
    ]
    source, date = next(((where, iso) for where, iso in dates if iso), (None, None))
    return date, source
