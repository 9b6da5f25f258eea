"""The chunk store: the passages of an index, row i being chunk i of the vectors and the BM25 postings.

A generation's chunks are one SQLite file (the standard library's), opened read-only: opening it reads nothing,
a query reads only the rows it cites and the columns a filter needs, and the whole store becomes Python objects
only when something walks every chunk (a build, the library listing). An index written as JSON lines (one chunk a
line) is still read, all at once.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, overload

import numpy as np

from ..chunking import Chunk, embed_text
from ..config import ChunkConfig
from ..errors import Remedy, StoreError

__all__ = ["ChunkStore"]

# Stored columns: a chunk's fields but the embedded text, which follows from title, text and the chunking; then the
# content key of the embedded text as the build computed it (a check on that rule, never read back into a chunk).
COLUMNS = tuple(f.name for f in fields(Chunk) if f.name != "embed_text")
STORED = (*COLUMNS, "key")


class ChunkStore(Sequence[Chunk]):
    """The chunks of one generation, in row order (read-only)."""

    def __init__(
        self, chunks: Sequence[Chunk] | None = None, *, db: sqlite3.Connection | None = None, cfg: ChunkConfig | None = None
    ):
        self._chunks = list(chunks) if chunks is not None else None
        self._db = db
        self._cfg = cfg or ChunkConfig()
        self._lock = threading.Lock()
        self._columns: dict[str, list[Any]] = {}
        self._count = len(self._chunks) if self._chunks is not None else None

    # ------------------------------------------------------------ files

    @classmethod
    def read(cls, path: Path, cfg: ChunkConfig) -> ChunkStore:
        if path.suffix == ".jsonl":
            with open(path, encoding="utf-8") as fh:
                return cls([_row_to_chunk(json.loads(line), cfg) for line in fh if line.strip()], cfg=cfg)
        path.stat()  # FileNotFoundError like the other files (sqlite would report it as a generic error)
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True, check_same_thread=False)
        try:
            names = [r[1] for r in db.execute("pragma table_info(chunks)")]
        except sqlite3.DatabaseError as exc:
            db.close()
            raise ValueError(f"{path.name} is not a chunk store ({exc})") from None
        if names != ["row", *STORED]:
            db.close()
            raise ValueError(f"{path.name} has the columns {names}, not a chunk store's")
        return cls(db=db, cfg=cfg)

    @staticmethod
    def write(path: Path, chunks: Sequence[Chunk]) -> None:
        """One row per chunk (SQLite, or JSON lines for a ``.jsonl`` path), flushed to disk before returning."""
        if path.suffix == ".jsonl":
            with open(path, "w", encoding="utf-8") as fh:
                for chunk in chunks:
                    fh.write(json.dumps(_chunk_to_row(chunk), ensure_ascii=False) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            return
        path.unlink(missing_ok=True)
        db = sqlite3.connect(path)
        try:
            db.execute("pragma journal_mode = off")
            db.execute(f"create table chunks (row integer primary key, {', '.join(STORED)})")
            db.executemany(
                f"insert into chunks values (?, {', '.join('?' * len(STORED))})",
                ((row, *_values(chunk), chunk.key) for row, chunk in enumerate(chunks)),
            )
            db.execute("create index chunks_source on chunks (source)")
            db.commit()
        finally:
            db.close()
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # ------------------------------------------------------------ reading

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        assert self._db is not None
        try:
            with self._lock:  # one connection shared by the chat's threads
                return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"the chunk store of the index is corrupt ({exc})", remedy=Remedy.REBUILD_INDEX) from None

    def _all(self) -> list[Chunk]:
        if self._chunks is None:
            rows = self._query(f"select {', '.join(COLUMNS)} from chunks order by row")
            self._chunks = [self._chunk(r) for r in rows]
        return self._chunks

    def _chunk(self, values: Sequence[Any]) -> Chunk:
        return _row_to_chunk(dict(zip(COLUMNS, values, strict=True)), self._cfg)

    def __len__(self) -> int:
        if self._count is None:
            self._count = int(self._query("select count(*) from chunks")[0][0])
        return self._count

    @overload
    def __getitem__(self, row: int) -> Chunk: ...
    @overload
    def __getitem__(self, row: slice) -> list[Chunk]: ...
    def __getitem__(self, row: int | slice) -> Chunk | list[Chunk]:
        if self._chunks is not None or isinstance(row, slice):
            return self._all()[row]
        n = len(self)
        if not -n <= row < n:
            raise IndexError(f"chunk row {row} of {n}")
        found = self._query(f"select {', '.join(COLUMNS)} from chunks where row = ?", (row % n,))
        return self._chunk(found[0])

    def __iter__(self) -> Iterator[Chunk]:
        return iter(self._all())

    def column(self, name: str) -> list[Any]:
        """One field of every chunk, in row order (read once, kept)."""
        if name not in COLUMNS:
            raise KeyError(name)
        if name not in self._columns:
            if self._chunks is not None:
                values = [getattr(c, name) for c in self._chunks]
            else:
                values = [r[0] for r in self._query(f"select {name} from chunks order by row")]
                values = [tuple(json.loads(v)) for v in values] if name == "also_in" else values
            self._columns[name] = values
        return self._columns[name]

    def source_count(self) -> int:
        """How many release files the chunks come from."""
        if self._chunks is not None:
            return len({c.source for c in self._chunks})
        return int(self._query("select count(distinct source) from chunks")[0][0])

    def of_source(self, source: str) -> list[Chunk]:
        """The chunks of one release file, in row order."""
        if self._chunks is not None:
            return [c for c in self._chunks if c.source == source]
        return [
            self._chunk(r)
            for r in self._query(f"select {', '.join(COLUMNS)} from chunks where source = ? order by row", (source,))
        ]

    def mask(self, since: str | None = None, until: str | None = None, source: str | None = None) -> np.ndarray | None:
        """Chunks inside a date range and/or from a source (organisation, section or file path, case-insensitive).

        Undated chunks are outside any date range. None when there is no filter.
        """
        if not (since or until or source):
            return None
        mask = np.ones(len(self), dtype=bool)
        if since or until:
            dates = [d or "" for d in self.column("date")]
            mask &= np.array([bool(d) and (not since or d >= since) and (not until or d <= until) for d in dates], dtype=bool)
        if source:
            needle = source.lower()
            fields_ = (self.column("organisation"), self.column("section"), self.column("source"), self.column("also_in"))
            columns = zip(*fields_, strict=True)
            mask &= np.array(
                [any(needle in (field or "").lower() for field in (org, sec, src, *also)) for org, sec, src, also in columns],
                dtype=bool,
            )
        return mask


def _values(chunk: Chunk) -> tuple[Any, ...]:
    return tuple(json.dumps(list(chunk.also_in), ensure_ascii=False) if f == "also_in" else getattr(chunk, f) for f in COLUMNS)


def _chunk_to_row(chunk: Chunk) -> dict[str, Any]:
    row = asdict(chunk)
    del row["embed_text"]
    row["key"] = chunk.key
    return row


def _row_to_chunk(row: dict[str, Any], cfg: ChunkConfig) -> Chunk:
    row = dict(row)
    row.pop("key", None)
    also_in = row.get("also_in") or ()
    row["also_in"] = tuple(json.loads(also_in) if isinstance(also_in, str) else also_in)
    return Chunk(**row, embed_text=embed_text(row["title"], row["text"], cfg))
