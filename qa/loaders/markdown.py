"""Markdown: YAML front matter through PyYAML, the body through a CommonMark parser (markdown-it-py).

CommonMark decides what a paragraph is (hard-wrapped lines join, ``2\\.`` is "2."),
and raw HTML inside the body is parsed as HTML and kept as its text.
"""

from __future__ import annotations

import datetime as _dt

from .. import linear as re
from ..errors import CorpusError
from .html import blocks_from_html
from .text import decode, repair, split_runs

__all__ = ["front_matter", "load_markdown"]

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
# kramdown's attribute lists (``{:start="3"}`` on its own line, ``{: .note}`` after a span): markup, not text.
_ATTRIBUTE_LIST = re.compile(r"(?m)^[ \t]*\{:[^}\n]*\}[ \t]*$|\{:[^}\n]*\}")
# A link whose target holds spaces is not a CommonMark link and would be shown as written: keep its words.
_LOOSE_LINK = re.compile(r"\[([^\]\n]+)\]\(([^)\n]* [^)\n]*)\)")


def front_matter(text: str) -> tuple[dict[str, object], str]:
    """(YAML mapping, body). Front matter that is not valid YAML is read line by line as ``key: value``."""
    import yaml

    m = _FRONT_MATTER.match(text)
    if not m:
        return {}, text
    try:
        data = yaml.safe_load(m.group(1))
    except yaml.YAMLError:
        data = dict(line.partition(":")[::2] for line in m.group(1).splitlines() if ":" in line)
        data = {k.strip(): v.strip().strip("\"'") for k, v in data.items()}
    return (data if isinstance(data, dict) else {}), text[m.end() :]


def _as_text(value: object) -> str | None:
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def load_markdown(data: bytes, name: str) -> tuple[str, dict[str, str]]:
    from markdown_it import MarkdownIt

    text = repair(decode(data, name)).replace("\r\n", "\n")
    try:
        meta, body = front_matter(text)
    except RecursionError:
        raise CorpusError(f"{name} has front matter nested too deeply to read: keep it to plain “key: value” lines") from None
    hints: dict[str, str] = {}
    for key in ("title", "date", "source", "section", "organisation", "organization", "author", "url"):
        value = _as_text(meta.get(key))
        if value:
            hints["organisation" if key == "organization" else key] = value
    if "title" in hints:
        hints["title_source"] = "front matter"
    body = _LOOSE_LINK.sub(r"\1", _ATTRIBUTE_LIST.sub("", body))
    html = MarkdownIt("commonmark", {"html": True}).render(body)
    blocks, headline = blocks_from_html(html)
    if headline and "title" not in hints:
        hints["title"], hints["title_source"] = headline, "heading"
    elif headline and headline.lower() != hints["title"].lower():
        blocks.insert(0, headline)  # a first-level heading that is not the title stays in the text
    return "\n\n".join(split_runs(b) for b in blocks), hints
