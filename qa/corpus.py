"""Stage 1: release files -> :class:`Release` (clean paragraphs + metadata), and the corpus folder.

The one way in for every file: the format's loader (:mod:`qa.loaders`) gives plain text and
metadata hints, :mod:`qa.cleaning` removes what is not the release, :mod:`qa.metadata` picks the
title and date by evidence. The rest is what indexing needs of a corpus folder: listing it,
size limits, content hashes and near-duplicate signatures.
"""

from __future__ import annotations

import hashlib
import os
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from . import linear as re
from .cleaning import clean_text
from .errors import CorpusError, Remedy
from .loaders import LOADERS
from .metadata import date_by_evidence, detect_language, title_by_evidence

__all__ = [
    "SUPPORTED_SUFFIXES",
    "Release",
    "check_size",
    "corpus_files",
    "folder_signature",
    "links_outside",
    "minhash_signature",
    "parse_bytes",
    "parse_release",
    "read_corpus",
    "read_release",
    "safe_filename",
    "unsupported_files",
]

SUPPORTED_SUFFIXES = tuple(sorted(LOADERS))
MAX_FILE_BYTES = 20_000_000  # a press release is kilobytes; tens of megabytes is a data dump


@dataclass(frozen=True)
class Release:
    """One cleaned release: what gets chunked, and what a citation shows."""

    doc_id: str
    source: str  # path relative to the corpus folder, with forward slashes
    title: str
    date: str | None
    section: str | None
    paragraphs: tuple[str, ...]
    sha256: str = ""  # of the file's bytes
    organisation: str | None = None  # site name, wire or agency, front-matter source
    language: str | None = None  # ISO 639-1, detected
    meta: dict[str, str] = field(default_factory=dict, compare=False)  # place (dateline), url, title_from, date_from


def parse_bytes(data: bytes, source: str, suffix: str = ".txt", sha256: str = "") -> Release:
    """Turn the bytes of one release file into a :class:`Release` (no file system access)."""
    loader = LOADERS.get(suffix.lower())
    if loader is None:
        raise CorpusError(f"{source}: unsupported file type {suffix!r}; supported: {', '.join(SUPPORTED_SUFFIXES)}")
    if not data.strip():
        raise CorpusError(f"{source} is empty: add the release text or remove the file")
    plain, hints = loader(data, source)
    meta, body = clean_text(plain, known_title=hints.get("title"))
    if not body:
        raise CorpusError(f"{source} has no release text left after removing navigation and footers")
    stem = Path(source).stem
    title, title_source = title_by_evidence(hints, meta["title"], stem)
    date, date_source = date_by_evidence(hints, meta["date"], stem, body)
    digest = hashlib.sha256("\n\n".join([title, *body]).encode()).hexdigest()
    extra = {
        k: v
        for k, v in {
            "place": meta.get("place"),
            "url": hints.get("url"),
            "title_from": title_source,
            "date_from": date_source,
        }.items()
        if v
    }
    return Release(
        doc_id=digest[:12],
        source=source,
        title=title,
        date=date,
        section=hints.get("section") or meta["section"],
        paragraphs=tuple(body),
        sha256=sha256 or file_sha256(data),
        organisation=hints.get("organisation") or hints.get("source") or meta.get("organisation") or meta.get("agency"),
        language=detect_language(body),
        meta=extra,
    )


def parse_release(text: str, source: str, suffix: str = ".txt", sha256: str = "") -> Release:
    """Like :func:`parse_bytes`, for text already in hand."""
    return parse_bytes(text.encode("utf-8"), source, suffix, sha256)


def minhash_signature(release: Release, num_perm: int = 64) -> str:
    """MinHash of the release's word 3-shingles (hex): near-duplicate copies have close signatures."""
    from datasketch import MinHash

    words = re.findall(r"\w+", " ".join(release.paragraphs).lower())
    m = MinHash(num_perm=num_perm, seed=1, scheme="affine32")
    m.update_batch(" ".join(words[i : i + 3]).encode() for i in range(max(1, len(words) - 2)))
    return m.hashvalues.astype("<u4").tobytes().hex()


def file_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_size(source: str, size: int) -> None:
    """Refuse files far too big to be a release (the same limit for `qa index`, uploads and readers)."""
    if size > MAX_FILE_BYTES:
        raise CorpusError(
            f"{source} is {size / 1e6:.1f} MB; releases over {MAX_FILE_BYTES / 1e6:.0f} MB are not indexed: "
            "split it into releases"
        )


def read_release(path: Path, root: Path | None = None) -> Release:
    """Read and clean one release file; errors name the file and say how to fix it."""
    path = Path(path)
    source = path.relative_to(root).as_posix() if root else path.name
    try:
        check_size(source, path.stat().st_size)
        data = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"cannot read {source}: {exc.strerror}") from None
    return parse_bytes(data, source, path.suffix)


def safe_filename(name: str) -> str:
    """A plain file name for an uploaded release: no folders, no '..', no hidden or odd characters."""
    base = unicodedata.normalize("NFKC", name).replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, suffix = base.rpartition(".")
    stem = re.sub(r"[^\w\-]+", "_", stem if dot else base).strip("._-")[:100] or "release"
    suffix = suffix.lower() if dot and suffix.isalnum() else "txt"
    return f"{stem}.{suffix}"


def unsupported_files(folder: Path) -> list[str]:
    """Files in the corpus folder that no loader reads (reported once per index run, then skipped)."""
    folder = Path(folder)
    return sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file()
        and p.suffix.lower() not in LOADERS
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def links_outside(folder: Path) -> list[str]:
    """Links under ``folder`` whose target lies outside it: never read (``ln -s /etc/passwd corpus/`` indexes nothing)."""
    root = Path(folder).resolve()
    return sorted(
        p.relative_to(folder).as_posix()
        for p in Path(folder).rglob("*")
        if p.is_symlink() and not p.resolve().is_relative_to(root)
    )


def _release_files(folder: Path) -> Iterator[Path]:
    """Files with a loader's suffix, hidden folders and files skipped, links followed only when they stay inside the
    folder: one directory listing per folder and a resolve only for links (a stat per file is the cost at 10,000)."""
    inside = folder.resolve()
    for top, dirs, names in os.walk(folder):  # never follows linked folders
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            path = Path(top, name)
            if name.startswith(".") or path.suffix.lower() not in LOADERS or not path.is_file():
                continue
            if not path.is_symlink() or path.resolve().is_relative_to(inside):
                yield path


RACY_NS = 2_000_000_000  # a folder changed this close to the signature may change again within the same clock tick


def folder_signature(folder: Path, now_ns: int | None = None) -> dict[str, int]:
    """The modification time of ``folder`` and of each folder in it (hidden ones skipped), by relative path.

    Adding, removing or renaming a file changes its folder's time, and so does saving it by replacing it (as
    editors and the chat's upload do); rewriting a file in place does not. Listing folders costs no stat per
    file, so this is the cheap check of a large corpus. A time within two seconds of ``now_ns`` is recorded as 0,
    which never matches: a change in the same clock tick could leave it as it is.
    """
    signature: dict[str, int] = {}
    for top, dirs, _ in os.walk(folder):  # never follows linked folders, like the listing of release files
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        try:
            mtime = os.stat(top).st_mtime_ns
        except OSError:  # removed while listing: the signature simply differs
            continue
        racy = now_ns is not None and mtime >= now_ns - RACY_NS
        signature[Path(top).relative_to(folder).as_posix()] = 0 if racy else mtime
    return signature


def corpus_files(folder: Path) -> list[Path]:
    """Release files under ``folder`` (sorted, hidden files and links to outside the folder skipped)."""
    folder = Path(folder)
    if not folder.exists():
        raise CorpusError(f"corpus folder {folder} does not exist", remedy=Remedy.CHOOSE_CORPUS)
    if not folder.is_dir():
        raise CorpusError(f"corpus {folder} is not a folder", remedy=Remedy.CHOOSE_CORPUS)
    files = sorted(_release_files(folder))
    if not files:
        raise CorpusError(
            f"corpus folder {folder} has no release files ({', '.join(SUPPORTED_SUFFIXES)}): add some and index again"
        )
    return files


def read_corpus(folder: Path) -> list[Release]:
    folder = Path(folder)
    return [read_release(p, folder) for p in corpus_files(folder)]
