"""The chunk store: the passages of an index, row i being chunk i of the vectors and the BM25 postings."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, overload

from ..chunking import Chunk, embed_text
from ..config import ChunkConfig

__all__ = ["ChunkStore"]


class ChunkStore(Sequence[Chunk]):
    """The chunks of one generation, in row order (read-only)."""

    def __init__(self, chunks: Sequence[Chunk]) -> None:
        self._chunks = list(chunks)

    @classmethod
    def read(cls, path: Path, cfg: ChunkConfig) -> ChunkStore:
        with open(path, encoding="utf-8") as fh:
            return cls([_row_to_chunk(json.loads(line), cfg) for line in fh if line.strip()])

    @staticmethod
    def write(path: Path, chunks: Sequence[Chunk]) -> None:
        """One JSON object per line, fsynced (the embedded text is not stored: it follows from title, text, chunking)."""
        with open(path, "w", encoding="utf-8") as fh:
            for chunk in chunks:
                fh.write(json.dumps(_chunk_to_row(chunk), ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def __len__(self) -> int:
        return len(self._chunks)

    @overload
    def __getitem__(self, row: int) -> Chunk: ...
    @overload
    def __getitem__(self, row: slice) -> list[Chunk]: ...
    def __getitem__(self, row: int | slice) -> Chunk | list[Chunk]:
        return self._chunks[row]

    def __iter__(self) -> Iterator[Chunk]:
        return iter(self._chunks)

    def of_source(self, source: str) -> list[Chunk]:
        """The chunks of one release file, in order."""
        return [c for c in self._chunks if c.source == source]


def _chunk_to_row(chunk: Chunk) -> dict[str, Any]:
    row = asdict(chunk)
    del row["embed_text"]
    row["key"] = chunk.key
    return row


def _row_to_chunk(row: dict[str, Any], cfg: ChunkConfig) -> Chunk:
    row = dict(row)
    row.pop("key", None)
    row["also_in"] = tuple(row.get("also_in") or ())
    return Chunk(**row, embed_text=embed_text(row["title"], row["text"], cfg))
