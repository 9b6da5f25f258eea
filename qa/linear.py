"""Regular expressions that run in linear time on any text: the ``re`` interface over RE2 (google-re2).

Release text is untrusted: a backtracking engine spends exponential or quadratic time on a few hundred
bytes crafted against a pattern, and holds the interpreter while it does. Every module that applies a
pattern to release text imports this module as ``re``; a pattern RE2 cannot run in linear time
(look-arounds, back-references) is refused when it is compiled, so it cannot slip in.

Patterns keep Python's syntax and meaning where RE2 differs: ``\\w`` and ``\\s`` are Unicode classes as in
Python, ``re.VERBOSE`` whitespace and comments are stripped, flags become inline flags, ``\\Z`` is ``\\z``.
Two differences are kept on purpose: ``\\d`` is ASCII ``[0-9]`` (a date or a number in release text is
written in ASCII digits; "٢٠٢٤" is not a year we read) and ``\\b`` is RE2's ASCII word boundary (so
``\\b`` is only put beside ASCII text; :data:`TOKEN`-like patterns use ``\\w\\w+`` instead).

Every compiled pattern is recorded in :data:`COMPILED` so a test can run each of them on adversarial input.
"""

from __future__ import annotations

import re as _re
from functools import lru_cache
from typing import Any

import re2 as _re2

__all__ = [
    "COMPILED",
    "DOTALL",
    "IGNORECASE",
    "MULTILINE",
    "VERBOSE",
    "Match",
    "Pattern",
    "compile",
    "escape",
    "findall",
    "finditer",
    "fullmatch",
    "match",
    "search",
    "split",
    "sub",
]

IGNORECASE = I = _re.IGNORECASE
DOTALL = S = _re.DOTALL
MULTILINE = M = _re.MULTILINE
VERBOSE = X = _re.VERBOSE
UNICODE = U = _re.UNICODE

Pattern = Any  # re2's compiled pattern: .match, .search, .fullmatch, .finditer, .findall, .sub, .split
Match = Any

COMPILED: dict[tuple[str, int], Any] = {}  # (pattern as written, flags) -> compiled

_SPACE = r"\t-\r\x1c-\x1f \x85\p{Z}"
_WORD = r"\p{L}\p{N}_"
_OUTSIDE = {"w": f"[{_WORD}]", "W": f"[^{_WORD}]", "s": f"[{_SPACE}]", "S": f"[^{_SPACE}]", "Z": r"\z"}
_INSIDE = {"w": _WORD, "s": _SPACE}
# Negated classes Python spells with \W or \S inside brackets, which RE2 cannot: written out.
_IDIOMS = {
    r"[^\W_]": r"[\p{L}\p{N}]",
    r"[^\W\d_]": r"[\p{L}\p{Nl}\p{No}]",
    r"[\W_]": r"[^\p{L}\p{N}]",
    r"[\d\W_]": r"[^\p{L}\p{Nl}\p{No}]",
    r"[\W\d]": r"[^\p{L}\p{Nl}\p{No}_]",
    r"[^\s]": f"[^{_SPACE}]",
}


def _translate(pattern: str, verbose: bool) -> str:
    """Python pattern syntax -> RE2 syntax with Python's Unicode classes."""
    out: list[str] = []
    i, n, in_class = 0, len(pattern), False
    while i < n:
        if not in_class:
            idiom = next((k for k in _IDIOMS if pattern.startswith(k, i)), None)
            if idiom:
                out.append(_IDIOMS[idiom])
                i += len(idiom)
                continue
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            table = _INSIDE if in_class else _OUTSIDE
            if nxt in table:
                out.append(table[nxt])
            elif in_class and nxt in "WS":
                raise ValueError(f"\\{nxt} inside a character class is not supported: write the class out")
            elif nxt == "u" and i + 6 <= n:
                out.append("\\x{" + pattern[i + 2 : i + 6] + "}")
                i += 6
                continue
            elif nxt in " #":
                out.append(nxt if in_class or nxt == " " else "\\#")
            else:
                out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = ch != "]" or (out and out[-1] in ("[", "[^"))
            out.append(ch)
        elif ch == "[":
            in_class = True
            if pattern.startswith("[^", i):
                out.append("[^")
                i += 2
                if i < n and pattern[i] == "]":
                    out.append("\\]")
                    i += 1
                continue
            out.append(ch)
        elif verbose and ch.isspace():
            pass
        elif verbose and ch == "#":
            while i < n and pattern[i] != "\n":
                i += 1
            continue
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def _by_name(method: Any) -> Any:
    """re2's Match.start/end/span take group numbers only; Python's also take group names."""

    def call(self: Any, group: int | str = 0) -> Any:
        return method(self, self._regexp.groupindex[group] if isinstance(group, str) else group)

    return call


for _name in ("start", "end", "span"):
    setattr(_re2._Match, _name, _by_name(getattr(_re2._Match, _name)))


@lru_cache(maxsize=512)
def _compiled(pattern: str, flags: int) -> Any:
    inline = "".join(f for bit, f in ((IGNORECASE, "i"), (DOTALL, "s"), (MULTILINE, "m")) if flags & bit)
    body = _translate(pattern.replace("(?u)", ""), bool(flags & VERBOSE))
    options = _re2.Options()
    options.max_mem = 64 << 20  # bounded repeats such as .{0,300} make large (still linear) programs
    options.log_errors = False
    try:
        compiled = _re2.compile(f"(?{inline}){body}" if inline else body, options)
    except _re2.error as exc:
        raise ValueError(f"pattern {pattern!r} cannot run in linear time ({exc}): rewrite it without look-arounds") from None
    COMPILED[(pattern, flags)] = compiled
    return compiled


def compile(pattern: str, flags: int = 0) -> Any:
    return _compiled(pattern, int(flags))


def escape(text: str) -> str:
    return _re.escape(text)


def search(pattern: str, text: str, flags: int = 0) -> Any:
    return _compiled(pattern, flags).search(text)


def match(pattern: str, text: str, flags: int = 0) -> Any:
    return _compiled(pattern, flags).match(text)


def fullmatch(pattern: str, text: str, flags: int = 0) -> Any:
    return _compiled(pattern, flags).fullmatch(text)


def findall(pattern: str, text: str, flags: int = 0) -> list[Any]:
    return _compiled(pattern, flags).findall(text)  # type: ignore[no-any-return]


def finditer(pattern: str, text: str, flags: int = 0) -> Any:
    return _compiled(pattern, flags).finditer(text)


def sub(pattern: str, repl: Any, text: str, count: int = 0, flags: int = 0) -> str:
    return _compiled(pattern, flags).sub(repl, text, count)  # type: ignore[no-any-return]


def split(pattern: str, text: str, maxsplit: int = 0, flags: int = 0) -> list[str]:
    return _compiled(pattern, flags).split(text, maxsplit)  # type: ignore[no-any-return]
