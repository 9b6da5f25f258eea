"""Removal the chat can take back: remove a release, list what was removed, restore it.

The library moves a removed release's files out of the corpus; this module
keeps a small record beside them (title, files, time) so the page can list
"Removed releases" by title and restore one with a click, and the user never
sees where on the server the files went.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from .. import QA, CorpusError
from ..library import remove_release

__all__ = ["Removed", "remove", "removed", "restore"]

_RECORD = ".removed-release-{}.json"


@dataclass(frozen=True)
class Removed:
    """One removal, as the page lists it."""

    id: str
    title: str
    files: list[str]
    when: str  # UTC, "YYYY-MM-DD HH:MM"
    folder: str  # the removal's folder name under the trash (never shown)


def _trash(session: QA) -> Path:
    return session.folder / "removed"


def remove(session: QA, source: str) -> Removed:
    """Remove the release ``source`` belongs to (every copy); returns the record that restores it."""
    before = {p.name for p in _trash(session).iterdir()} if _trash(session).is_dir() else set()
    info = remove_release(session, source)
    folders = sorted(
        (p for p in _trash(session).iterdir() if p.is_dir() and all((p / f).exists() for f in info.files if f)),
        key=lambda p: (p.name not in before, p.name),
    )
    folder = folders[-1] if folders else _trash(session)
    entry = Removed(
        uuid.uuid4().hex[:12], info.title, list(info.files), time.strftime("%Y-%m-%d %H:%M", time.gmtime()), folder.name
    )
    (folder / _RECORD.format(entry.id)).write_text(json.dumps(asdict(entry), ensure_ascii=False), encoding="utf-8")
    return entry


def removed(session: QA) -> list[Removed]:
    """Every removal that can still be restored, newest first."""
    trash = _trash(session)
    out = []
    for record in trash.glob("*/" + _RECORD.format("*")) if trash.is_dir() else []:
        try:
            entry = Removed(**json.loads(record.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            continue
        if any((trash / entry.folder / f).exists() for f in entry.files):
            out.append(entry)
    return sorted(out, key=lambda e: (e.when, e.folder), reverse=True)


def restore(session: QA, removal_id: str) -> Removed:
    """Put a removed release's files back and index them; a name taken since is never written over."""
    entry = next((e for e in removed(session) if e.id == removal_id), None)
    if entry is None:
        raise CorpusError("that release is no longer in the removed list (it may have been restored already): refresh the page")
    folder = _trash(session) / entry.folder
    taken = [f for f in entry.files if (session.corpus / f).exists()]
    if taken:
        raise CorpusError(
            f"another release is saved as {', '.join(taken)} now: remove or rename it in the Library first, then restore"
        )
    moved: list[tuple[Path, Path]] = []
    try:
        for name in entry.files:
            src = folder / name
            if src.exists():
                dst = session.corpus / name
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(src), str(dst))
                moved.append((dst, src))
        session.update()
    except BaseException:
        for dst, src in moved:  # back into the trash: the index does not list them
            shutil.move(str(dst), str(src))
        raise
    (folder / _RECORD.format(entry.id)).unlink(missing_ok=True)
    return entry
