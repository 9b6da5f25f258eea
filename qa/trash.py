"""Moving release files out of the corpus and back without ever writing over a file: the removal trash.

A removed release's files go to a trash folder outside the corpus and outside the index folder
(``.<corpus name>-removed`` beside the corpus unless configured), one record folder per removal
holding the files and ``record.json`` (what was moved, from where, with each file's hash). Every
move is a hard link to the new place followed by the removal of the old name, so a file is at
one place or both at every instant and a process killed between two steps loses nothing; a file
is never moved onto an existing path. The same folder holds the lock that makes every upload and
removal of one corpus a transaction of its own (:func:`corpus_lock`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .corpus import file_sha256
from .errors import CorpusError, Remedy
from .store.manifest import write_atomic

__all__ = ["RemovalRecord", "corpus_lock", "move_no_clobber", "new_record", "read_records", "trash_folder", "write_record"]

RECORD = "record.json"
LOCK_WAIT = 900.0  # seconds an upload or removal waits for the one before it (which may wait for `qa index`)


@dataclass
class RemovalRecord:
    """One removal: the release's files, where they came from, and what became of each."""

    id: str
    title: str
    removed_at: str  # ISO time, UTC
    files: list[str]  # paths relative to the corpus
    hashes: dict[str, str] = field(default_factory=dict)  # file -> sha256 when removed
    state: str = "removing"  # "removing", "removed", "restored", "partly restored"
    kept: list[str] = field(default_factory=list)  # files left in the trash because their path was taken
    folder: str = ""  # the record's folder (filled in when read)

    def to_json(self) -> bytes:
        data = asdict(self)
        data.pop("folder")
        return json.dumps(data, indent=1).encode()


def trash_folder(corpus: Path, index: Path, configured: Path | None = None) -> Path:
    """Where removed releases go: never inside the corpus (it would be indexed again) nor the index folder."""
    corpus = Path(corpus).resolve()
    trash = Path(configured).resolve() if configured else corpus.parent / f".{corpus.name}-removed"
    for name, folder in (("corpus", corpus), ("index folder", Path(index).resolve())):
        if trash == folder or trash.is_relative_to(folder):
            raise CorpusError(
                f"the folder for removed releases lies inside the {name}",
                remedy=Remedy.FIX_SETTING,
                setting=f"QA_TRASH (now {trash}) to a folder outside the corpus and the index folder",
            )
    return trash


_THREAD_LOCKS: dict[str, threading.Lock] = {}
_GUARD = threading.Lock()


@contextlib.contextmanager
def corpus_lock(trash: Path, wait: float = LOCK_WAIT) -> Iterator[None]:
    """One upload or removal at a time for this corpus, across threads and processes."""
    from filelock import FileLock, Timeout

    with _GUARD:
        thread_lock = _THREAD_LOCKS.setdefault(str(trash), threading.Lock())
    if not thread_lock.acquire(timeout=wait):
        raise CorpusError(f"another upload or removal is still running after {wait:.0f} s: try again when it ends")
    try:
        try:
            trash.mkdir(parents=True, exist_ok=True)
            lock = FileLock(str(trash / ".lock"))
            lock.acquire(timeout=wait)
        except OSError as exc:
            raise CorpusError(
                f"the folder for removed releases cannot be used ({(exc.strerror or 'error').lower()})",
                remedy=Remedy.MAKE_WRITABLE,
                folder=str(trash),
            ) from None
        except Timeout:
            raise CorpusError(f"another upload or removal is still running after {wait:.0f} s: try again when it ends") from None
        try:
            yield
        finally:
            lock.release()
    finally:
        thread_lock.release()


def move_no_clobber(src: Path, dst: Path) -> bool:
    """Move ``src`` to ``dst`` unless ``dst`` exists; False (and nothing moved) if it does.

    Hard link then unlink: at every instant the file has a name. Across file systems: an exclusive
    copy, synced, then the unlink.
    """
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except FileExistsError:
        return same_file(src, dst) and _drop(src)  # a move killed after its link: finish it
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.ENOTSUP):
            raise
        try:
            fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as out:
            out.write(src.read_bytes())
            out.flush()
            os.fsync(out.fileno())
    src.unlink()
    return True


def _drop(path: Path) -> bool:
    path.unlink()
    return True


def same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def new_record(trash: Path, title: str, files: list[str], corpus: Path) -> RemovalRecord:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    record = RemovalRecord(
        id=f"{stamp}-{uuid.uuid4().hex[:6]}",
        title=title,
        removed_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        files=files,
        hashes={f: file_sha256((corpus / f).read_bytes()) for f in files if (corpus / f).is_file()},
    )
    record.folder = str(trash / record.id)
    return record


def write_record(record: RemovalRecord) -> None:
    """Write the record whole or not at all, on disk before the next step (the file and its folder flushed)."""
    folder = Path(record.folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / RECORD, record.to_json())


def read_records(trash: Path) -> list[RemovalRecord]:
    """Every removal recorded in the trash, newest first (a record that cannot be read is skipped)."""
    out = []
    for path in sorted(Path(trash).glob(f"*/{RECORD}"), reverse=True):
        try:
            data = json.loads(path.read_text())
            out.append(RemovalRecord(**data, folder=str(path.parent)))
        except (OSError, ValueError, TypeError):
            continue
    return out
