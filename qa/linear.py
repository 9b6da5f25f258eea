"""Regular expressions that run in linear time on any text: the ``re`` interface over RE2 (google-re2).

Release text is untrusted: a backtracking engine spends exponential or quadratic time on a few hundred
bytes crafted against a pattern, and holds the interpreter while it does. Every module that applies a
pattern to release text imports this module as ``re``; a pattern RE2 cannot run in linear time
(look-arounds, back-references) is refused when it is compiled, so it cannot slip in.

Patterns keep Python's syntax and meaning where RE2 differs: ``\\w``, ``\\W``, ``\\s`` and ``\\S`` are Unicode
classes as in Python, ``re.VERBOSE`` whitespace and comments are stripped, flags become inline flags, ``\\Z`` is ``\\z``.
Two differences are kept on purpose: ``\\d`` is ASCII ``[0-9]`` and ``\\D`` its complement (a date or a number
in release text is written in ASCII digits; "٢٠٢٤" is not a year we read), and ``\\b`` and ``\\B`` are RE2's
ASCII word boundaries: a letter outside ASCII is not a word character for them, so ``\\bcafé\\b`` does not
match "café" and ``\\b\\w+\\b`` finds "caf" in it. Put ``\\b`` only beside ASCII characters; to find whole
words of any script, match runs of ``\\w`` (``\\w+``), which are Unicode.

Every compiled pattern is recorded in :data:`COMPILED` so a test can run each of them on adversarial input.
"""

from __future__ import annotations

import re as _re
from collections.abc import Iterator
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

IGNORECASE = _re.IGNORECASE
DOTALL = _re.DOTALL
MULTILINE = _re.MULTILINE
VERBOSE = _re.VERBOSE
UNICODE = _re.UNICODE

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
            in_class = ch != "]" or bool(out and out[-1] in ("[", "[^"))
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
def _cached(pattern: str, flags: int) -> _Lazy:
    """An inline pattern (``re.search(r"...", text)``): compiled once."""
    lazy = _Lazy(pattern, flags)
    lazy.compiled()
    LAZY.append(lazy)
    return lazy


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


class _Match:
    """A match of :class:`_Lazy`: what callers use of a match (group, start, end, span, string)."""

    __slots__ = ("_names", "_spans", "string")

    def __init__(self, string: str, spans: list[tuple[int, int]], names: dict[str, int]) -> None:
        self.string, self._spans, self._names = string, spans, names

    def _index(self, group: int | str) -> int:
        return self._names[group] if isinstance(group, str) else group

    def span(self, group: int | str = 0) -> tuple[int, int]:
        return self._spans[self._index(group)]

    def start(self, group: int | str = 0) -> int:
        return self._spans[self._index(group)][0]

    def end(self, group: int | str = 0) -> int:
        return self._spans[self._index(group)][1]

    def group(self, *groups: int | str) -> Any:
        if len(groups) > 1:
            return tuple(self.group(g) for g in groups)
        a, b = self._spans[self._index(groups[0] if groups else 0)]
        return None if a < 0 else self.string[a:b]

    def groups(self) -> tuple[str | None, ...]:
        return tuple(self.group(i) for i in range(1, len(self._spans)))

    def __getitem__(self, group: int | str) -> str | Any:  # as typeshed types re.Match: None only for an unused group
        return self.group(group)


class _Lazy:
    """A pattern compiled by RE2 on first use (importing a module compiles nothing).

    Matching goes straight to RE2 with light match objects: re2's own Python layer costs tens of
    microseconds per match, which adds up on the many small matches of cleaning a release.
    """

    __slots__ = ("_compiled", "_names", "flags", "pattern")

    def __init__(self, pattern: str, flags: int) -> None:
        self.pattern, self.flags, self._compiled = pattern, flags, None
        self._names: dict[str, int] = {}

    def compiled(self) -> Any:
        if self._compiled is None:
            compiled = _compiled(self.pattern, self.flags)
            self._names = dict(compiled.groupindex)
            self._compiled = compiled
        return self._compiled

    @property
    def groups(self) -> int:
        return int(self.compiled().groups)

    def _walk(self, anchor: Any, text: str) -> Iterator[_Match]:
        regexp = self.compiled()._regexp
        data = text.encode("utf-8", "surrogatepass")
        ascii_only = len(data) == len(text)
        byte = char = 0  # a byte offset and the character offset it corresponds to

        def chars(offset: int) -> int:
            nonlocal byte, char
            if offset < 0 or ascii_only:
                return offset
            if offset >= byte:
                char += len(data[byte:offset].decode("utf-8", "surrogatepass"))
            else:
                char -= len(data[offset:byte].decode("utf-8", "surrogatepass"))
            byte = offset
            return char

        pos, end = 0, len(data)
        while pos <= end:
            spans = regexp.Match(anchor, data, pos, end)
            if spans[0][0] < 0:
                return
            if ascii_only:  # byte offsets are character offsets
                yield _Match(text, spans, self._names)
            else:
                mapped = {o: chars(o) for o in sorted({o for span in spans for o in span if o >= 0})}
                yield _Match(text, [(mapped.get(a, -1), mapped.get(b, -1)) for a, b in spans], self._names)
            if anchor != _re2._Anchor.UNANCHORED:
                return
            pos = spans[0][1] if spans[0][1] > spans[0][0] else spans[0][1] + _step(data, spans[0][1])

    def match(self, text: str) -> _Match | None:
        return next(self._walk(_re2._Anchor.ANCHOR_START, text), None)

    def fullmatch(self, text: str) -> _Match | None:
        return next(self._walk(_re2._Anchor.ANCHOR_BOTH, text), None)

    def search(self, text: str) -> _Match | None:
        return next(self._walk(_re2._Anchor.UNANCHORED, text), None)

    def finditer(self, text: str) -> Iterator[_Match]:
        return self._walk(_re2._Anchor.UNANCHORED, text)

    def findall(self, text: str) -> list[Any]:
        groups = self.groups
        if groups == 0:
            return [m.group() for m in self.finditer(text)]
        if groups == 1:
            return [m.group(1) or "" for m in self.finditer(text)]
        return [tuple(m.group(i) or "" for i in range(1, groups + 1)) for m in self.finditer(text)]

    def sub(self, repl: Any, text: str, count: int = 0) -> str:
        if not callable(repl) and "\\" in repl:
            return str(self.compiled().sub(repl, text, count))  # group references: re2's own expansion
        out: list[str] = []
        last = 0
        for n, m in enumerate(self.finditer(text), start=1):
            out.extend((text[last : m.start()], repl(m) if callable(repl) else repl))
            last = m.end()
            if n == count:
                break
        out.append(text[last:])
        return "".join(out)

    def split(self, text: str, maxsplit: int = 0) -> list[str | Any]:  # as typeshed's re.split: None only for a group
        out: list[str | None] = []
        last = 0
        for n, m in enumerate(self.finditer(text), start=1):
            out.append(text[last : m.start()])
            out.extend(m.group(i) for i in range(1, self.groups + 1))
            last = m.end()
            if n == maxsplit:
                break
        out.append(text[last:])
        return out


def _step(data: bytes, offset: int) -> int:
    """Bytes of the character at ``offset`` (to step past an empty match)."""
    if offset >= len(data):
        return 1
    lead = data[offset]
    return 1 if lead < 0x80 else 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4


LAZY: list[_Lazy] = []  # every pattern a module compiled: what the linear-time test checks


def compile(pattern: str, flags: int = 0) -> _Lazy:
    """A pattern checked and compiled by RE2 on first use (one RE2 cannot run in linear time fails then)."""
    lazy = _Lazy(pattern, int(flags))
    LAZY.append(lazy)
    return lazy


def escape(text: str) -> str:
    return _re.escape(text)


def search(pattern: str, text: str, flags: int = 0) -> Any:
    return _cached(pattern, int(flags)).search(text)


def match(pattern: str, text: str, flags: int = 0) -> Any:
    return _cached(pattern, int(flags)).match(text)


def fullmatch(pattern: str, text: str, flags: int = 0) -> Any:
    return _cached(pattern, int(flags)).fullmatch(text)


def findall(pattern: str, text: str, flags: int = 0) -> list[Any]:
    return _cached(pattern, int(flags)).findall(text)


def finditer(pattern: str, text: str, flags: int = 0) -> Any:
    return _cached(pattern, int(flags)).finditer(text)


def sub(pattern: str, repl: Any, text: str, count: int = 0, flags: int = 0) -> str:
    return _cached(pattern, int(flags)).sub(repl, text, count)


def split(pattern: str, text: str, maxsplit: int = 0, flags: int = 0) -> list[str | Any]:
    return _cached(pattern, int(flags)).split(text, maxsplit)
