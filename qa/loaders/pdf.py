"""PDF: pdfplumber's characters with their font sizes and positions rebuild what the page shows.

A printed line is not a paragraph: lines join until vertical space, a change of type, a bullet
or a short last line ends the paragraph, and a paragraph cut by a page break runs on. The
headline is the largest (then boldest) type above the first paragraph of body text, never the
file's metadata title (often "Microsoft Word - …"). Running headers and footers (the same
line at the same edge of most pages), page numbers, margin decorations and chart values
(lines of numbers) are dropped; footnotes move to the end, where a reader meets them.
"""

from __future__ import annotations

import io
import itertools
import statistics
from dataclasses import dataclass

from .. import linear as re
from ..errors import CorpusError
from .text import repair

__all__ = ["PdfLine", "load_pdf", "paragraphs_from_lines", "pdf_lines"]


@dataclass
class PdfLine:
    page: int
    text: str
    x0: float
    x1: float
    top: float
    bottom: float
    size: float
    bold: bool
    page_height: float = 842.0


MAX_PAGES = 200  # a release is a few pages; a document of hundreds is a report or a bomb

# Labels a release carries above its headline; never the headline itself.
DOC_LABEL = re.compile(
    r"^(?:(?:joint\s+)?(?:media|press|news)\s+(?:release|statement|advisory|alert|note)s?|for\s+immediate\s+release"
    r"|(?:immediate\s+)?release|embargoed.*|news|statement|fact\s+sheet|media|press|page\s*\d*)[.:]?$",
    re.IGNORECASE,
)
_PAGE_NUMBER = re.compile(r"^(?:page)?[-–—]?\d{1,4}[-–—]?(?:(?:of|/)\d{1,4})?$|^\d{1,4}\|?page\d*$|^page\|?\d{1,4}$")
_BULLET_START = re.compile(r"^(?:[●•▪◦‣∙·■□➢➤►\-–*o]\s|\(?(?:[a-zA-Z]|\d{1,2}|[ivx]{1,4}|[IVX]{1,4})[.)]\s)")
_SENTENCE_END = re.compile(r"[.!?:;\"”’)\]]$")


def _is_chart_text(text: str) -> bool:
    """Chart values and axis labels: mostly numbers, percentages and letter fragments."""
    tokens = text.split()
    if not tokens:
        return True
    noise = sum(1 for t in tokens if re.fullmatch(r"[\d.,%$€£()\-–+/]+", t) or (len(t) == 1 and t not in "aAI&"))
    return noise / len(tokens) >= 0.5 and len(tokens) < 16


def _is_multi_column(page_lines: list[dict]) -> bool:
    """Most long printed lines have wide gaps inside them: the page is set in columns."""
    lines = [ln for ln in page_lines if len(ln["chars"]) >= 30]
    if len(lines) < 10:
        return False
    gapped = 0
    for ln in lines:
        chars = sorted(ln["chars"], key=lambda c: c["x0"])
        widths = sorted(c["x1"] - c["x0"] for c in chars if c["text"].strip())
        typical = widths[len(widths) // 2] if widths else 5.0
        if any(b["x0"] - a["x1"] > 2.5 * typical for a, b in itertools.pairwise(chars)):
            gapped += 1
    return gapped > 0.5 * len(lines)


def pdf_lines(data: bytes, name: str) -> tuple[list[PdfLine], int, str]:
    """The text lines of every page with position, size and weight; (lines, page count, metadata title)."""
    import pdfplumber
    from pdfminer.pdfparser import PDFSyntaxError

    lines: list[PdfLine] = []
    try:
        with pdfplumber.open(io.BytesIO(data)) as pdf:
            meta_title = str((pdf.metadata or {}).get("Title") or "")
            n_pages = len(pdf.pages)
            if n_pages > MAX_PAGES:
                raise CorpusError(f"{name} has {n_pages} pages; PDFs over {MAX_PAGES} pages are not releases we index: split it")
            for number, page in enumerate(pdf.pages):
                upright = page.filter(lambda obj: obj.get("object_type") != "char" or obj.get("upright", True))
                found = upright.extract_text_lines(return_chars=True, strip=True)
                if _is_multi_column(found):
                    # a page set in columns (a newspaper clipping) is read in the order its text was written,
                    # column by column, with the tighter word spacing of justified narrow columns
                    found = upright.extract_text_lines(return_chars=True, strip=True, x_tolerance=1, use_text_flow=True)
                for line in found:
                    chars = [c for c in line["chars"] if c["text"].strip()]
                    if (
                        not chars
                        or line["x0"] < 0
                        or line["x1"] > page.width + 1
                        or line["top"] < 0
                        or line["bottom"] > page.height + 1
                    ):
                        continue  # rotated or off-page text (chart axes, crop marks)
                    sizes = [round(float(c["size"]), 1) for c in chars]
                    bold = sum("bold" in str(c.get("fontname", "")).lower() for c in chars) > len(chars) / 2
                    lines.append(
                        PdfLine(
                            number,
                            repair(line["text"]).strip(),
                            float(line["x0"]),
                            float(line["x1"]),
                            float(line["top"]),
                            float(line["bottom"]),
                            statistics.median(sizes),
                            bold,
                            float(page.height),
                        )
                    )
    except (PDFSyntaxError, ValueError, KeyError, TypeError, OSError, IndexError, AssertionError):
        raise CorpusError(f"{name} is not a readable PDF: export it again as PDF or as text") from None
    except Exception as exc:
        if type(exc).__module__.startswith(("pdfminer", "pdfplumber", "pypdfium2")):
            raise CorpusError(f"{name} is not a readable PDF: export it again as PDF or as text") from None
        raise
    return [ln for ln in lines if ln.text], n_pages, meta_title


def _mask(text: str) -> str:
    return re.sub(r"\d+", "#", re.sub(r"\s+", " ", text.lower()))


def _drop_furniture(lines: list[PdfLine], n_pages: int) -> list[PdfLine]:
    """Running headers/footers, page numbers, chart values and margin decorations out."""
    edge_pages: dict[str, set[int]] = {}
    for ln in lines:
        if ln.top < 0.15 * ln.page_height or ln.bottom > 0.88 * ln.page_height:
            edge_pages.setdefault(_mask(ln.text), set()).add(ln.page)
    # on half the pages, or on three: pages that are all picture carry no text line to repeat
    running = {k for k, pages in edge_pages.items() if n_pages > 1 and len(pages) >= min(3, max(2, (n_pages + 1) // 2))}
    kept = [
        ln
        for ln in lines
        if not ((ln.top < 0.15 * ln.page_height or ln.bottom > 0.88 * ln.page_height) and _mask(ln.text) in running)
        and not _PAGE_NUMBER.match(re.sub(r"\s+", "", ln.text.lower()))
        and not _is_chart_text(ln.text)
    ]
    body = _body_size(kept)
    wide = [ln for ln in kept if abs(ln.size - body) < 0.6 and len(ln.text) > 40]
    if wide:  # text standing right of the body column is a margin decoration ("MEDIA / RELEASE" down the side)
        right = statistics.median(ln.x1 for ln in wide)
        kept = [ln for ln in kept if ln.x0 < right - 20]
    return kept


def _body_size(lines: list[PdfLine]) -> float:
    """The type size most of the text is set in (weighted by characters)."""
    weight: dict[float, int] = {}
    for ln in lines:
        weight[ln.size] = weight.get(ln.size, 0) + len(ln.text)
    return max(weight, key=lambda s: weight[s]) if weight else 0.0


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 2 or w.isdigit()}


def _find_headline(lines: list[PdfLine], body: float, stem: str) -> tuple[str | None, set[int]]:
    """The headline (text, indices of its lines): the largest, then boldest, type above the first body paragraph."""
    body_lengths = sorted(len(ln.text) for ln in lines if abs(ln.size - body) < 0.6)
    prose = min(50, 0.8 * body_lengths[len(body_lengths) // 2]) if body_lengths else 50  # narrow columns have short lines
    first_page = next((ln.page for ln in lines if abs(ln.size - body) < 0.6 and len(ln.text) > prose), None)
    if first_page is None:
        return None, set()
    top = [(i, ln) for i, ln in enumerate(lines) if ln.page == first_page]
    # stop at the first run of body text (two body-size lines in a row that read as prose)
    cands: list[tuple[int, PdfLine]] = []
    for j, (i, ln) in enumerate(top):
        nxt = top[j + 1][1] if j + 1 < len(top) else None
        if abs(ln.size - body) < 0.6 and not ln.bold and len(ln.text) > prose and nxt is not None and abs(nxt.size - body) < 0.6:
            break
        if not DOC_LABEL.match(ln.text) and not re.match(r"^[\W\d]", ln.text):
            cands.append((i, ln))
    display_cut = len(cands)
    cands += [(i, ln) for i, ln in top if ln.size >= 1.8 * body and (i, ln) not in cands]  # display type anywhere on the page
    if not cands:
        return None, set()
    groups: list[list[tuple[int, PdfLine]]] = []
    for i, ln in cands:
        last = groups[-1][-1] if groups else None
        if (
            last
            and last[0] == i - 1
            and abs(last[1].size - ln.size) < 0.3
            and last[1].bold == ln.bold
            and ln.top - last[1].bottom < 1.0 * ln.size
        ):
            groups[-1].append((i, ln))
        else:
            groups.append([(i, ln)])
    groups = [g for g in groups if len(" ".join(ln.text for _, ln in g).split()) >= 2]
    groups = [g for g in groups if not re.search(r"\b(?:19|20)\d\d\b", g[0][1].text) or len(g) > 1 or g[0][1].size > body + 0.5]

    def score(group: list[tuple[int, PdfLine]]) -> tuple[float, bool]:
        return (group[0][1].size, group[0][1].bold)

    if not groups:
        return None, set()
    best = max(score(g) for g in groups)
    if best[0] < body + 0.5 and not best[1]:
        return None, set()  # nothing set apart from the body type: no headline to trust
    display = [g for g in groups if g[0][1].size >= max(best[0] * 0.6, body * 1.8)] if best[0] >= body * 1.8 else []
    if len(display) > 1:  # a page of several stories (a clipping): the one the file name echoes
        echo = _words(stem)
        chosen = max(display, key=lambda g: (len(_words(" ".join(ln.text for _, ln in g)) & echo), score(g)))
    else:  # the first of the largest; where several share that type, the one the file name echoes
        echo = _words(stem)
        tied = [g for g in groups if score(g) == best and g[0][0] < (cands[display_cut - 1][0] + 1 if display_cut else 0)] or [
            g for g in groups if score(g) == best
        ]
        chosen = max(tied, key=lambda g: (len(_words(" ".join(ln.text for _, ln in g)) & echo), -g[0][0]))
    text = " ".join(ln.text for _, ln in chosen)
    return text, {i for i, _ in chosen}


def paragraphs_from_lines(lines: list[PdfLine], body: float) -> list[str]:
    """Join printed lines into the paragraphs a reader sees."""
    pitches = [
        b.top - a.top
        for a, b in itertools.pairwise(lines)
        if a.page == b.page and abs(a.size - body) < 0.6 and abs(b.size - body) < 0.6 and 0 < b.top - a.top < 2.2 * body
    ]
    pitch = statistics.median(pitches) if pitches else 1.2 * body
    page_pitch: dict[int, float] = {}  # line spacing can change from page to page (1.5 lines here, single there)
    for page in {ln.page for ln in lines}:
        own = [
            b.top - a.top
            for a, b in itertools.pairwise(lines)
            if a.page == b.page == page
            and abs(a.size - body) < 0.6
            and abs(b.size - body) < 0.6
            and 0 < b.top - a.top < 2.2 * body
        ]
        page_pitch[page] = statistics.median(own) if len(own) >= 3 else pitch
    body_lines = [ln for ln in lines if abs(ln.size - body) < 0.6 and len(ln.text) > 40]
    left = min((ln.x0 for ln in body_lines), default=0.0)
    right = statistics.median([ln.x1 for ln in body_lines]) if body_lines else 0.0
    paras: list[list[PdfLine]] = []
    for ln in lines:
        prev = paras[-1][-1] if paras else None
        if prev is None:
            paras.append([ln])
            continue
        if prev.page != ln.page or ln.top < prev.top - 2 * prev.size:  # a new page, or the top of the next column
            runs_on = (
                not _SENTENCE_END.search(prev.text)
                and abs(prev.size - ln.size) < 0.6
                and prev.bold == ln.bold
                and not _BULLET_START.match(ln.text)
            )
            new = not runs_on
        else:
            gap = ln.top - prev.top
            group = paras[-1]
            height = prev.bottom - prev.top
            if len(group) >= 2 and group[-2].page == prev.page:  # the spacing this paragraph has kept so far
                spaced = gap > 1.35 * max(prev.top - group[-2].top, height)
            else:
                spaced = gap > max(1.35 * page_pitch[ln.page], 1.9 * height)
            new = (
                spaced
                or gap < 0
                or abs(prev.size - ln.size) >= 0.6
                or (
                    prev.bold != ln.bold
                    and (prev.bold or ln.bold)
                    and _SENTENCE_END.search(prev.text) is None
                    and len(prev.text) < 0.8 * (right - left) / max(prev.size * 0.5, 1)
                )
                or bool(_BULLET_START.match(ln.text))
                or (
                    abs(prev.size - body) < 0.6
                    and prev.x1 < right - 0.15 * (right - left)
                    and _SENTENCE_END.search(prev.text) is not None
                    and abs(prev.x0 - left) < 20
                )
            )
        if new:
            paras.append([ln])
        else:
            paras[-1].append(ln)
    out = []
    for group in paras:
        text = ""
        for ln in group:
            if text.endswith("-") and not text.endswith(" -") and ln.text[:1].islower():
                text = text[:-1] + ln.text  # a word hyphenated at the line end
            else:
                text = f"{text} {ln.text}" if text else ln.text
        out.append(text)
    return out


def load_pdf(data: bytes, name: str) -> tuple[str, dict[str, str]]:
    if not data.strip():
        raise CorpusError(f"{name} is empty: add the release text or remove the file")
    lines, n_pages, _meta_title = pdf_lines(data, name)
    lines = _drop_furniture(lines, n_pages)
    if not lines:
        raise CorpusError(f"{name} has no extractable text (a scanned image?): run OCR first or supply the text")
    body = _body_size(lines)
    stem = re.split(r"[\\/]", name)[-1].rsplit(".", 1)[0]
    title, used = _find_headline(lines, body, stem)
    rest = [ln for i, ln in enumerate(lines) if i not in used]
    # footnotes: small type below the last body line of its page, moved to the end
    last_body: dict[int, float] = {}
    for ln in rest:
        if abs(ln.size - body) < 0.6:
            last_body[ln.page] = max(last_body.get(ln.page, 0.0), ln.top)
    notes_idx: set[int] = set()
    for i, ln in enumerate(rest):
        small_low = ln.size < body - 0.6 and ln.top > last_body.get(ln.page, 1e9) and ln.top > 0.6 * ln.page_height
        if not small_low:
            continue
        prev = rest[i - 1] if i else None
        starts_block = prev is None or prev.page != ln.page or ln.top - prev.bottom > 0.8 * (ln.bottom - ln.top)
        if (starts_block and re.match(r"^[\d*†‡¹²³⁴⁵⁶⁷⁸⁹\[]", ln.text)) or (i - 1 in notes_idx and not starts_block):
            notes_idx.add(i)  # a footnote (marked "1", "*", "[2]") and the lines that continue it
    notes = [ln for i, ln in enumerate(rest) if i in notes_idx]
    main = [ln for i, ln in enumerate(rest) if i not in notes_idx]
    paragraphs = paragraphs_from_lines(main, body) + paragraphs_from_lines(notes, body)
    hints = {"title": title, "title_source": "headline"} if title else {}
    return "\n\n".join(paragraphs), hints
