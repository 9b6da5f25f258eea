"""The chat's feedback log: one JSON line per vote, tied to the reply's id, with a rate limit per session.

``vote`` is "up", "down" or "none" (the user took the vote back); the last
line for a reply id is its current vote (:meth:`FeedbackLog.votes`). A client
that votes faster than :data:`MAX_VOTES_PER_MINUTE` is told to slow down and
nothing is written, so a script cannot fill the disk through the thumbs.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from ..errors import QAError

__all__ = ["MAX_VOTES_PER_MINUTE", "FeedbackLog", "RateLimited", "append_whole_line"]

MAX_VOTES_PER_MINUTE = 30
_MAX_FIELD_CHARS = 4000  # a question, an answer or a passage in the log: longer ones are cut


class RateLimited(Exception):
    """Too many votes from one client in the last minute."""


class FeedbackLog:
    """Votes as JSONL, one line per click, each tied to the reply's id."""

    def __init__(self, folder: Path | str | None = None, per_minute: int = MAX_VOTES_PER_MINUTE) -> None:
        self.path = Path(folder or "data") / "feedback.jsonl"
        self.per_minute = per_minute
        self._lock = threading.Lock()
        self._recent: dict[str, deque[float]] = {}

    def _admit(self, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in [k for k, q in self._recent.items() if not q or now - q[-1] > 60]:
                del self._recent[key]  # forget idle clients, so the table stays small
            times = self._recent.setdefault(client, deque())
            while times and now - times[0] > 60:
                times.popleft()
            if len(times) >= self.per_minute:
                raise RateLimited(f"more than {self.per_minute} votes in a minute: wait a moment, then vote again")
            times.append(now)

    def record(self, record: dict[str, Any], vote: str, reply_id: str | None = None, client: str = "") -> dict[str, Any]:
        if vote not in ("up", "down", "none"):  # a forged like event cannot write its own words into the log
            raise ValueError(f"vote must be 'up', 'down' or 'none', got {vote!r}")
        self._admit(client)
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "reply_id": reply_id,
            "vote": vote,
            "question": _cut(record.get("question")),
            "history": [_cut(h) for h in record.get("history", [])][-10:],
            "answer": _cut(record.get("answer")),
            "no_answer": record.get("no_answer"),
            "filters": record.get("filters", {}),
            "passages": [
                {k: _cut(p[k]) for k in ("rank", "score", "source", "paragraph", "doc_id", "title", "date", "text")}
                for p in record.get("passages", [])[:10]
            ],
        }
        line = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                append_whole_line(self.path, line)
            except OSError as exc:
                raise QAError(
                    f"the vote could not be saved ({(exc.strerror or 'the log cannot be written').lower()}): "
                    "ask the administrator to free disk space or make the data folder writable"
                ) from None
        return entry

    def votes(self) -> dict[str, str]:
        """Current vote per reply id (withdrawn votes left out); a line that is not a whole record is skipped."""
        current: dict[str, str] = {}
        if self.path.exists():
            for number, line in enumerate(self.path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
                try:
                    entry = json.loads(line)
                    if entry.get("reply_id"):
                        current[entry["reply_id"]] = entry["vote"]
                except (ValueError, AttributeError, KeyError):
                    logging.getLogger(__name__).warning("%s line %d is not a whole vote record: skipped", self.path, number)
        return {k: v for k, v in current.items() if v != "none"}


def _cut(value: Any) -> Any:
    return value[:_MAX_FIELD_CHARS] if isinstance(value, str) else value


def append_whole_line(path: Path, line: bytes) -> None:
    """Append one line whole or not at all, across processes (a lock on the file while it is written).

    A torn last line (a write cut short by a full disk or a kill) is cut off first; a write that
    fails part way is cut back to where it started.
    """
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size:
            tail = os.pread(fd, min(size, 1 << 20), max(0, size - (1 << 20)))
            if not tail.endswith(b"\n"):
                cut = tail.rfind(b"\n")
                size = size - len(tail) + cut + 1 if cut >= 0 else (0 if size <= len(tail) else size)
                os.ftruncate(fd, size)
        try:
            written = os.write(fd, line)
            if written != len(line):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            os.fsync(fd)
        except OSError:
            os.ftruncate(fd, size)
            raise
    finally:
        os.close(fd)
