"""Release files are read in worker processes with a CPU-time and memory limit per file.

A release file is untrusted input: a PDF of a million text operators, a stream that inflates to
hundreds of megabytes or YAML nested thousands deep can cost minutes and gigabytes in the reader
libraries. Here reading, cleaning, metadata and chunking of each file run in a worker process
(:class:`Sandbox`): before each file the worker lowers its own limits to "what it has used so far
plus the allowance" (``RLIMIT_CPU``, ``RLIMIT_AS``), and the parent also keeps a wall-clock watch.
A file over a limit gets a plain reason ("took longer than 20 s to read", "needs more than 1 GB to
read"); its worker is replaced and the other files go on. Workers are reused from file to file, so
the cost of starting them is paid once per process (:func:`shared`).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from .chunking import Chunk, approx_tokens, chunk_release
from .config import ChunkConfig, ParseLimits
from .corpus import Release, check_size, file_sha256, minhash_signature, parse_bytes
from .environment import child_environment, python_path_with
from .errors import CorpusError

__all__ = ["Broken", "FileJob", "Parsed", "Sandbox", "parse_files", "read_file", "shared", "tokenizer_of"]

# A worker imports the qa modules that read files and not the package's own __init__ (the query side: model,
# index, session), so it starts in a fraction of a second.
_LAUNCH = (
    "import importlib.util, sys, types; spec = importlib.util.find_spec('qa'); pkg = types.ModuleType('qa'); "
    "pkg.__path__ = list(spec.submodule_search_locations); sys.modules['qa'] = pkg; "
    "from qa.sandbox import serve; serve({}, {})"
)
FILES_PER_WORKER = 8  # a second worker starts only for more files than this (starting one costs about a second)
EXACT_TOKENS_BELOW = 2_000_000  # bytes: larger files are chunked with the estimate (the tokenizer is slow on megabytes)


@dataclass(frozen=True)
class FileJob:
    """One file to read: its bytes and how to name and chunk it."""

    source: str
    suffix: str
    data: bytes
    sha256: str
    cfg: ChunkConfig


@dataclass
class Parsed:
    """What reading one file gave: a release with its chunks and MinHash signature, or the reason it gave none."""

    source: str
    release: Release | None = None
    chunks: list[Chunk] | None = None
    signature: str | None = None
    error: str | None = None  # a plain sentence naming the file (``str(problem)``)
    retire: bool = False  # the worker that read it must not read another (its heap may be in pieces)
    problem: CorpusError | None = None  # the error itself, for a front end to word (its remedy is data)

    @classmethod
    def failed(cls, source: str, problem: CorpusError, retire: bool = False) -> Parsed:
        return cls(source, error=str(problem), retire=retire, problem=problem)


@dataclass(frozen=True)
class Broken:
    """A worker that cannot read anything (its reader failed on a known-good text): a bug to report, not a file."""

    details: str


def tokenizer_of(encoder: Any) -> str | None:
    """The encoder's tokenizer as JSON (what workers count tokens with), or None if it has none to share."""
    folder = getattr(encoder, "folder", None)
    if folder is not None and (folder / "tokenizer.json").is_file():
        return str((folder / "tokenizer.json").read_text())
    backend = getattr(getattr(getattr(encoder, "model", None), "tokenizer", None), "backend_tokenizer", None)
    return str(backend.to_str()) if backend is not None else None


# ------------------------------------------------------------------ worker side

_COUNTER: Any = None


def _count(text: str) -> int:
    return len(_COUNTER.encode(text, add_special_tokens=False).ids)


def _parse(job: FileJob) -> Parsed:
    """Read, clean and chunk one file; without a tokenizer to count with, the caller chunks (its encoder counts)."""
    release = parse_bytes(job.data, job.source, job.suffix, job.sha256)
    signature = minhash_signature(release)
    if _COUNTER is None and len(job.data) < EXACT_TOKENS_BELOW:
        return Parsed(job.source, release, None, signature)
    exact = _COUNTER is not None and len(job.data) < EXACT_TOKENS_BELOW
    return Parsed(job.source, release, chunk_release(release, job.cfg, _count if exact else approx_tokens), signature)


_WARM: set[str] = set()
_READERS = {".html": ("trafilatura",), ".htm": ("trafilatura",), ".pdf": ("pdfplumber",), ".md": ("markdown_it", "yaml")}


def _warm(suffix: str) -> None:
    """Import what reading a file of this type needs, once (and load the language profiles on the first file)."""
    suffix = suffix.lower()
    if suffix in _WARM:
        return
    if not _WARM:
        with contextlib.suppress(CorpusError):
            parse_bytes(b"Warm Up Title Of A Release\n\nThe reader reads a first release to load what it needs.", "warm.txt")
    for module in _READERS.get(suffix, ()):
        __import__(module)
    _WARM.add(suffix)


def _limit(limits: ParseLimits) -> None:
    """Allow this file ``limits.seconds`` of CPU and ``limits.memory_mb`` of address space beyond what is used now."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = int(usage.ru_utime + usage.ru_stime + limits.seconds) + 1
    _lower(resource.RLIMIT_CPU, cpu)
    try:  # the address space in use now (Linux); elsewhere the CPU limit and the wall-clock watch remain
        with open("/proc/self/statm") as statm:
            in_use = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return
    _lower(resource.RLIMIT_AS, in_use + limits.memory_mb * 2**20)


def _lower(kind: int, soft: int) -> None:
    """Set the soft limit, never above the hard limit the host gave (a process cannot raise its hard limit)."""
    import resource

    hard = resource.getrlimit(kind)[1]
    resource.setrlimit(kind, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))


def serve(read_fd: int, write_fd: int) -> None:
    """A worker's life: read the settings, then one file after another until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    conn_in, conn_out = Connection(read_fd, writable=False), Connection(write_fd, readable=False)
    limits = conn_in.recv()
    _worker(conn_in, conn_out, limits)


def _use_tokenizer(tokenizer: str | None) -> None:
    global _COUNTER
    _COUNTER = None
    if tokenizer:
        from tokenizers import Tokenizer

        _COUNTER = Tokenizer.from_str(tokenizer)
        _COUNTER.no_truncation()
        _COUNTER.no_padding()


def _worker(conn: Connection, out: Connection, limits: ParseLimits) -> None:
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        if isinstance(job, tuple):  # ("tokenizer", its JSON or None)
            _use_tokenizer(job[1])
            continue
        try:
            _warm(job.suffix)  # imports are the worker's cost, not the file's: before the limits
        except Exception:  # the reader itself is broken (a bad pattern, a missing library): no file's fault
            import traceback

            out.send(Broken(traceback.format_exc(limit=6)))
            return
        _limit(limits)
        try:
            result = _parse(job)
        except CorpusError as exc:
            result = Parsed.failed(job.source, exc)
        except MemoryError:
            out.send(Parsed.failed(job.source, CorpusError(_too_big(job.source, limits)), retire=True))
            return  # the heap may be in pieces: a fresh worker takes the next file
        except RecursionError:
            nested = f"{job.source} is nested too deeply to be read: it is not a release we can index"
            result = Parsed.failed(job.source, CorpusError(nested))
        except Exception as exc:  # a reader library's own failure on a damaged file
            result = Parsed.failed(job.source, CorpusError(_damaged(job.source, exc)))
        out.send(result)


def _too_big(source: str, limits: ParseLimits) -> str:
    size = f"{limits.memory_mb / 1024:g} GB" if limits.memory_mb >= 1024 else f"{limits.memory_mb} MB"
    return f"{source} needs more than {size} to read: it is not a release we can index"


def _too_slow(source: str, limits: ParseLimits) -> str:
    return f"{source} took longer than {limits.seconds:g} s to read: it is not a release we can index"


def _damaged(source: str, exc: BaseException) -> str:
    kind = os.path.splitext(source)[1].lstrip(".").upper() or "release"
    del exc  # the reader's own wording means nothing to the person who gave us the file
    return f"{source} could not be read: it looks damaged or is not a {kind} file; open it, save it again and retry"


# ------------------------------------------------------------------ parent side


@dataclass
class _Slot:
    process: subprocess.Popen[bytes]
    send: Connection  # to the worker
    receive: Connection  # from the worker
    job: FileJob | None = None
    started: float = 0.0
    tokenizer: str | None = None  # what the worker counts tokens with


class Sandbox:
    """A small pool of worker processes that read release files under limits, reused across calls.

    Workers are plain ``python`` processes running :func:`serve` (not multiprocessing children, which
    would import the caller's main script again), talking over two pipes.
    """

    def __init__(self, limits: ParseLimits | None = None) -> None:
        self.limits = limits or ParseLimits()
        self._slots: list[_Slot] = []
        self._lock = threading.Lock()  # one batch at a time: workers hold one file each

    def _start(self) -> _Slot:
        to_child, from_parent = os.pipe()
        to_parent, from_child = os.pipe()
        root = str(Path(__file__).resolve().parent.parent)
        env = child_environment(PYTHONPATH=python_path_with(root))
        env.setdefault("TOKENIZERS_PARALLELISM", "false")
        code = _LAUNCH.format(to_child, from_child)
        process = subprocess.Popen(
            [sys.executable, "-c", code], pass_fds=(to_child, from_child), env=env, stdin=subprocess.DEVNULL, close_fds=True
        )
        os.close(to_child)
        os.close(from_child)
        send, receive = Connection(from_parent, readable=False), Connection(to_parent, writable=False)
        send.send(self.limits)
        return _Slot(process, send, receive)

    def start(self) -> None:
        """Start a worker now (it starts up while the caller does other work, e.g. loads its model)."""
        with self._lock:
            if not self._slots:
                self._slots.append(self._start())

    def _retire(self, slot: _Slot) -> None:
        if slot.process.poll() is None:
            slot.process.kill()
        slot.process.wait()
        slot.send.close()
        slot.receive.close()

    def _verdict(self, slot: _Slot) -> Parsed:
        """What a worker that stopped answering means for its file."""
        assert slot.job is not None
        code = slot.process.wait()
        over_time = code == -signal.SIGXCPU or time.monotonic() - slot.started > self.wall_seconds
        reason = _too_slow if over_time else _too_big
        return Parsed.failed(slot.job.source, CorpusError(reason(slot.job.source, self.limits)))

    @property
    def wall_seconds(self) -> float:
        """Wall-clock allowance per file: the CPU allowance, with room for a machine busy with other work."""
        return 2 * self.limits.seconds + 5

    def run(self, jobs: Iterable[FileJob], tokenizer: str | None = None) -> Iterator[Parsed]:
        """Read every job's file, yielding each result as it is ready (not in order); tokens counted with ``tokenizer``."""
        with self._lock:
            yield from self._run(list(jobs), tokenizer)

    def _run(self, todo: list[FileJob], tokenizer: str | None) -> Iterator[Parsed]:
        todo.reverse()
        while len(self._slots) < min(self.limits.workers, 1 + len(todo) // FILES_PER_WORKER):
            self._slots.append(self._start())
        busy: list[_Slot] = []
        try:
            while todo or busy:
                for slot in [s for s in self._slots if s.job is None and s not in busy]:
                    if not todo:
                        break
                    if slot.tokenizer != tokenizer:
                        slot.send.send(("tokenizer", tokenizer))
                        slot.tokenizer = tokenizer
                    slot.job, slot.started = todo.pop(), time.monotonic()
                    slot.send.send(slot.job)
                    busy.append(slot)
                ready = wait([s.receive for s in busy], timeout=1.0)
                for slot in list(busy):
                    result = self._collect(slot, ready)
                    if result is not None:
                        busy.remove(slot)
                        slot.job = None
                        yield result
        finally:
            for slot in busy:  # the caller stopped early: those workers are mid-file
                self._replace(slot)
                slot.job = None

    def _collect(self, slot: _Slot, ready: list[Any]) -> Parsed | None:
        if slot.receive in ready:
            try:
                result: Parsed | Broken = slot.receive.recv()
            except (EOFError, OSError):  # the worker died: a limit, or the kernel, ended it
                result = self._verdict(slot)
                self._replace(slot)
                return result
            if isinstance(result, Broken):
                self._replace(slot)
                raise RuntimeError(f"the release reader cannot read even a known-good text:\n{result.details}")
            if result.retire:
                self._replace(slot)
            return result
        if time.monotonic() - slot.started > self.wall_seconds:
            self._retire(slot)
            result = self._verdict(slot)
            self._replace(slot)
            return result
        return None

    def _replace(self, slot: _Slot) -> None:
        """A fresh worker in this slot (the old one is ended)."""
        self._retire(slot)
        fresh = self._start()
        slot.process, slot.send, slot.receive, slot.tokenizer = fresh.process, fresh.send, fresh.receive, None

    def close(self) -> None:
        for slot in self._slots:
            with contextlib.suppress(OSError):
                slot.send.send(None)
            self._retire(slot)
        self._slots = []


_SHARED: dict[ParseLimits, Sandbox] = {}
_SHARED_LOCK = threading.Lock()


def shared(limits: ParseLimits | None = None) -> Sandbox:
    """The process's sandbox for these limits (workers started on first use, ended at exit)."""
    limits = limits or ParseLimits()
    with _SHARED_LOCK:
        if limits not in _SHARED:
            _SHARED[limits] = Sandbox(limits)
        return _SHARED[limits]


@atexit.register
def _close_all() -> None:
    for sandbox in _SHARED.values():
        sandbox.close()


def parse_files(
    jobs: Iterable[FileJob],
    limits: ParseLimits | None = None,
    tokenizer: str | None = None,
    on_file: Callable[[Parsed], None] | None = None,
) -> dict[str, Parsed]:
    """Read every file in the sandbox: {source: result}; ``on_file`` hears of each as it finishes (progress)."""
    out: dict[str, Parsed] = {}
    for result in shared(limits or ParseLimits()).run(jobs, tokenizer):
        out[result.source] = result
        if on_file is not None:
            on_file(result)
    return out


def read_file(path: Path, limits: ParseLimits | None = None) -> Release:
    """:func:`qa.corpus.read_release` in the sandbox: one file's release, or a CorpusError with the plain reason."""
    path = Path(path)
    try:
        check_size(path.name, path.stat().st_size)
        data = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"cannot read {path.name}: {(exc.strerror or 'error').lower()}") from None
    job = FileJob(path.name, path.suffix, data, file_sha256(data), ChunkConfig())
    result = parse_files([job], limits)[path.name]
    if result.release is None:
        raise result.problem or CorpusError(f"{path.name} could not be read")
    return result.release
