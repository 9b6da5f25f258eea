"""Format loaders: file bytes -> (plain text with blank lines between paragraphs, metadata hints).

Each format has its own small module built on a library made for the job:
text (ftfy + NFKC repair), Markdown (PyYAML front matter, markdown-it body),
HTML (trafilatura), PDF (pdfplumber layout: font sizes and line positions).
The corpus stage cleans what they return the same way for every format.
"""

from __future__ import annotations

from collections.abc import Callable

from .html import load_html
from .markdown import load_markdown
from .pdf import load_pdf
from .text import decode, load_text, repair

__all__ = ["LOADERS", "Loader", "decode", "load_html", "load_markdown", "load_pdf", "load_text", "repair"]

# hints: "title", "date", "organisation", "url", "section", "title_source" (where the title came from)
Loader = Callable[[bytes, str], tuple[str, dict[str, str]]]
LOADERS: dict[str, Loader] = {
    ".txt": load_text,
    ".md": load_markdown,
    ".markdown": load_markdown,
    ".html": load_html,
    ".htm": load_html,
    ".pdf": load_pdf,
}
