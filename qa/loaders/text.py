"""Plain text: decode, then repair mojibake and compatibility forms before anything else reads it."""

from __future__ import annotations

import re
import unicodedata

from ..errors import CorpusError, Remedy

__all__ = ["decode", "load_text", "repair", "split_runs"]


def decode(data: bytes, name: str) -> str:
    """UTF-8 (with or without BOM); anything else gets an error that says how to convert it."""
    if not data.strip():
        raise CorpusError(f"{name} is empty: add the release text or remove the file")
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
# run after a sentence end, is a line break the scraper flattened.
_LONG_RUN = re.compile(r"[ \t\u00a0]{6,}")
_SENTENCE_RUN = re.compile(r"(?:(?<=[^\W\d_][.!?])|(?<=\)[.!?])|(?<=[.!?][\"”’)]))[ \t\u00a0]{3,}(?=[\"“‘(]?[A-Z0-9])")


_SENTENCE_GAP = re.compile(r"(?:(?<=[^\W\d_][.!?])|(?<=\)[.!?])|(?<=[.!?][\"”’)]))([ \t\u00a0]+)(?=[\"“‘(]?[A-Z])")
_SENTENCE_GAP2 = re.compile(r"(?:(?<=[^\W\d_][.!?])|(?<=\)[.!?])|(?<=[.!?][\"”’)]))[ \t\u00a0]{2,}(?=[\"“‘(]?[A-Z])")


def _break_unless_enumerator(m: re.Match[str]) -> str:
    before = m.string[: m.start()].rsplit("\n", 1)[-1].strip()
    return " " if re.fullmatch(r"\(?\w{1,4}[.)]", before) else "\n\n"  # "2.        It is alleged": a numbered paragraph


def split_runs(text: str) -> str:
    """Turn flattened breaks (runs of spaces) back into line breaks."""
    lines = []
    for line in text.split("\n"):
        line = _SENTENCE_RUN.sub(_break_unless_enumerator, line)
        if len(line) > 400:  # a whole release on one line: two spaces after a sentence were a paragraph break,
            gaps = [len(m.group(1)) for m in _SENTENCE_GAP.finditer(line)]  # unless every sentence has them
            if gaps and 0 < sum(g >= 2 for g in gaps) <= 0.6 * len(gaps):
                line = _SENTENCE_GAP2.sub("\n\n", line)
        lines.append(_LONG_RUN.sub(_break_unless_enumerator, line.strip()))
    return "\n".join(lines)


def load_text(data: bytes, name: str) -> tuple[str, dict[str, str]]:
    return split_runs(repair(decode(data, name))), {}
