"""HTML: trafilatura finds the main text and the page metadata; site suffixes come off the title."""

from __future__ import annotations

import json
from collections.abc import Callable

from .. import linear as re
from ..errors import CorpusError
from .text import decode, repair

__all__ = ["blocks_from_html", "load_html", "strip_site_suffix"]

_BLOCK_TAGS = frozenset(
    [
        "p",
        "div",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "li",
        "ul",
        "ol",
        "blockquote",
        "pre",
        "table",
        "tr",
        "dt",
        "dd",
        "dl",
        "section",
        "article",
        "header",
        "footer",
        "aside",
        "figure",
        "figcaption",
        "main",
        "nav",
        "address",
        "hr",
    ]
)
_SKIP_TAGS = frozenset(["script", "style", "noscript", "template"])
_BR = "\u2028"  # stands for <br> until the block is flushed


def blocks_from_html(html: str) -> tuple[list[str], str | None]:
    """Text blocks of an HTML fragment in reading order, and its first <h1> (the headline) kept apart.

    Inline markup (<span style=…>, <sup>, <a>) disappears into the text; <br> is a line break;
    source line breaks inside a block are spaces, as a browser shows them.
    """
    import lxml.html

    root = lxml.html.fragment_fromstring(html or "<p></p>", create_parent="div")
    blocks: list[str] = []
    headline: list[str | None] = [None]
    buf: list[str] = []

    def flush(tag: str = "") -> None:
        text = "".join(buf).replace("\n", " ").replace(_BR, "\n")
        buf.clear()
        text = "\n".join(line.strip(" \t") for line in text.split("\n")).strip()
        if not text:
            return
        if tag == "h1" and headline[0] is None:
            headline[0] = " ".join(text.split())
        else:
            blocks.append(text)

    def walk(el: object, list_tag: str = "", number: str | None = None) -> None:
        tag = el.tag.lower() if isinstance(el.tag, str) else ""  # type: ignore[attr-defined]
        if tag in _SKIP_TAGS or not tag:
            if el.tail:  # type: ignore[attr-defined]
                buf.append(el.tail)  # type: ignore[attr-defined]
            return
        block = tag in _BLOCK_TAGS
        if block:
            flush()
        if tag == "br":
            buf.append(_BR)
        if tag in ("td", "th") and "".join(buf).strip():
            buf.append(" | ")  # table cells stay apart, as trafilatura writes them
        if tag == "li" and list_tag == "ul":
            buf.append("- ")
        elif tag == "li" and number is not None:  # the release's own paragraph number, which citations use
            buf.append(f"{number}. ")
        if el.text:  # type: ignore[attr-defined]
            buf.append(el.text)  # type: ignore[attr-defined]
        item, marker = (_list_start(el), _list_marker(el)) if tag == "ol" else (0, str)
        for child in el:  # type: ignore[attr-defined]
            is_item = tag == "ol" and isinstance(child.tag, str) and child.tag.lower() == "li"
            walk(child, tag if tag in ("ul", "ol") else list_tag, marker(item) if is_item else None)
            item += is_item
        if block:
            flush(tag)
        if el.tail:  # type: ignore[attr-defined]
            buf.append(el.tail)  # type: ignore[attr-defined]

    walk(root)
    flush()
    return blocks, headline[0]


def _list_start(ol: object) -> int:
    """The number an ordered list starts at (``<ol start="3">``), 1 when unstated or unreadable."""
    value = str(ol.get("start", "1")).strip()  # type: ignore[attr-defined]
    return int(value) if value.isdigit() and len(value) < 6 else 1


def _roman(n: int) -> str:
    out = ""
    for value, letters in ((1000, "m"), (900, "cm"), (500, "d"), (400, "cd"), (100, "c"), (90, "xc"), (50, "l")):
        out, n = out + letters * (n // value), n % value
    for value, letters in ((40, "xl"), (10, "x"), (9, "ix"), (5, "v"), (4, "iv"), (1, "i")):
        out, n = out + letters * (n // value), n % value
    return out


def _list_marker(ol: object) -> Callable[[int], str]:
    """How an ordered list numbers its items, from ``type="a"`` or ``list-style-type: lower-alpha``."""
    kind = str(ol.get("type", "")).strip()  # type: ignore[attr-defined]
    style = str(ol.get("style", "")).lower()  # type: ignore[attr-defined]
    if kind in ("a", "A") or "alpha" in style or "latin" in style:
        upper = kind == "A" or "upper" in style
        return lambda n: chr(ord("A" if upper else "a") + (n - 1) % 26) if n > 0 else str(n)
    if kind in ("i", "I") or "roman" in style:
        upper = kind == "I" or "upper" in style
        return lambda n: _roman(n).upper() if upper else _roman(n)
    return str


_SEPARATORS = re.compile(r"\s+(?:\||–|—|-|::|·|•|»)\s+")


def strip_site_suffix(title: str, site: str | None = None) -> str:
    """ "Venezuela: … sanctions | News | European Parliament" -> "Venezuela: … sanctions".

    Trailing parts after a separator go when they name the site (its name or host) or when a
    pipe-separated tail of short parts follows a longer headline, as page titles are built.
    """
    title = " ".join(title.split())
    cuts = list(_SEPARATORS.finditer(title))
    site_words = set(re.findall(r"\w+", (site or "").lower())) - {"www", "com", "org", "gov", "net", "co", "jp", "uk"}
    end = len(title)
    for m in reversed(cuts):
        tail, head = title[m.end() : end], title[: m.start()]
        words = set(re.findall(r"\w+", tail.lower()))
        names_site = bool(site_words) and bool(words) and words <= site_words | {"the", "of", "news", "press", "releases", "room"}
        short_after_pipe = "|" in m.group() and len(tail.split()) <= 4 and len(head.split()) >= 3
        if not (names_site or short_after_pipe) or len(head.split()) < 2:
            break
        end = m.start()
    return title[:end].strip()


def load_html(data: bytes, name: str) -> tuple[str, dict[str, str]]:
    """Main text and metadata with trafilatura: menus, cookie banners, sidebars and scripts stay out."""
    import trafilatura

    html = decode(data, name)
    try:
        found = trafilatura.extract(
            html,
            output_format="json",
            with_metadata=True,
            include_comments=False,
            include_tables=True,
            favor_recall=True,
            deduplicate=False,
        )
    except Exception:  # lxml and trafilatura raise many kinds on broken markup
        raise CorpusError(f"{name} could not be parsed as HTML: check that it is a web page") from None
    if not found:
        raise CorpusError(f"{name} has no main text that could be extracted from its HTML")
    doc = json.loads(found)
    site = " ".join(filter(None, [doc.get("sitename"), doc.get("hostname")]))
    title = None
    for candidate in (doc.get("title"), _title_tag(html)):  # a widget's heading ("Original text") is no title
        candidate = _BRACKET_LABEL.sub("", strip_site_suffix(repair(candidate or ""), site)).strip()
        if candidate and not _UI_STRING.match(candidate):
            title = candidate
            break
    hints = {
        "title": title,
        "date": doc.get("date"),
        "organisation": doc.get("source-hostname") or doc.get("sitename") or doc.get("hostname"),
        "url": doc.get("source"),
        "title_source": "metadata" if title else None,
    }
    # trafilatura puts one paragraph per line; blank lines keep them apart for the cleaner.
    lines = [_table_row(line) for line in repair(doc.get("text", "")).split("\n")]
    return "\n\n".join(line for line in lines if line), {k: v for k, v in hints.items() if v}


_UI_STRING = re.compile(
    r"^(?:original\s+text|untitled(?:\s+document)?|home(?:\s*page)?|news|press\s+releases?|index|welcome|"
    r"document|page\s+not\s+found|translate)$",
    re.IGNORECASE,
)
_BRACKET_LABEL = re.compile(r"^\s*[\[【〔(](?:news|press|release|update|info|pr)[^\]】〕)]{0,20}[\]】〕)]\s*", re.IGNORECASE)


def _title_tag(html: str) -> str | None:
    import html as _html

    m = re.search(r"<title[^>]*>(.*?)</title>", html, re.IGNORECASE | re.DOTALL)
    return " ".join(_html.unescape(m.group(1)).split()) if m else None


def _table_row(line: str) -> str:
    """ "| a | | b |" (trafilatura's table row) -> "a | b"."""
    if not (line.startswith("|") and line.rstrip().endswith("|")):
        return line
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    return " | ".join(c for c in cells if c)
