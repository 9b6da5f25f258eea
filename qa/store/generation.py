"""Writing an index folder: one generation at a time, atomically, under one writer's lock.

Layout of an index folder (all plain files, no pickles)::

    manifest.json          format version, model, chunking, per-file records, which files below are live
    vectors.<gen>.faiss    FAISS inner-product index; row i is chunk i
    sentences.<gen>.faiss  one vector per sentence of every chunk (retrieval signal + the answering sentence)
    sentences.<gen>.npy    (n, 3) int32: chunk row, start, end of each sentence
    chunks.<gen>.jsonl     the chunk store; line i is chunk i
    bm25.<gen>/            bm25s index over the same chunks
    releases.<gen>/        bm25s index over whole releases (each chunk's release in order of first appearance)

Every update writes a new generation beside the old one, fsyncs it, and then
atomically replaces ``manifest.json``: a reader sees the old index or the new
one, never half of each. One writer at a time, enforced by a file lock.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..chunking import Chunk
from ..config import ChunkConfig
from ..errors import StoreError
from .checkpoint import PARTIAL
from .chunks import ChunkStore
from .lexical import BM25_PARAMS, LexicalIndex, ReleaseIndex
from .manifest import (
    GENERATION_FILE,
    MANIFEST,
    Manifest,
    checksums,
    fsync_path,
    recorded_generation,
    write_manifest,
)
from .vectors import VectorIndex

__all__ = [
    "Generation",
    "acquire_lock",
    "check_index_folder",
    "clean_leftovers",
    "open_for_writing",
    "record_files",
    "write_generation",
]


def _own_file(name: str) -> bool:
    return bool(GENERATION_FILE.fullmatch(name)) or name == PARTIAL


def check_index_folder(folder: Path) -> None:
    """Refuse a folder the index would share with other files: a build deletes only what it wrote, but must not
    settle in a folder of someone's documents, nor in a path that is a file."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise StoreError(f"the index folder {folder} is a file: choose a folder for the index (it is created if missing)")
    if not folder.is_dir() or (folder / MANIFEST).exists():
        return
    foreign = sorted(p.name for p in folder.iterdir() if not p.name.startswith(".") and not _own_file(p.name))
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise StoreError(
            f"{folder} holds other files ({shown}) and no index: choose an empty or new folder for the index; nothing was changed"
        )


def clean_leftovers(folder: Path, manifest: Manifest | None) -> None:
    """Under the writer's lock: remove what a killed writer left -- temporary manifests and a half-written generation."""
    for tmp in folder.glob(f".{MANIFEST}.tmp-*"):
        tmp.unlink(missing_ok=True)
    if manifest is not None:
        _remove_files(folder, _names(manifest.generation + 1))


def _names(number: int) -> dict[str, str]:
    return {
        "vectors": f"vectors.{number}.faiss",
        "chunks": f"chunks.{number}.sqlite",
        "bm25": f"bm25.{number}",
        "sentences": f"sentences.{number}.faiss",
        "sentence_table": f"sentences.{number}.npy",
        "releases": f"releases.{number}",
    }


def _remove_files(folder: Path, names: dict[str, str]) -> None:
    """Delete generation files by their exact names (never by a pattern over the folder)."""
    for name in names.values():
        if not GENERATION_FILE.fullmatch(name):
            continue
        path = folder / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def open_for_writing(folder: Path, wait: float) -> Any:
    """Check the folder can hold an index, create it if missing and take the writer's lock (released by the caller)."""
    check_index_folder(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return acquire_lock(folder, wait)
    except OSError as exc:
        raise StoreError(
            f"cannot write the index folder {folder} ({exc.strerror or exc}): make it writable or choose "
            "another folder for the index; nothing was changed"
        ) from None


def record_files(folder: Path, manifest: Manifest) -> None:
    """Switch in ``manifest`` for the same generation: new file records (files touched, not changed), same files."""
    write_manifest(folder, manifest)


def acquire_lock(folder: Path, wait: float) -> Any:
    """The writer's lock on an index folder (one `qa index` at a time); released by the caller."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(folder / ".lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        print(f"another `qa index` is writing {folder}; waiting up to {wait:.0f}s for it to finish", file=sys.stderr)
        try:
            lock.acquire(timeout=wait)
        except Timeout:
            raise StoreError(
                f"{folder} is still locked by another `qa index` after {wait:.0f}s: try again when it ends"
            ) from None
    return lock


@dataclass
class Generation:
    """Everything a new generation of the index holds; row i of each matrix belongs to chunk/sentence i."""

    chunks: list[Chunk]
    vectors: np.ndarray
    sentence_table: np.ndarray
    sentence_vectors: np.ndarray
    files: dict[str, Any]
    skipped: dict[str, Any]
    model: str
    backend: str
    chunking: ChunkConfig
    index_type: str = "auto"
    folders: dict[str, int] = field(default_factory=dict)  # the corpus's folder signature (qa.corpus.folder_signature)


def write_generation(folder: Path, gen: Generation, previous: Manifest | None) -> Manifest:
    """Write every file of a new generation, fsync it, then switch the manifest to it: the atomic step.

    A failure before the switch (full disk, read-only folder) removes the half-written files and raises a
    StoreError; the previous generation stays live. After the switch, the generation before the previous one
    is deleted by its recorded names: nothing else in the folder is ever touched.
    """
    recorded, unreadable = recorded_generation(folder) if previous is None else (previous.generation, {})
    number = recorded + 1
    live = _names(number)
    try:
        kind = _write_files(folder, gen, live)
        manifest = Manifest(
            model=gen.model,
            dim=int(gen.vectors.shape[1]),
            backend=gen.backend,
            chunking=gen.chunking.to_dict(),
            files=gen.files,
            skipped=gen.skipped,
            live=live,
            chunk_count=len(gen.chunks),
            generation=number,
            index_type=kind,
            bm25=dict(BM25_PARAMS),
            sentence_count=len(gen.sentence_table),
            built_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            retired=dict(previous.live) if previous else {},
            checksums=checksums(folder, live),
            folders=gen.folders,
        )
        write_manifest(folder, manifest)  # the switch: readers see the new generation from here on
    except (OSError, RuntimeError) as exc:  # faiss reports a failed write as RuntimeError
        _remove_files(folder, live)  # write_manifest removes its own temporary file
        reason = getattr(exc, "strerror", None) or str(exc).strip().splitlines()[-1][:160]
        raise StoreError(
            f"could not write the index in {folder} ({reason}): free disk space or make the folder "
            "writable, then index again; the previous index was left as it was"
        ) from None
    if previous is not None:
        _remove_files(folder, previous.retired)  # the one before the previous (a reader may still open the previous)
    # What a manifest this release could not load had recorded as its own (never the files just written).
    _remove_files(folder, {k: v for k, v in unreadable.items() if v not in live.values()})
    return manifest


def _write_files(folder: Path, gen: Generation, live: dict[str, str]) -> str:
    """Every file of the generation, fsynced; returns the chunk index's FAISS type (flat, ivf or hnsw)."""
    index = VectorIndex.build(gen.vectors, gen.index_type)
    for name, built in (("vectors", index), ("sentences", VectorIndex.build(gen.sentence_vectors, gen.index_type))):
        built.write(folder / live[name])
        fsync_path(folder / live[name])
    with open(folder / live["sentence_table"], "wb") as fh:
        np.save(fh, gen.sentence_table, allow_pickle=False)
        fh.flush()
        os.fsync(fh.fileno())
    ChunkStore.write(folder / live["chunks"], gen.chunks)
    lexical = LexicalIndex.build([c.embed_text for c in gen.chunks], BM25_PARAMS)
    releases = ReleaseIndex.build(gen.chunks)
    for path in [*lexical.write(folder / live["bm25"]), *releases.write(folder / live["releases"])]:
        fsync_path(path)
    return index.kind
