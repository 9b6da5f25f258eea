"""What is indexed, as a reader sees it: releases with their metadata, sources with counts, removal.

The chat's Library tab and its source list work on whole releases, not chunks
or files: the same release found in two files is one entry, and removing a
release removes every file that carried it. Uploads are
:meth:`QA.add_releases <qa.session.QA.add_releases>` (:mod:`qa.upload`).
Everything here goes through a :class:`~qa.session.QA` session's public
surface (``corpus``, ``folder``, ``ensure_index``, ``update``).
"""

from __future__ import annotations

import shutil
import time
import weakref
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import CorpusError
from .session import QA
from .upload import UploadResult

__all__ = [
    "ReleaseInfo",
    "releases",
    "remove_release",
    "search_releases",
    "source_counts",
    "undated_releases",
]


@dataclass
class ReleaseInfo:
    """One indexed release (duplicates merged): what the Library tab lists."""

    source: str  # the file its passages are cited from
    title: str
    date: str | None
    organisation: str | None
    section: str | None
    language: str | None
    passages: int
    doc_id: str
    copies: list[str] = field(default_factory=list)  # other files holding the same release

    @property
    def files(self) -> list[str]:
        return [self.source, *self.copies]


_LISTINGS: dict[int, tuple[Any, list[ReleaseInfo]]] = {}  # id(index) -> (weak reference to it, its listing)


def releases(session: QA) -> list[ReleaseInfo]:
    """Every indexed release, newest first (undated last), each listed once whatever the number of copies.

    Computed once per loaded index (the chat asks for it on every page load and filter).
    """
    index = session.ensure_index()
    ref, listing = _LISTINGS.get(id(index), (None, []))
    if ref is None or ref() is not index:
        for key in [k for k, (r, _) in _LISTINGS.items() if r() is None]:
            del _LISTINGS[key]
        listing = _list_releases(index)
        _LISTINGS[id(index)] = (weakref.ref(index), listing)
    return [replace(r, copies=list(r.copies)) for r in listing]


def _list_releases(index: Any) -> list[ReleaseInfo]:
    out: dict[str, ReleaseInfo] = {}
    for chunk in index.chunks:
        info = out.get(chunk.source)
        if info is None:
            out[chunk.source] = ReleaseInfo(
                chunk.source,
                chunk.title,
                chunk.date,
                chunk.organisation,
                chunk.section,
                chunk.language,
                1,
                chunk.doc_id,
                sorted(chunk.also_in),
            )
        else:
            info.passages += 1
    return sorted(out.values(), key=lambda r: (r.date is None, "" if r.date is None else _negate(r.date), r.title.lower()))


def _negate(date: str) -> str:
    """Sort key putting later ISO dates first."""
    return "".join(chr(0x7F - ord(c)) for c in date)


def search_releases(items: Sequence[ReleaseInfo], query: str) -> list[ReleaseInfo]:
    """Releases whose title, date, organisation, section or file names contain every word of ``query``."""
    words = (query or "").lower().split()
    if not words:
        return list(items)

    def haystack(r: ReleaseInfo) -> str:
        return " ".join(
            str(x) for x in (r.title, r.date or "undated", r.organisation, r.section, r.language, *r.files) if x
        ).lower()

    return [r for r in items if all(w in haystack(r) for w in words)]


def source_counts(session: QA) -> list[tuple[str, int]]:
    """Organisations and sections with how many releases carry each, most common first (for the source filter)."""
    counts: Counter[str] = Counter()
    for r in releases(session):
        for name in {x.strip() for x in (r.organisation, r.section) if x and x.strip()}:
            counts[name] += 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0].lower()))


def undated_releases(session: QA) -> list[ReleaseInfo]:
    """Releases with no date: any date filter leaves them out, and the chat says so."""
    return [r for r in releases(session) if not r.date]


# ------------------------------------------------------------------ removal


def remove_release(session: QA, source: str) -> ReleaseInfo:
    """Take a release (every file carrying it) out of the corpus and the index.

    The files are moved to ``<index>/removed/`` rather than deleted, so a
    mistaken removal is undone by moving them back.
    """
    items = releases(session)
    match = next((r for r in items if source in r.files), None)
    if match is None:
        raise CorpusError(f"{source} is not in the library (it may have been removed already): refresh the list")
    if len(items) == 1:
        raise CorpusError("this is the only release in the library: add another before removing it")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    bin_ = session.folder / "removed" / stamp
    bin_.mkdir(parents=True, exist_ok=True)
    moved: list[tuple[Path, Path]] = []
    try:
        for name in match.files:
            src = session.corpus / name
            if src.exists():
                dst = bin_ / name
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(src), str(dst))
                moved.append((src, dst))
        session.update()
    except BaseException:
        for src, dst in moved:  # put them back: the index still lists them
            shutil.move(str(dst), str(src))
        raise
    return match
