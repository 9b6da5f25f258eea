"""Release text -> body paragraphs: normalising, paragraph splitting, and removing what is not the release.

Real releases arrive with skip links, menus, breadcrumbs, section labels, syndication footers,
wire pickup lists and media-contact blocks around the text people want to quote. The rules
below are general patterns (not string matches for particular files), recognised wherever they
stand, and every one of them is exercised by the fixture releases in ``tests/fixtures``.
``clean_text`` runs them in order and reads the head of the release with :mod:`qa.metadata`.
"""

from __future__ import annotations

import unicodedata

from . import linear as re
from .metadata import date_line, find_date, is_upper_headline, parse_dateline, split_run_in_head, stated_date, word_count

__all__ = [
    "clean_text",
    "drop_boilerplate",
    "is_body",
    "is_footer",
    "is_issue_line",
    "is_label",
    "is_navigation",
    "is_numeric_noise",
    "normalise",
    "split_paragraphs",
    "strip_repeat",
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
            or (last < 0.85 * widest and last_line[-1:] in '.!?:"”’')
        )
        if starts_new:
            paras.append(line)
        else:
            paras[-1] += "\n" + line
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
        distributed\ by\b.{0,200} |
        this\ (?:press\ release|content|story)\ (?:was|is)\ (?:distributed|provided|produced).{0,300} |
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


def is_label(line: str) -> bool:
    """A bare section label: a few words, no sentence punctuation ("Press Releases", "National Defence")."""
    return word_count(line) <= 4 and len(line) <= 40 and line[-1:] not in ".!?:;," and not BULLET.match(line)


def is_body(line: str) -> bool:
    """A line that reads like running text rather than a headline or label."""
    return word_count(line) >= 25 or (word_count(line) >= 8 and line[-1:] in '.!?:;"”') or bool(BULLET.match(line))


# ------------------------------------------------- distribution furniture, contacts

# Syndication and distribution furniture, recognised wherever it stands (not only in the last
# paragraphs): wire pickup lists, "The post … appeared first on …", "View the original release",
# link labels, share prompts, bare URLs, end marks, "### Return".
_ANYWHERE = re.compile(
    r"""^(?:
        pickup\s*[-–:]\s*\S+ |
        (?:the\s+post\s+)?.{0,300}\b(?:appeared\s+first|first\s+appeared|was\s+first\s+published)\s+on\b.{0,150} |
        (?:to\s+)?(?:view|read|see)\s+(?:the\s+)?(?:original|source|full|complete)\s+
        (?:release|version|press\s+release|story|article|source\s+version)\b.{0,200} |
        (?:to\s+)?(?:view|read|see)\s+(?:the\s+)?(?:original|source)\b.{0,40}\s(?:on|at)\s.{0,150} |
        (?:original|source)(?:\s*/\s*(?:original|source))?\s+(?:press\s+release|release|article|story|post) |
        (?:reddit|facebook|twitter|linkedin|pinterest|tumblr|telegram|whatsapp|threads|bluesky|mastodon)
        (?:\s+(?:post|share|link))? |
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
    if word_count(para) > 25:
        return False
    has_contact = bool(_EMAIL.search(para) or (_PHONE.search(para) and find_date(para) is None))
    return has_contact and (
        para[-1:] not in ".!?"
        or word_count(para) <= 6
        or bool(re.match(r"^[\w .&'-]{0,40}(?:contact|e-?mail|tel|phone|fax)\b", para, re.IGNORECASE))
    )


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
        head = _CONTACT_HEAD.match(para) if word_count(para) <= 30 else None
        if head and (not head.group("rest") or _is_contact_line(head.group("rest")) or word_count(head.group("rest")) <= 8):
            in_contact = True
            continue
        if _is_contact_line(para):
            if (
                not in_contact
                and kept
                and word_count(kept[-1]) <= 4
                and kept[-1][-1:] not in ".!?:"
                and not kept[-1].lower().startswith("about ")
            ):
                kept.pop()  # the label over the contact ("Corporate Communications")
            in_contact = True
            continue
        if in_contact and word_count(para) <= 8 and para[-1:] not in ".!?:" and not para.lower().startswith("about "):
            continue  # a name or a role between the contact lines
        in_contact = False
        kept.append(para)
    return kept


# ------------------------------------------------------- one whole release


def _cut_footer(body: list[str]) -> list[str]:
    """Drop the footer: from the first footer line near the end, if only short lines follow it.

    Contact blocks ("Media contact:" then a name, a phone number) end releases
    with lines that match nothing on their own, hence "short lines follow".
    """
    for start in range(max(1, len(body) - 10), len(body)):
        tail = body[start:]
        if is_footer(tail[0]) and all(is_footer(p) or word_count(p) < 20 for p in tail[1:]):
            return body[:start]
    return body


# Issue furniture under a headline: "For Immediate Release", "Embargoed until …", "From the office of Senator …".
_ISSUE_LINE = re.compile(
    r"^(?:for\s+)?(?:immediate\s+release|release\s+immediately|embargoed\b|from\s+the\s+office\s+of\b)", re.IGNORECASE
)


def is_issue_line(para: str) -> bool:
    return word_count(para) <= 20 and bool(_ISSUE_LINE.match(para))


_TITLE_WORD = re.compile(r"[^\W_]+")
_AFTER_REPEAT = re.compile(r"[.!?:;,\"”’']*(?:\s+[A-Z0-9]|\s*$)")


def strip_repeat(para: str, title: str | None) -> str:
    """``para`` without the headline a scrape repeats at its start ("HEADLINE Thursday June 22 2006")."""
    words = _TITLE_WORD.findall(title or "")
    if len(words) < 4:
        return para
    # as set, and followed by a new unit (a capital, a digit, nothing): "IPCC (the Panel) is …" is a sentence, not a repeat
    end = 0
    for i, m in enumerate(_TITLE_WORD.finditer(para)):
        gap = para[end : m.start()]
        if m.group() != words[i] or "_" in gap or (i and not gap):
            return para
        end = m.end()
        if i == len(words) - 1:
            break
    else:
        return para
    after = _AFTER_REPEAT.match(para[end:])
    return para[end:].lstrip(".!?:;,\"”’'").strip() if after else para


def _head_line(para: str, meta: dict[str, str | None], known_title: str | None, latin: bool) -> bool:
    """Whether a line above the text is furniture or metadata (read into ``meta``), not release text."""
    if is_issue_line(para):
        meta["date"] = meta["date"] or find_date(para)
        return True
    if is_navigation(para, latin):
        return True
    iso = date_line(para)
    if iso:  # "Published: 3 May 2024", "Prepared by the Statistics Office, May 23, 2021"
        meta["date"] = meta["date"] or iso
        return True
    if known_title and para.strip().lower() == known_title.strip().lower():
        return True
    if meta["title"] is None and not known_title and (word_count(para) > 4 or not is_label(para)):
        meta["title"] = para
        return True
    if is_label(para) and find_date(para) is None:  # "Today: July 24, 2008" is a page stamp, not a section
        if _PAGE_TYPE.fullmatch(para.strip()):  # "Press Releases", "News": what kind of page, not who speaks
            return True
        if meta["section"] is None:
            meta["section"] = para
        elif meta.get("second_label") is None:  # a headline, then the organisation's line
            meta["second_label"] = para
        return True
    return False


# A label that names the kind of page ("Press Releases", "Latest News", "Media Statements"): neither title nor source.
_PAGE_TYPE = re.compile(
    r"(?i)(?:latest |recent |all )?(?:press|news|media)(?: (?:releases?|room|centre|center|statements?))?|releases?"
)
# "Department of Transport, 3 April 2025 The Valley Bridge …": a PDF's organisation and date run into the first line.
_ORG_DATE_LEAD = re.compile(
    r"^(?P<org>[A-Z][\w&'’.-]*(?: (?:of|for|and|the|on|[A-Z][\w&'’.-]*)){0,8}),? "
    r"(?P<date>\d{1,2} [A-Z][a-z]{2,8}\.? \d{4}|[A-Z][a-z]{2,8}\.? \d{1,2},? \d{4}) (?P<rest>[\"“‘(]?[A-Z])"
)


def _title_case(text: str) -> bool:
    words = text.split()
    return len(words) >= 3 and sum(w[:1].isupper() or w[:1].isdigit() for w in words) / len(words) >= 0.6


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
    latin = _mostly_latin(" ".join(p for p in paras if word_count(p) >= 8) or text)

    meta: dict[str, str | None] = {
        "title": None,
        "date": None,
        "section": None,
        "place": None,
        "agency": None,
        "organisation": None,
    }
    body: list[str] = []
    head = True
    head_seen = 0
    for para in paras:
        if head and head_seen < 12:  # the headline again, at the start of a head or lead paragraph: said once is enough
            para = strip_repeat(para, meta["title"] or known_title)
            if not para:
                continue
        if head and not is_body(para) and head_seen < 12:
            head_seen += 1
            if _head_line(para, meta, known_title, latin):
                continue
            if not body and (meta["title"] or known_title):  # a deck under the headline: kept, the head goes on
                body.append(para)
                continue
        head = False
        body.append(para)

    body = _cut_footer([p for p in body if not is_navigation(p, latin)])

    lead = 1 if len(body) > 1 and not is_body(body[0]) else 0  # after a deck
    if body:
        dateline = parse_dateline(body[lead])
        if dateline:
            rest, place, when, agency = dateline
            meta.update(place=place, agency=agency)
            meta["date"] = meta["date"] or when
            body[lead] = rest
    if body and (lead_in := _ORG_DATE_LEAD.match(body[lead])) and find_date(lead_in["date"]):
        meta["organisation"] = meta.get("organisation") or lead_in["org"]
        meta["date"] = meta["date"] or find_date(lead_in["date"])
        body[lead] = body[lead][lead_in.start("rest") :]
    section = meta["section"]
    if meta["title"] is None and section and (not body or is_upper_headline(section) or _title_case(section)):
        # "PROTECTING HUMAN LIFE", "School Meals Programme Expanded": a short headline, not a label; the
        # label under it, if any, is who issued the release.
        meta["title"], meta["section"] = section, None
        meta["organisation"] = meta.get("organisation") or meta.get("second_label")
    meta.pop("second_label", None)
    meta["date"] = meta["date"] or stated_date(body)
    return meta, body
