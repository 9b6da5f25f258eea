"""Plain text: decode, then repair mojibake and compatibility forms before anything else reads it."""

from __future__ import annotations

import codecs
import unicodedata

from .. import linear as re
from ..errors import CorpusError, Remedy

__all__ = ["decode", "load_text", "repair", "split_runs"]


def decode(data: bytes, name: str) -> str:
    """UTF-8 (with or without BOM), or UTF-16 with its BOM; anything else gets an error that says how to convert it."""
    if not data.strip():
        raise CorpusError(f"{name} is empty: add the release text or remove the file")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise CorpusError(
                f"{name} starts as UTF-16 text but is not valid UTF-16: open it and save it again as UTF-8 text"
            ) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorpusError(
            f"{name} is not UTF-8 text (bad byte at offset {exc.start})", remedy=Remedy.SAVE_AS_UTF8, file=name
        ) from None


def repair(text: str) -> str:
    """Mojibake ("â€™" -> "’"), ligatures ("ﬁ" -> "fi") and width/compatibility forms, with ftfy then NFKC.

    Curly quotes stay curly: the stored passage is the release as written.
    """
    import ftfy

    text = ftfy.fix_text(text, uncurl_quotes=False, normalization="NFC")
    # NFKC everywhere except on marks it would turn into letters or digits glued to a word
    # ("Miners™ Index" -> "MinersTM Index", "m²" -> "m2").
    return "".join(
        piece if piece and piece in _KEEP else unicodedata.normalize("NFKC", piece) for piece in _KEEP_SPLIT.split(text)
    )


_KEEP = frozenset("™℠¹²³⁰⁴⁵⁶⁷⁸⁹₀₁₂₃₄₅₆₇₈₉")
_KEEP_SPLIT = re.compile("([" + "".join(sorted(_KEEP)) + "])")


# One-line scrapes keep paragraph and field breaks only as runs of spaces: a long run, or a short
# run after a sentence end, is a line break the scraper flattened. Runs are found on their own and
# their context (the two characters before, the two after) is checked on those few characters, so
# the work is linear in the line whatever it holds.
_RUN = re.compile(r"[ \t\u00a0]+")
_SENTENCE_BEFORE = re.compile(r"[^\W\d_][.!?]|\)[.!?]|[.!?][\"”’)]")  # a sentence's end, just before the run
_CAPITAL_AFTER = re.compile(r"[\"“‘(]?[A-Z]")
_CAPITAL_OR_DIGIT_AFTER = re.compile(r"[\"“‘(]?[A-Z0-9]")
_ENUMERATOR = re.compile(r"\(?\w{1,4}[.)]")  # "2.", "(b)", "iv)"


def _runs(line: str, shortest: int, after: re.Pattern | None = None) -> list[tuple[int, int]]:
    """Spans of runs of at least ``shortest`` spaces; with ``after``, only those ending a sentence before it."""
    spans = []
    for m in _RUN.finditer(line):
        a, b = m.span()
        if b - a < shortest:
            continue
        if after is None or (a >= 2 and _SENTENCE_BEFORE.fullmatch(line[a - 2 : a]) and after.match(line[b : b + 2])):
            spans.append((a, b))
    return spans


def _break_unless_enumerator(text: str, spans: list[tuple[int, int]]) -> str:
    """Each run becomes a paragraph break, or a space after a paragraph number ("2.        It is alleged")."""
    out: list[str] = []
    last = line_start = first_letter = 0
    for a, b in spans:
        newline = text.rfind("\n", last, a)
        if newline >= 0 or last == 0:
            line_start = newline + 1 if newline >= 0 else 0
            first_letter = line_start
            while first_letter < a and text[first_letter].isspace():
                first_letter += 1
        before = text[first_letter:a] if a - first_letter <= 8 else ""
        out.extend((text[last:a], " " if _ENUMERATOR.fullmatch(before.strip()) else "\n\n"))
        last = b
    out.append(text[last:])
    return "".join(out)


def split_runs(text: str) -> str:
    """Turn flattened breaks (runs of spaces) back into line breaks."""
    lines = []
    for line in text.split("\n"):
        line = _break_unless_enumerator(line, _runs(line, 3, _CAPITAL_OR_DIGIT_AFTER))
        if len(line) > 400:  # a whole release on one line: two spaces after a sentence were a paragraph break,
            gaps = [b - a for a, b in _runs(line, 1, _CAPITAL_AFTER)]  # unless every sentence has them
            if gaps and 0 < sum(g >= 2 for g in gaps) <= 0.6 * len(gaps):
                line = "".join(_split_at(line, _runs(line, 2, _CAPITAL_AFTER)))
        line = line.strip()
        lines.append(_break_unless_enumerator(line, _runs(line, 6)))
    return "\n".join(lines)


def _split_at(line: str, spans: list[tuple[int, int]]) -> list[str]:
    out: list[str] = []
    last = 0
    for a, b in spans:
        out.extend((line[last:a], "\n\n"))
        last = b
    out.append(line[last:])
    return out


def load_text(data: bytes, name: str) -> tuple[str, dict[str, str]]:
    return split_runs(repair(decode(data, name))), {}
