"""The manifest of an index folder: what was built, how, from which files, and which generation is live.

Kept apart from :mod:`qa.store.index` because it is the one file every other part reads first and checks by itself:
its schema (types, not only keys), its atomic write, the checksums of the generation files it names, and the
one comparison of an index with the settings of a build or a session (:meth:`Manifest.compatible_with`).
Reading the FAISS, BM25 and chunk files it names is :mod:`qa.store.index`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from enum import IntEnum
from pathlib import Path
from typing import Any

from ..config import ChunkConfig
from ..errors import Remedy, StoreError
from .lexical import BM25_PARAMS

__all__ = [
    "FOLDER_KEYS",
    "FORMAT_VERSION",
    "GENERATION_FILE",
    "LIVE_KEYS",
    "MANIFEST",
    "OPTIONAL_KEYS",
    "FileRecord",
    "Fit",
    "Manifest",
    "SkippedFile",
    "check_files",
    "checksums",
    "fsync_path",
    "has_manifest",
    "manifest_stamp",
    "read_manifest",
    "recorded_generation",
    "write_atomic",
    "write_manifest",
]

FORMAT_VERSION = 3
MANIFEST = "manifest.json"


class Fit(IntEnum):
    """How much of an existing index a build with other settings can keep (ordered: more is better)."""

    NONE = 0  # another model: nothing
    OTHER_BACKEND = 1  # same model and chunking, vectors from another encoder backend: nothing (never mixed)
    VECTORS = 2  # same model and backend, other chunking: vectors of unchanged text
    CHUNKS = 3  # same chunking too, other BM25 parameters or FAISS type: chunks and vectors
    ALL = 4  # everything matches


@dataclass(frozen=True)
class FileRecord:
    """One indexed file as the manifest records it: what it held when it was indexed, and where its chunks went."""

    sha256: str
    size: int
    mtime_ns: int
    doc_id: str | None = None
    chunks: int = 0
    minhash: str = ""  # MinHash signature of the cleaned text (hex), for near-duplicate detection
    date: str | None = None
    duplicate_of: str | None = None  # the file indexed in its place (its chunks are that file's)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if self.duplicate_of is None:
            del data["duplicate_of"]
        return data


@dataclass(frozen=True)
class SkippedFile:
    """A file left out as unreadable (``--skip-bad``): skipped again while it stays the same."""

    sha256: str
    size: int
    mtime_ns: int
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _records(data: dict[str, Any], kind: type[FileRecord] | type[SkippedFile]) -> dict[str, Any]:
    known = {f.name for f in fields(kind)}
    return {source: kind(**{k: v for k, v in record.items() if k in known}) for source, record in data.items()}


@dataclass
class Manifest:
    """``manifest.json``: what was built, how, from which files, and which generation's files are live."""

    model: str
    dim: int
    backend: str
    chunking: dict[str, Any]
    files: dict[str, FileRecord]
    live: dict[str, str]  # vectors, chunks, bm25, sentences, sentence_table[, releases] -> file name
    chunk_count: int
    generation: int = 0
    index_type: str = "flat"
    bm25: dict[str, float] | None = None
    sentence_count: int = 0
    built_at: str = ""
    skipped: dict[str, SkippedFile] = field(default_factory=dict)  # unreadable files left out with --skip-bad
    retired: dict[str, str] = field(default_factory=dict)  # the previous generation's files, deleted by the next write
    checksums: dict[str, list[Any]] = field(default_factory=dict)  # file -> [size, sha256] of every generation file
    folders: dict[str, int] = field(default_factory=dict)  # the corpus's folder signature when built (qa.corpus)
    format_version: int = FORMAT_VERSION

    @classmethod
    def from_json(cls, data: Any, path: Path) -> Manifest:
        """Checked against the schema (types, not only keys): a hand-edited or damaged manifest is a StoreError."""
        if not isinstance(data, dict):
            raise StoreError(f"{path} is not a JSON object", remedy=Remedy.REBUILD_INDEX)
        if data.get("format_version") != FORMAT_VERSION:
            raise StoreError(
                f"{path} has format version {data.get('format_version')!r}, this release reads {FORMAT_VERSION}",
                remedy=Remedy.REBUILD_INDEX,
            )
        problem = _schema_problem(data)
        if problem:
            raise StoreError(f"{path} is not a manifest this release reads ({problem})", remedy=Remedy.REBUILD_INDEX)
        model = data["model"]
        known = {f.name for f in fields(cls)} - {"model", "dim", "backend", "files", "skipped"}
        return cls(
            model=model["name"],
            dim=model["dim"],
            backend=model.get("backend", "torch"),
            files=_records(data["files"], FileRecord),
            skipped=_records(data.get("skipped", {}), SkippedFile),
            **{k: v for k, v in data.items() if k in known},
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "generation": self.generation,
            "model": {"name": self.model, "dim": self.dim, "backend": self.backend},
            "chunking": self.chunking,
            "index_type": self.index_type,
            "bm25": self.bm25,
            "sentence_count": self.sentence_count,
            "chunk_count": self.chunk_count,
            "built_at": self.built_at,
            "files": {source: record.to_json() for source, record in self.files.items()},
            "skipped": {source: record.to_json() for source, record in self.skipped.items()},
            "live": self.live,
            "retired": self.retired,
            "checksums": self.checksums,
            "folders": self.folders,
        }

    def compatible_with(self, model: str, backend: str, chunking: ChunkConfig, index_type: str = "auto") -> Fit:
        """The one comparison of this index with the settings of a build or a session."""
        if self.model != model:
            return Fit.NONE
        if self.backend != backend:
            return Fit.OTHER_BACKEND if self.chunking == chunking.to_dict() else Fit.NONE
        if self.chunking != chunking.to_dict():
            return Fit.VECTORS
        if self.bm25 != BM25_PARAMS or index_type not in ("auto", self.index_type):
            return Fit.CHUNKS
        return Fit.ALL

    def chunk_config(self) -> ChunkConfig:
        """The chunking this index was built with; settings an older release did not record take today's defaults."""
        known = ChunkConfig().to_dict()
        return ChunkConfig(**{k: v for k, v in self.chunking.items() if k in known})


# A generation file's name: nothing else in the folder is ever read or deleted as part of the index.
GENERATION_FILE = re.compile(
    r"(?:vectors|sentences)\.\d{1,9}\.faiss|chunks\.\d{1,9}\.(?:jsonl|sqlite)|sentences\.\d{1,9}\.npy|(?:bm25|releases)\.\d{1,9}"
)
LIVE_KEYS = ("vectors", "chunks", "bm25", "sentences", "sentence_table")
OPTIONAL_KEYS = ("releases",)  # the release-level BM25; an index written without it builds it when it opens
FOLDER_KEYS = ("bm25", "releases")  # generation entries that are folders of files


def _is_int(value: Any, low: int = 0) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _schema_problem(data: dict[str, Any]) -> str | None:
    """The first way ``data`` differs from the manifest schema, or None. Types, ranges and file names are checked."""
    model = data.get("model")
    if not (
        isinstance(model, dict)
        and isinstance(model.get("name"), str)
        and _is_int(model.get("dim"), 1)
        and isinstance(model.get("backend", "torch"), str)
    ):
        return "model must be {name: text, dim: positive whole number, backend: text}"
    chunking = data.get("chunking")
    defaults = ChunkConfig().to_dict()
    # Keys of another release's chunking are allowed (an older index re-chunks and keeps its vectors); known keys
    # must have the types of the defaults.
    if not (
        isinstance(chunking, dict)
        and "version" in chunking
        and all(type(chunking[k]) is type(v) for k, v in defaults.items() if k in chunking)
    ):
        return f"chunking must be an object with a version and the settings {sorted(defaults)} typed as the defaults"
    live = data.get("live")
    if not (
        isinstance(live, dict)
        and set(LIVE_KEYS) <= set(live) <= {*LIVE_KEYS, *OPTIONAL_KEYS}
        and all(isinstance(v, str) and GENERATION_FILE.fullmatch(v) for v in live.values())
    ):
        return f"live must name the generation files {list(LIVE_KEYS)}"
    if "chunk_count" not in data:
        return "chunk_count is missing"
    for name in ("chunk_count", "generation", "sentence_count"):
        if not _is_int(data.get(name, 0)):
            return f"{name} must be a whole number >= 0"
    if data.get("index_type", "flat") not in ("flat", "ivf", "hnsw"):
        return "index_type must be flat, ivf or hnsw"
    bm25 = data.get("bm25")
    if bm25 is not None and not (
        isinstance(bm25, dict) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bm25.values())
    ):
        return "bm25 must map parameter names to numbers"
    if not isinstance(data.get("built_at", ""), str):
        return "built_at must be text"
    files = data.get("files")
    if not isinstance(files, dict):
        return "files must map file names to records"
    for group in ("files", "skipped"):
        records = data.get(group, {})
        if not isinstance(records, dict):
            return f"{group} must map file names to records"
        for source, record in records.items():
            if not (
                isinstance(record, dict)
                and isinstance(record.get("sha256"), str)
                and _is_int(record.get("size"))
                and _is_int(record.get("mtime_ns"))
            ):
                return f"{group}[{source!r}] must have sha256 (text), size and mtime_ns (whole numbers)"
            if group == "files" and not (
                _is_int(record.get("chunks"))
                and isinstance(record.get("minhash"), str)
                and isinstance(record.get("doc_id"), (str, type(None)))
                and isinstance(record.get("date"), (str, type(None)))
                and isinstance(record.get("duplicate_of", ""), str)
            ):
                return f"files[{source!r}] must have chunks (whole number), minhash (text), doc_id and date (text or null)"
    retired = data.get("retired", {})
    if not (isinstance(retired, dict) and all(isinstance(v, str) and GENERATION_FILE.fullmatch(v) for v in retired.values())):
        return "retired must name generation files"
    checksums = data.get("checksums", {})
    if not (
        isinstance(checksums, dict)
        and all(isinstance(v, list) and len(v) == 2 and _is_int(v[0]) and isinstance(v[1], str) for v in checksums.values())
    ):
        return "checksums must map file names to [size, sha256]"
    folders = data.get("folders", {})
    if not (isinstance(folders, dict) and all(_is_int(v) for v in folders.values())):
        return "folders must map folder names to modification times (whole numbers)"
    return None


def fsync_path(path: Path) -> None:
    """Flush a written file (or a folder's entries) to disk: the manifest switch is atomic only after it."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Readers see the old file or the new one, never half of it, even after a crash; a failed write (full disk,
    read-only folder) leaves no temporary file behind."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_path(path.parent)


_READ: dict[Path, tuple[tuple[int, int, int], Manifest]] = {}  # manifest file -> (its stat, what it said)
_READ_LOCK = threading.Lock()


def read_manifest(folder: Path) -> Manifest:
    """The manifest of the index in ``folder`` (treat it as read-only: it is shared by the callers that read the same
    file). A manifest of 10,000 files is megabytes of JSON, and a question reads it twice (status, then loading):
    the same file (same inode, size and time: a writer always replaces it) is parsed once. A file written in the last
    two seconds is always parsed: an edit in place within the same clock tick could keep its size and time."""
    path = Path(folder) / MANIFEST
    try:
        st = path.stat()  # before reading: a writer switching in between only makes the next read parse again
    except OSError:
        return _parse_manifest(folder, path)
    key = (st.st_ino, st.st_size, st.st_mtime_ns)
    with _READ_LOCK:
        cached = _READ.get(path)
    if cached is not None and cached[0] == key:
        return cached[1]
    manifest = _parse_manifest(folder, path)
    if time.time_ns() - st.st_mtime_ns < 2_000_000_000:
        return manifest
    with _READ_LOCK:
        _READ.clear()  # one index at a time in practice: keep the last one read
        _READ[path] = (key, manifest)
    return manifest


def _parse_manifest(folder: Path, path: Path) -> Manifest:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StoreError(f"no index in {folder}", remedy=Remedy.BUILD_INDEX, index=str(folder)) from None
    except NotADirectoryError:
        raise StoreError(f"the index folder {folder} is a file: choose a folder for the index") from None
    except (ValueError, RecursionError) as exc:  # bad JSON, bad UTF-8, absurd numbers or nesting
        raise StoreError(f"{path} is not valid JSON ({str(exc)[:120]})", remedy=Remedy.REBUILD_INDEX) from None
    except OSError as exc:
        raise StoreError(f"cannot read {path} ({exc.strerror}): check the folder's permissions") from None
    return Manifest.from_json(data, path)


def write_manifest(folder: Path, manifest: Manifest) -> None:
    write_atomic(folder / MANIFEST, json.dumps(manifest.to_json(), indent=1, ensure_ascii=False).encode())


def has_manifest(folder: Path) -> bool:
    """Whether ``folder`` has a manifest (an index, readable or not)."""
    return (Path(folder) / MANIFEST).exists()


def manifest_stamp(folder: Path) -> tuple[int, int] | None:
    """(mtime, size) of the manifest: changes whenever a writer switches in a new generation."""
    try:
        st = (Path(folder) / MANIFEST).stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def _generation_files(folder: Path, live: dict[str, str]) -> list[str]:
    """Every file of a generation, relative to the folder (the BM25 folder's files one by one)."""
    names = [name for key, name in live.items() if key not in FOLDER_KEYS]
    for key in FOLDER_KEYS:
        sub = folder / live[key] if key in live else None
        names += sorted(f"{live[key]}/{f.name}" for f in sub.iterdir()) if sub is not None and sub.is_dir() else []
    return names


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checksums(folder: Path, live: dict[str, str]) -> dict[str, list[Any]]:
    return {name: [(folder / name).stat().st_size, _sha256(folder / name)] for name in _generation_files(folder, live)}


def check_files(folder: Path, manifest: Manifest, verify: bool) -> None:
    """Sizes of every generation file (a stat each); with ``verify`` their SHA-256 too (flipped bytes)."""
    for name, (size, digest) in manifest.checksums.items():
        path = folder / name
        actual = path.stat().st_size  # FileNotFoundError: a writer may have switched generations; the caller retries
        if actual != size or (verify and _sha256(path) != digest):
            what = f"it is {actual} bytes, the manifest says {size}" if actual != size else "its checksum differs"
            raise StoreError(f"index in {folder} is corrupt ({name}: {what})", remedy=Remedy.REBUILD_INDEX)


def recorded_generation(folder: Path) -> tuple[int, dict[str, str]]:
    """What a manifest this release cannot load still records: its generation (so a rebuild does not reuse its
    names) and its generation files (deleted once the rebuild is live)."""
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return 0, {}
    if not isinstance(data, dict):
        return 0, {}
    number = data.get("generation", 0)
    names = {}
    for group in ("live", "retired"):
        entries = data.get(group)
        if isinstance(entries, dict):
            names.update({f"{group}.{k}": v for k, v in entries.items() if isinstance(v, str)})
    numbers = [int(v.split(".")[1]) for v in names.values() if GENERATION_FILE.fullmatch(v)]
    number = number if _is_int(number) and number < 10**8 else 0
    return max([number, *numbers]), names
