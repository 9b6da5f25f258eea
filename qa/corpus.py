"""Stage 1: release files -> clean paragraphs + metadata.

Real releases arrive with skip links, menus, breadcrumbs, section labels and
syndication footers around the text people want to quote. The rules below are
general patterns (not string matches for particular files) and every one of
them is exercised by the fixture releases in ``tests/fixtures``.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date as _date
from pathlib import Path
from typing import Callable, Iterable, Sequence

from .errors import CorpusError

__all__ = [
    "Release",
    "SUPPORTED_SUFFIXES",
    "clean_text",
    "corpus_files",
    "find_date",
    "parse_release",
    "read_release",
    "read_corpus",
    "safe_filename",
    "parse_bytes",
    "parse_dateline",
    "unsupported_files",
    "minhash_signature",
    "check_size",
    "drop_boilerplate",
    "stated_date",
]

# ---------------------------------------------------------------- normalising

_SPACE_LIKE = dict.fromkeys(map(ord, "\u00a0\u2007\u202f\u2002\u2003\u2009\u3000\t\f\v"), " ")
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def normalise(text: str) -> str:
    """NFC, plain spaces, no invisible or control characters, ``\\n`` line ends."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = text.translate(_SPACE_LIKE).translate(_INVISIBLE)
    text = _CONTROL.sub("", text)
    lines = [re.sub(r" {2,}", " ", line).strip() for line in text.split("\n")]
    return "\n".join(lines)


# ------------------------------------------------------------------ paragraphs

BULLET = re.compile(r"^(?:[-*•·◦▪‣–o]|\(?\d{1,2}[.)]|\(?[a-zA-Z][.)]|\(?[ivx]{1,4}\))\s+\S")


def _block_paragraphs(lines: list[str]) -> list[str]:
    """Split one blank-line-separated block into paragraphs.

    A block is either hard-wrapped prose (lines of similar, modest length to be
    joined) or a run of one-line paragraphs and bullets (kept apart).
    """
    if len(lines) == 1:
        return lines
    lengths = sorted(len(line) for line in lines[:-1])
    median = lengths[len(lengths) // 2]
    if median > 100 or max(lengths) <= 40:
        return lines  # one paragraph per line, or a list of short lines
    widest = max(lengths)
    paras: list[str] = []
    for line in lines:
        prev = paras[-1] if paras else None
        starts_new = (
            prev is None
            or BULLET.match(line) is not None
            or (last := len(last_line := prev.rsplit("\n", 1)[-1])) < 0.6 * widest  # a short line ends a paragraph or heading
            or (last < 0.85 * widest and last_line[-1:] in ".!?:\"”’")
        )
        if starts_new:
            paras.append(line)
        else:
            paras[-1] = prev + "\n" + line
    return [p.replace("\n", " ") for p in paras]


def split_paragraphs(text: str) -> list[str]:
    """Blank lines separate blocks; bullets and one-line paragraphs separate inside them."""
    paras: list[str] = []
    for block in re.split(r"\n\s*\n", text):
        lines = [line for line in block.split("\n") if line.strip()]
        if lines:
            paras.extend(_block_paragraphs(lines))
    return paras


# ------------------------------------------------------------------ boilerplate

_NAV = re.compile(
    r"""^(?:
        skip\ (?:to|navigation)\b.* | jump\ to\ .* | go\ to\ (?:main\ )?content |
        (?:main\ |primary\ |site\ )?(?:menu|navigation|nav) | toggle\ (?:navigation|menu) |
        (?:open|close)(?:\ the)?(?:\ search|\ menu)?(?:\ (?:box|bar|window))? | search(?:\ this\ site)? |
        home(?:\ ?page)? | site\ ?map | log\ ?in | log\ ?out | sign\ ?in | sign\ up | register | subscribe |
        print(?:\ this\ page)? | share(?:\ this)?(?:\ page|\ article|\ story)? | e-?mail | facebook | twitter |
        x | linkedin | youtube | instagram | rss | whatsapp | back\ to\ top | top | accessibility |
        (?:font|text)\ size | a\+?\ a-? | language | english | contrast | listen | cookies?(?:\ settings)? |
        accept(?:\ all)?(?:\ cookies)? | reject(?:\ all)? | manage\ cookies | menu\ close | close\ menu |
        (?:\S+\ ){0,6}cookies?(?:\ \S+){0,8}
    )[.:]?$""",
    re.IGNORECASE | re.VERBOSE,
)
_BREADCRUMB = re.compile(r"^(?:[^>»›|/]{1,40}\s*[>»›|/]\s*){2,}[^>»›|/]{0,60}$")
_SYMBOLS_ONLY = re.compile(r"^[\W_]+$")

_FOOTER = re.compile(
    r"""^(?:
        /?\s*public\ release\b.* | .*this\ material\ from\ the\ originating\ organi[sz]ation.* | view\ in\ full\ here.* |
        \#{3,} | -\ ?30\ ?- | [-–—]\ ?ends?\ ?[-–—] | end\ of\ (?:release|document) |
        (?:media\ |press\ )?contacts?\b.{0,200} | for\ (?:more|further)\ information.{0,200} |
        (?:related|more)\ (?:links|news|stories|articles|releases).{0,80} | see\ also.{0,80} |
        share\ (?:this|on)\b.{0,80} | tags?:.{0,200} | keywords?:.{0,200} | back\ to\ top |
        ©.{0,200} | \(c\)\ \d{4}.{0,200} | copyright\b.{0,200} | .{0,200}all\ rights\ reserved.{0,100} |
        print(?:\ this)?(?:\ page)? | e-?mail\ this.{0,40} | (?:previous|next)(?:\ (?:article|post|release|story))?.{0,120} |
        distributed\ by\b.{0,200} | this\ (?:press\ release|content|story)\ (?:was|is)\ (?:distributed|provided|produced).{0,300} |
        follow\ us\b.{0,120} | sign\ up\ for.{0,120} | source:?\ .{0,120} | originally\ published\ (?:at|on|by).{0,200}
    )$""",
    re.IGNORECASE | re.VERBOSE,
)
# Syndication disclaimers sometimes run on at the end of the last paragraph.
_INLINE_DISCLAIMER = re.compile(
    r"\s*/\s*Public Release\.\s+This material from the originating organi[sz]ation.*\Z", re.IGNORECASE | re.DOTALL
)


def _letters(text: str) -> list[str]:
    return [ch for ch in text if ch.isalpha()]


def _is_latin(ch: str) -> bool:
    return "LATIN" in unicodedata.name(ch, "")


def _mostly_latin(text: str) -> bool:
    letters = _letters(text)
    return bool(letters) and sum(map(_is_latin, letters)) / len(letters) > 0.6


def is_navigation(line: str, doc_is_latin: bool = True) -> bool:
    """Menus, skip links, breadcrumbs, lone symbols, and short UI strings in another script."""
    if len(line) > 200:
        return False
    if _NAV.match(line) or _SYMBOLS_ONLY.match(line):
        return True
    if len(line) <= 120 and _BREADCRUMB.match(line) and len(line.split()) <= 16:
        return True
    letters = _letters(line)
    if doc_is_latin and letters and len(line) <= 30 and len(line.split()) <= 5:
        return not any(map(_is_latin, letters))  # e.g. Korean "본문 바로가기" in an English release
    return False


def is_footer(paragraph: str) -> bool:
    return len(paragraph) <= 2000 and bool(_FOOTER.match(paragraph))


def _words(text: str) -> int:
    return len(text.split())


def is_label(line: str) -> bool:
    """A bare section label: a few words, no sentence punctuation ("Press Releases", "National Defence")."""
    return _words(line) <= 4 and len(line) <= 40 and line[-1:] not in ".!?:;," and not BULLET.match(line)


def is_body(line: str) -> bool:
    """A line that reads like running text rather than a headline or label."""
    return _words(line) >= 25 or (_words(line) >= 8 and line[-1:] in ".!?:;\"”") or bool(BULLET.match(line))


# ----------------------------------------------------------------------- dates

_MONTHS = {
    m: i
    for i, names in enumerate(
        [
            ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",),
            ("jun", "june"), ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"),
            ("oct", "october"), ("nov", "november"), ("dec", "december"),
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
    re.compile(rf"(?<!\d){_YEAR}[-_.]?(?P<month>[01]\d)[-_.]?(?P<day>[0-3]\d)(?!\d)"),
    re.compile(rf"(?<!\d)(?P<day>\d{{1,2}}){_MONTH}{_YEAR}", re.IGNORECASE),
]


def _to_iso(m: re.Match[str]) -> str | None:
    month = m.group("month").lower().rstrip(".")
    month_num = _MONTHS.get(month) or (int(month) if month.isdigit() else 0)
    try:
        return _date(int(m.group("year")), month_num, int(m.group("day"))).isoformat()
    except ValueError:
        return None


def find_date(text: str, patterns: Iterable[re.Pattern[str]] = _DATE_PATTERNS) -> str | None:
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
    r"^(?:(?:date|published|posted|released?|updated|issued|for\s+immediate\s+release)\s*:?\s*)?(?P<rest>.{6,40})$", re.IGNORECASE)


def _date_only(line: str) -> str | None:
    """The date, if the line holds nothing but a date (and maybe a label like "Published:")."""
    m = _DATE_LINE.match(line)
    if not m or _words(line) > 7:
        return None
    iso = find_date(m.group("rest"))
    if iso is None:
        return None
    leftover = re.sub(r"[\d\W_]+", " ", m.group("rest")).split()
    return iso if all(w.lower().rstrip(".") in _MONTHS or w.lower() in {"st", "nd", "rd", "th", "of"} or
                      w.lower() in {"mon", "tue", "wed", "thu", "fri", "sat", "sun", "monday", "tuesday",
                                    "wednesday", "thursday", "friday", "saturday", "sunday"}
                      for w in leftover) else None


# --------------------------------------------------------------------- release


@dataclass(frozen=True)
class Release:
    """One cleaned release: what gets chunked, and what a citation shows."""

    doc_id: str
    source: str  # path relative to the corpus folder, with forward slashes
    title: str
    date: str | None
    section: str | None
    paragraphs: tuple[str, ...]
    sha256: str = ""  # of the file's bytes
    organisation: str | None = None  # site name, wire or agency, front-matter source
    language: str | None = None  # ISO 639-1, detected
    meta: dict[str, str] = field(default_factory=dict, compare=False)  # place (dateline), url, title_from, date_from


_DATELINE = re.compile(
    rf"""^(?P<place>[A-Z][A-Za-z.'\-]*(?:[ ,]+[A-Z][A-Za-z.'\-]*){{0,3}}?)?   # SEOUL / Washington, D.C. / NEW YORK
        (?:,?\s*(?P<when>(?i:{_MONTH})\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+(?:19|20)\d\d)?))?   # , Sept. 10 / , March 5, 2023
        \s*(?:\((?P<agency>[^()]{{2,40}})\)|/(?P<wire>[^/]{{2,40}})/)?                      # (Yonhap) / /PRNewswire/
        \s*(?:--|—|–|-)\s+(?=\S)""",
    re.VERBOSE,
)


def parse_dateline(paragraph: str) -> tuple[str, str | None, str | None, str | None] | None:
    """("SEOUL, Sept. 10 (Yonhap) -- text") -> (text, place, ISO date or None, agency); None if no dateline."""
    m = _DATELINE.match(paragraph)
    if not m or not (m.group("place") or m.group("when")) or m.end() > 100:
        return None
    place = (m.group("place") or "").strip(" ,") or None
    if place and not (place.isupper() or "," in place or m.group("when") or m.group("agency") or m.group("wire")):
        return None  # "Kim - the minister ..." is prose, not a dateline
    when = find_date(m.group("when") or "")
    agency = (m.group("agency") or m.group("wire") or "").strip() or None
    return paragraph[m.end():], place, when, agency


# Syndication and distribution furniture, recognised wherever it stands (not only in the last
# paragraphs): wire pickup lists, "The post … appeared first on …", "View the original release",
# link labels, share prompts, bare URLs, end marks, "### Return".
_ANYWHERE = re.compile(
    r"""^(?:
        pickup\s*[-–:]\s*\S+ |
        (?:the\s+post\s+)?.{0,300}\b(?:appeared\s+first|first\s+appeared|was\s+first\s+published)\s+on\b.{0,150} |
        (?:to\s+)?(?:view|read|see)\s+(?:the\s+)?(?:original|source|full|complete)\s+(?:release|version|press\s+release|story|article|source\s+version)\b.{0,200} |
        (?:to\s+)?(?:view|read|see)\s+(?:the\s+)?(?:original|source)\b.{0,40}\s(?:on|at)\s.{0,150} |
        (?:original|source)(?:\s*/\s*(?:original|source))?\s+(?:press\s+release|release|article|story|post) |
        (?:reddit|facebook|twitter|linkedin|pinterest|tumblr|telegram|whatsapp|threads|bluesky|mastodon)(?:\s+(?:post|share|link))? |
        [\w-]+(?:\.[\w-]+)*\.(?:com|net|org|io|ai|news|co|info|biz)\s+(?:tl;?dr|summary|link|post) |
        add\s+.{1,80}\s+as\s+(?:a\s+|your\s+)?preferred\s+(?:news\s+)?source.{0,60} |
        (?:https?://|www\.)\S+ |
        [<(\[-–—\s]*end(?:s|\s+of\s+(?:release|document|statement))?[>)\]\-–—\s]* |
        \#{1,6}(?:\s*\#)*(?:\s*(?:return|back|top|end))? |
        (?:return|back)(?:\s+to\s+(?:top|home|homepage|news|index|list|overview|(?:all\s+)?(?:press\s+|news\s+)?releases))? |
        (?:[@\#/]\S*[\s,/]*){2,} |
        hashtags?\s*:.{0,400} |
        (?:contribute\s+a\s+better|rate\s+this|improve\s+this)\s+translation | original\s+text | translated\s+by\s+google
    )[.:]?$""",
    re.IGNORECASE | re.VERBOSE,
)
_CONTACT_HEAD = re.compile(
    r"^(?:for\s+)?(?:(?:media|press|public|investor|news|general|editorial)\s+)?(?:inquiries|enquiries|contacts?|relations|contact\s+details|contact\s+information"
    r"|rückfragehinweis|rückfragen|pressekontakt|kontakt|contacts?\s+presse|contact\s+média)"
    r"(?:\s+(?:and|&|for|with)\b.{0,80})?\s*:?\s*(?P<rest>.{0,160})$",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"\+\d[\d\s().-]{6,}\d|\(?\b\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}\b|\b\d{1,4}-\d{3}-\d{4}\b|\b\d{4}[\s-]\d{4}\b")


def _is_contact_line(para: str) -> bool:
    """A name, role, phone number or e-mail address of a contact block (short, not a sentence)."""
    if _words(para) > 25:
        return False
    has_contact = bool(_EMAIL.search(para) or (_PHONE.search(para) and find_date(para) is None))
    return has_contact and (para[-1:] not in ".!?" or _words(para) <= 6 or bool(re.match(r"^[\w .&'-]{0,40}(?:contact|e-?mail|tel|phone|fax)\b", para, re.I)))


def is_numeric_noise(para: str) -> bool:
    """Chart values, counters and tables of numbers with hardly a word ("31 090 20 Per Citizen", "28%")."""
    tokens = para.split()
    if not tokens or len(tokens) >= 16:
        return False
    numbers = sum(1 for t in tokens if re.fullmatch(r"[\d.,%$€£()\-–+/:]+", t))
    alpha = sum(1 for t in tokens if re.search(r"[^\W\d_]{2,}", t))
    return numbers / len(tokens) >= 0.6 and alpha <= 2 and find_date(para) is None


_END_MARK = re.compile(r"\s+(?:(?:#\s*){3,}|-\s?30\s?-|[-–—]\s?ends?\s?[-–—])$", re.IGNORECASE)


def drop_boilerplate(paras: list[str]) -> list[str]:
    """Remove distribution furniture and media-contact blocks wherever they stand."""
    kept: list[str] = []
    in_contact = False
    for para in paras:
        para = _END_MARK.sub("", para)
        if _ANYWHERE.match(para) or is_numeric_noise(para):
            continue
        head = _CONTACT_HEAD.match(para) if _words(para) <= 30 else None
        if head and (not head.group("rest") or _is_contact_line(head.group("rest")) or _words(head.group("rest")) <= 8):
            in_contact = True
            continue
        if _is_contact_line(para):
            if not in_contact and kept and _words(kept[-1]) <= 4 and kept[-1][-1:] not in ".!?:" and not kept[-1].lower().startswith("about "):
                kept.pop()  # the label over the contact ("Corporate Communications")
            in_contact = True
            continue
        if in_contact and _words(para) <= 8 and para[-1:] not in ".!?:" and not para.lower().startswith("about "):
            continue  # a name or a role between the contact lines
        in_contact = False
        kept.append(para)
    return kept


_WORD = r"(?:[^\W_]|[$£€(“\"'])[\w'’.&$,()-]*"
_MONTH_ANY = _MONTH.replace("(?P<month>", "(?:")
# "Bennett Announces Over $235,000 … Departments WASHINGTON, D.C. Senator …": a headline run, then a dateline.
_HEADLINE_THEN_DATELINE = re.compile(
    rf"^(?P<head>(?:{_WORD}\s+){{3,30}}?)(?=(?:[A-Z]{{4,}}(?:[ ,]+[A-Z][A-Za-z.]*)*\s*(?:[,(–—-]|$)|[A-Z]{{4,}}\s+[A-Z][a-z]))"
)
_UPPER_RUN = re.compile(r"^(?P<head>(?:[A-Z0-9$&'’.,:-]+\s+){3,}?)(?=[A-Z][a-z])")
_DATE_PREFIX = re.compile(
    rf"^(?:(?:mon|tues|wednes|thurs|fri|satur|sun)day,?\s+)?(?:{_MONTH_ANY}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+(?:19|20)\d\d|\d{{1,2}}\s+{_MONTH_ANY},?\s+(?:19|20)\d\d)\s+",
    re.IGNORECASE,
)


def _is_upper_headline(text: str) -> bool:
    return len(re.findall(r"[^\W\d_]{2,}", text)) >= 3 and text.upper() == text and any(ch.isalpha() for ch in text)


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
        para = para[m.end():]
    for pattern in (_UPPER_RUN, _HEADLINE_THEN_DATELINE):
        m = pattern.match(para) if para.upper() != para else None  # an all-capitals line is one headline
        rest_is_place = bool(m) and re.fullmatch(r"[A-Z]{4,}[A-Za-z .,]*", para[m.end():].strip()) is not None
        if (m and _is_headline(m.group("head").strip()) and (_words(para) > _words(m.group("head")) + 5 or rest_is_place)
                and len(re.findall(r"[^\W\d_]{3,}", m.group("head"))) >= 3):
            head = m.group("head").strip()
            rest = para[m.end():]
            # "… dealers May 9 2007 WASHINGTON …": the date after the headline is its own line
            d = re.search(rf"\s(?:{_MONTH}\s+\d{{1,2}},?\s+(?:19|20)\d\d)$", head, re.IGNORECASE)
            if d:
                out.extend([head[: d.start()].strip(), head[d.start():].strip()])
            else:
                out.append(head)
            out.append(rest.strip())
            return out
    # "Coburn amendment fines medical marijuana dealers May 9 2007 WASHINGTON …"
    d = re.match(rf"^(?P<head>.{{15,200}}?)\s(?P<date>{_MONTH}\s+\d{{1,2}},?\s+(?:19|20)\d\d)\s+(?=[A-Z]{{4,}})", para, re.IGNORECASE)
    if d and not re.search(r"[.!?]", d.group("head")):
        out.extend([d.group("head").strip(), d.group("date").strip(), para[d.end():].strip()])
        return out
    out.append(para)
    return out


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
        before, rest = head[: m.start()], head[m.end():]
        separated = re.search(r"(?:[-–—|:,(/]|^)\s*$", before) is not None and (
            not rest.strip() or rest.lstrip()[:1] in "-–—|:)/(" or rest.lstrip()[:1].isupper())
        prepared = re.match(r"^\s*prepared\s+by\b", before, re.IGNORECASE) is not None
        if (_words(before) <= 8 and separated) or prepared:
            return _to_iso(m)
    return None


def _cut_footer(body: list[str]) -> list[str]:
    """Drop the footer: from the first footer line near the end, if only short lines follow it.

    Contact blocks ("Media contact:" then a name, a phone number) end releases
    with lines that match nothing on their own, hence "short lines follow".
    """
    for start in range(max(1, len(body) - 10), len(body)):
        tail = body[start:]
        if is_footer(tail[0]) and all(is_footer(p) or _words(p) < 20 for p in tail[1:]):
            return body[:start]
    return body


def clean_text(text: str, known_title: str | None = None) -> tuple[dict[str, str | None], list[str]]:
    """Strip navigation, labels, datelines, boilerplate and footers; return (metadata, body paragraphs).

    ``known_title``: the format already gave the title (front matter, HTML metadata, a PDF's
    headline), so no other line is taken as the headline and a repeat of it is dropped.
    """
    text = _INLINE_DISCLAIMER.sub("", normalise(text))
    paras = split_paragraphs(text)
    if not known_title:  # the first paragraphs of a one-line scrape may hold date, headline and dateline at once
        for i, para in enumerate(paras[:4]):
            parts = split_run_in_head(para)
            if len(parts) > 1:
                paras[i : i + 1] = parts
                break
    paras = drop_boilerplate(paras)
    latin = _mostly_latin(" ".join(p for p in paras if _words(p) >= 8) or text)

    meta: dict[str, str | None] = {"title": None, "date": None, "section": None, "place": None, "agency": None}
    body: list[str] = []
    head = True
    head_seen = 0
    for para in paras:
        if head and not is_body(para) and head_seen < 12:
            head_seen += 1
            if is_navigation(para, latin):
                continue
            iso = _date_only(para) or (stated_date([para]) if _PREPARED.match(para) else None)
            if iso:  # "Published: 3 May 2024", "Prepared by the Statistics Office, May 23, 2021"
                meta["date"] = meta["date"] or iso
                continue
            if known_title and para.strip().lower() == known_title.strip().lower():
                continue
            if meta["title"] is None and not known_title and (_words(para) > 4 or not is_label(para)):
                meta["title"] = para
                continue
            if is_label(para):
                meta["section"] = meta["section"] or para
                continue
        head = False
        body.append(para)

    body = _cut_footer([p for p in body if not is_navigation(p, latin)])

    if body:
        dateline = parse_dateline(body[0])
        if dateline:
            rest, place, when, agency = dateline
            meta.update(place=place, agency=agency)
            meta["date"] = meta["date"] or when
            body[0] = rest
    if meta["title"] is None and meta["section"] and (not body or _is_upper_headline(meta["section"])):
        meta["title"], meta["section"] = meta["section"], None  # "PROTECTING HUMAN LIFE": a short headline, not a label
    meta["date"] = meta["date"] or stated_date(body)
    return meta, body


# ------------------------------------------------------------------- loaders

from .loaders import LOADERS  # noqa: E402 - each format's reader lives in its own module

SUPPORTED_SUFFIXES = tuple(sorted(LOADERS))
MAX_FILE_BYTES = 20_000_000  # a press release is kilobytes; tens of megabytes is a data dump


def _language(paragraphs: Sequence[str]) -> str | None:
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


def _metadata_date(value: str) -> str | None:
    """A metadata date: ISO 8601 with or without a time ("2016-03-29T13:00:00.000Z"), or any date we read."""
    m = re.match(r"^\s*((?:19|20)\d\d)-(\d\d)-(\d\d)(?:[T ]|$)", value or "")
    if m:
        try:
            return _date(int(m.group(1)), int(m.group(2)), int(m.group(3))).isoformat()
        except ValueError:
            return None
    return find_date(value or "")


def parse_bytes(data: bytes, source: str, suffix: str = ".txt", sha256: str = "") -> Release:
    """Turn the bytes of one release file into a :class:`Release` (no file system access)."""
    loader = LOADERS.get(suffix.lower())
    if loader is None:
        raise CorpusError(f"{source}: unsupported file type {suffix!r}; supported: {', '.join(SUPPORTED_SUFFIXES)}")
    if not data.strip():
        raise CorpusError(f"{source} is empty: add the release text or remove the file")
    plain, hints = loader(data, source)
    meta, body = clean_text(plain, known_title=hints.get("title"))
    if not body:
        raise CorpusError(f"{source} has no release text left after removing navigation and footers")
    stem = Path(source).stem
    title = hints.get("title") or meta["title"] or stem.replace("_", " ")
    # Dates by evidence, strongest first: the file's metadata, a date the release states for
    # itself (date line, dateline, "Prepared by …, DATE"), the file name, and only then a date
    # the opening text mentions (often an event, not the release).
    dates = [("metadata", _metadata_date(hints.get("date", ""))), ("text", meta["date"]),
             ("file name", find_date(stem, _FILENAME_DATES)), ("opening text", find_date(" ".join(body[:2])))]
    date_source, date = next(((where, iso) for where, iso in dates if iso), (None, None))
    title_source = hints.get("title_source", "metadata") if hints.get("title") else ("text" if meta["title"] else "file name")
    digest = hashlib.sha256("\n\n".join([title, *body]).encode()).hexdigest()
    extra = {k: v for k, v in {"place": meta.get("place"), "url": hints.get("url"), "title_from": title_source,
                               "date_from": date_source}.items() if v}
    return Release(
        doc_id=digest[:12],
        source=source,
        title=title,
        date=date,
        section=hints.get("section") or meta["section"],
        paragraphs=tuple(body),
        sha256=sha256 or file_sha256(data),
        organisation=hints.get("organisation") or hints.get("source") or meta.get("agency"),
        language=_language(body),
        meta=extra,
    )


def parse_release(text: str, source: str, suffix: str = ".txt", sha256: str = "") -> Release:
    """Like :func:`parse_bytes`, for text already in hand."""
    return parse_bytes(text.encode("utf-8"), source, suffix, sha256)


def minhash_signature(release: Release, num_perm: int = 64) -> str:
    """MinHash of the release's word 3-shingles (hex): near-duplicate copies have close signatures."""
    from datasketch import MinHash

    words = re.findall(r"\w+", " ".join(release.paragraphs).lower())
    m = MinHash(num_perm=num_perm, seed=1, scheme="affine32")
    m.update_batch(" ".join(words[i : i + 3]).encode() for i in range(max(1, len(words) - 2)))
    return m.hashvalues.astype("<u4").tobytes().hex()


def file_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_size(source: str, size: int) -> None:
    """Refuse files far too big to be a release (the same limit for `qa index`, uploads and readers)."""
    if size > MAX_FILE_BYTES:
        raise CorpusError(f"{source} is {size / 1e6:.1f} MB; releases over {MAX_FILE_BYTES / 1e6:.0f} MB are not indexed: "
                          "split it into releases")


def read_release(path: Path, root: Path | None = None) -> Release:
    """Read and clean one release file; errors name the file and say how to fix it."""
    path = Path(path)
    source = path.relative_to(root).as_posix() if root else path.name
    try:
        check_size(source, path.stat().st_size)
        data = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"cannot read {source}: {exc.strerror}") from None
    return parse_bytes(data, source, path.suffix)


def safe_filename(name: str) -> str:
    """A plain file name for an uploaded release: no folders, no '..', no hidden or odd characters."""
    base = unicodedata.normalize("NFKC", name).replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, suffix = base.rpartition(".")
    stem = re.sub(r"[^\w\-]+", "_", stem if dot else base).strip("._-")[:100] or "release"
    suffix = suffix.lower() if dot and suffix.isalnum() else "txt"
    return f"{stem}.{suffix}"


def unsupported_files(folder: Path) -> list[str]:
    """Files in the corpus folder that no loader reads (reported once per index run, then skipped)."""
    folder = Path(folder)
    return sorted(
        p.relative_to(folder).as_posix() for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() not in LOADERS
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def corpus_files(folder: Path) -> list[Path]:
    """Release files under ``folder`` (sorted, hidden files skipped)."""
    folder = Path(folder)
    if not folder.exists():
        raise CorpusError(f"corpus folder {folder} does not exist: pass --corpus with a folder of release files")
    if not folder.is_dir():
        raise CorpusError(f"corpus {folder} is not a folder: pass --corpus with a folder of release files")
    files = sorted(
        p for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() in LOADERS
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    if not files:
        raise CorpusError(
            f"corpus folder {folder} has no release files ({', '.join(SUPPORTED_SUFFIXES)}): add some and index again"
        )
    return files


def read_corpus(folder: Path) -> list[Release]:
    folder = Path(folder)
    return [read_release(p, folder) for p in corpus_files(folder)]
