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
    "links_outside",
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


_DATE_LINE = re.compile(r"^(?:(?:date|published|posted|released?|updated)\s*:?\s*)?(?P<rest>.{6,40})$", re.IGNORECASE)


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
    meta: dict[str, str] = field(default_factory=dict, compare=False)  # place (dateline), url


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
    """Strip navigation, labels, datelines and footers; return (metadata, body paragraphs).

    ``known_title``: the format already gave the title (Markdown heading, HTML
    metadata), so no other line is taken as the headline and a repeat of it is dropped.
    """
    text = _INLINE_DISCLAIMER.sub("", normalise(text))
    paras = split_paragraphs(text)
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
            iso = _date_only(para)
            if iso:
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
    if meta["title"] is None and meta["section"] and not body:
        meta["title"] = meta["section"]
    if meta["date"] is None:
        meta["date"] = find_date(" ".join(body[:2]))
    return meta, body


# ------------------------------------------------------------------- loaders

_FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n", re.DOTALL)
_MD_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"!\[[^\]]*\]\([^)]*\)"), ""),  # images
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # links keep their text
    (re.compile(r"<(https?://[^>]+)>"), r"\1"),
    (re.compile(r"(\*\*|__)(\S(?:.*?\S)?)\1"), r"\2"),
    (re.compile(r"(?<![\w*])\*(\S(?:.*?\S)?)\*(?![\w*])"), r"\1"),
    (re.compile(r"(?<![\w_])_(\S(?:.*?\S)?)_(?![\w_])"), r"\1"),
    (re.compile(r"`([^`]+)`"), r"\1"),
    (re.compile(r"^\s{0,3}>\s?", re.MULTILINE), ""),
    (re.compile(r"^\s*[-*+]\s+", re.MULTILINE), "- "),
    (re.compile(r"^\s{0,3}(?:[-*_]\s*){3,}$", re.MULTILINE), ""),  # horizontal rules
]


def _markdown_to_text(text: str) -> tuple[str, dict[str, str]]:
    """Markdown -> plain text with headings on their own lines; front matter -> metadata hints."""
    hints: dict[str, str] = {}
    text = normalise(text)
    fm = _FRONT_MATTER.match(text + "\n")
    if fm:
        for line in fm.group(1).splitlines():
            key, _, value = line.partition(":")
            if key.strip().lower() in {"title", "date", "source", "section"} and value.strip():
                hints[key.strip().lower()] = value.strip().strip("\"'")
        text = text[fm.end():]
    lines = []
    for line in text.split("\n"):
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*$", line)
        if heading:
            if line.startswith("# ") and hints.get("title", heading.group(1)) == heading.group(1):
                hints["title"] = heading.group(1)  # the headline, whether or not front matter named it too
                continue
            lines.extend(["", heading.group(1), ""])
        else:
            lines.append(line)
    text = "\n".join(lines)
    for pattern, repl in _MD_RULES:
        text = pattern.sub(repl, text)
    return text, hints


def _decode(data: bytes, name: str) -> str:
    if not data.strip():
        raise CorpusError(f"{name} is empty: add the release text or remove the file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorpusError(
            f"{name} is not UTF-8 text (bad byte at offset {exc.start}): re-save it as UTF-8, "
            f"e.g. `iconv -f latin1 -t utf-8 {name}`"
        ) from None


def _load_html(data: bytes, name: str) -> tuple[str, dict[str, str]]:
    """Main text and metadata with trafilatura: menus, cookie banners, sidebars and scripts stay out."""
    import trafilatura

    html = _decode(data, name)
    try:
        found = trafilatura.extract(html, output_format="json", with_metadata=True, include_comments=False,
                                    include_tables=True, favor_precision=True, deduplicate=False)
    except Exception as exc:  # noqa: BLE001 - lxml/trafilatura failures on broken markup
        raise CorpusError(f"{name} could not be parsed as HTML ({type(exc).__name__}): check that it is a web page") from None
    if not found:
        raise CorpusError(f"{name} has no main text that could be extracted from its HTML")
    doc = json.loads(found)
    hints = {"title": doc.get("title"), "date": doc.get("date"), "organisation": doc.get("source-hostname") or doc.get("sitename"),
             "url": doc.get("source")}
    # trafilatura puts one paragraph per line; blank lines keep them apart for the cleaner.
    return doc.get("text", "").replace("\n", "\n\n"), {k: v for k, v in hints.items() if v}


_PAGE_NUMBER = re.compile(r"^(?:page\s*)?[-–—]?\s*\d{1,4}\s*[-–—]?(?:\s*(?:of|/)\s*\d{1,4})?$", re.IGNORECASE)


def _load_pdf(data: bytes, name: str) -> tuple[str, dict[str, str]]:
    """Text of a PDF with pypdf: repeated page headers/footers and page numbers dropped, paragraphs rebuilt from lines."""
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    if not data.strip():
        raise CorpusError(f"{name} is empty: add the release text or remove the file")
    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [(page.extract_text() or "") for page in reader.pages]
        info = reader.metadata or {}
    except (PdfReadError, ValueError, KeyError, TypeError, OSError, IndexError) as exc:
        raise CorpusError(f"{name} is not a readable PDF ({type(exc).__name__}): export it again as PDF or as text") from None
    page_lines = [[normalise(line).strip() for line in page.splitlines() if line.strip()] for page in pages]
    # A line (digits masked) at the top or bottom of most pages is a running header or footer.
    edges: dict[str, int] = {}
    for lines in page_lines:
        for line in {*lines[:2], *lines[-2:]}:
            edges[re.sub(r"\d+", "#", line)] = edges.get(re.sub(r"\d+", "#", line), 0) + 1
    repeated = {k for k, n in edges.items() if len(page_lines) > 1 and n >= max(2, len(page_lines) // 2 + 1)}
    text = ""
    for lines in page_lines:
        kept = [line for i, line in enumerate(lines)
                if not ((i < 2 or i >= len(lines) - 2) and re.sub(r"\d+", "#", line) in repeated) and not _PAGE_NUMBER.match(line)]
        if kept:  # a page that ends a sentence ends its paragraph; otherwise the paragraph runs on
            text += ("\n\n" if text.rstrip()[-1:] in ".!?\"”" else "\n") + "\n".join(kept) if text else "\n".join(kept)
    if not text.strip():
        raise CorpusError(f"{name} has no extractable text (a scanned image?): run OCR first or supply the text")
    title = str(info.get("/Title") or "").strip() if hasattr(info, "get") else ""
    return "\n\n".join(split_paragraphs(text)), ({"title": title} if title else {})


Loader = Callable[[bytes, str], tuple[str, dict[str, str]]]
LOADERS: dict[str, Loader] = {
    ".txt": lambda data, name: (_decode(data, name), {}),
    ".md": lambda data, name: _markdown_to_text(_decode(data, name)),
    ".markdown": lambda data, name: _markdown_to_text(_decode(data, name)),
    ".html": _load_html,
    ".htm": _load_html,
    ".pdf": _load_pdf,
}
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
    date = find_date(hints.get("date", "")) or meta["date"] or find_date(stem, _FILENAME_DATES)
    digest = hashlib.sha256("\n\n".join([title, *body]).encode()).hexdigest()
    extra = {k: v for k, v in {"place": meta.get("place"), "url": hints.get("url")}.items() if v}
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


def links_outside(folder: Path) -> list[str]:
    """Links under ``folder`` whose target lies outside it: never read (``ln -s /etc/passwd corpus/`` indexes nothing)."""
    root = Path(folder).resolve()
    return sorted(p.relative_to(folder).as_posix() for p in Path(folder).rglob("*")
                  if p.is_symlink() and not p.resolve().is_relative_to(root))


def corpus_files(folder: Path) -> list[Path]:
    """Release files under ``folder`` (sorted, hidden files and links to outside the folder skipped)."""
    folder = Path(folder)
    if not folder.exists():
        raise CorpusError(f"corpus folder {folder} does not exist: pass --corpus with a folder of release files")
    if not folder.is_dir():
        raise CorpusError(f"corpus {folder} is not a folder: pass --corpus with a folder of release files")
    files = sorted(
        p for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() in LOADERS
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        and p.resolve().is_relative_to(folder.resolve())
    )
    if not files:
        raise CorpusError(
            f"corpus folder {folder} has no release files ({', '.join(SUPPORTED_SUFFIXES)}): add some and index again"
        )
    return files


def read_corpus(folder: Path) -> list[Release]:
    folder = Path(folder)
    return [read_release(p, folder) for p in corpus_files(folder)]
