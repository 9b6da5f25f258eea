"""The chat's server-side state: the index loading behind the page, and a count of texts embedded per task.

The page is served before the index is ready: :class:`Loader` loads (or builds,
skipping files that cannot be read) in a background thread and says where it
stands, so the page shows progress and a question asked too early gets "still
loading" instead of a wait. :class:`CountingEncoder` wraps the session's encoder
and counts, per thread, the texts a build embeds: the real progress of an
index build or an upload.
"""

from __future__ import annotations

import sys
import threading
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .. import QA, IndexStatus, QAError, build_index, index_status
from ..corpus import corpus_files
from ..errors import chat_message
from .examples import Example, pick_examples
from .render import without_paths

__all__ = ["CountingEncoder", "Loader", "Progress", "skipped_reasons"]


def skipped_reasons(skipped: Mapping[str, QAError] | Sequence[str]) -> list[str]:
    """Why each file a build left out was left out, in the chat's words (the build's errors: source -> error)."""
    return [without_paths(chat_message(why)) for why in (skipped.values() if isinstance(skipped, Mapping) else skipped)]


class CountingEncoder:
    """An encoder that counts the texts it embeds, per thread (a build runs in the thread that asked for it)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._counts: dict[int, int] = {}
        self._guard = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _add(self, n: int) -> None:
        key = threading.get_ident()
        with self._guard:
            self._counts[key] = self._counts.get(key, 0) + n

    def count(self, thread: int) -> int:
        with self._guard:
            return self._counts.get(thread, 0)

    def reset(self, thread: int) -> None:
        with self._guard:
            self._counts.pop(thread, None)

    def token_states(self, texts: Sequence[str]) -> Any:
        out = self._inner.token_states(texts)
        self._add(len(texts))
        return out

    def encode(self, texts: Sequence[str], progress: bool = False) -> Any:
        out = self._inner.encode(texts, progress)
        if len(texts) > 1:  # a build's batch, not a question
            self._add(len(texts))
        return out


@dataclass
class Progress:
    """What a long task (start-up build, upload) has done so far, as the page shows it."""

    files: int = 0  # files read
    total_files: int = 0
    embedded: int = 0  # texts (chunks and sentences) embedded
    total_texts: int = 0  # 0 until the build says how many it will embed
    stage: str = ""
    thread: int = 0

    def embedding(self, done: int, total: int) -> None:
        """A build's ``on_progress``: texts embedded so far, of how many."""
        self.embedded, self.total_texts = done, total

    def describe(self, encoder: CountingEncoder | None) -> str:
        if encoder is not None and self.thread and not self.total_texts:
            self.embedded = encoder.count(self.thread)
        parts = [self.stage] if self.stage else []
        if self.total_files:
            parts.append(f"{self.files} of {self.total_files} files read")
        if self.embedded or self.total_texts:
            of = f" of {self.total_texts}" if self.total_texts else ""
            parts.append(f"{self.embedded}{of} texts embedded")
        return " · ".join(parts)


class Loader:
    """Loads the index in the background; ``phase`` is "loading", "building", "ready" or "failed"."""

    def __init__(self, session: QA, encoder: CountingEncoder | None = None, examples: int = 4) -> None:
        self.session, self.encoder, self.n_examples = session, encoder, examples
        self.phase = "loading"
        self.error = ""
        self.progress = Progress(stage="Opening the index")
        self.examples: list[Example] = []
        self.skipped: list[str] = []
        self._ready = threading.Event()
        self.listeners: list[Callable[[], None]] = []

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._ready.wait(timeout)

    def start(self) -> Loader:
        threading.Thread(target=self._run, name="index-loader", daemon=True).start()
        return self

    def _run(self) -> None:
        s = self.session
        self.progress.thread = threading.get_ident()
        try:
            status = index_status(s.corpus, s.folder, s.encoder.name, backend=s.encoder.backend)
            if status not in (IndexStatus.FRESH, IndexStatus.OTHER_BACKEND) and s.corpus.is_dir():
                self.phase = "building"
                self.progress.stage = "Building the index" if status == IndexStatus.MISSING else "Updating the index"
                self.progress.total_files = len(corpus_files(s.corpus))
                report = build_index(
                    s.corpus,
                    s.folder,
                    s.encoder,
                    skip_bad=True,
                    on_progress=self.progress.embedding,
                    limits=s.parse_limits,
                    on_file=self._file_read,
                )
                self.skipped = skipped_reasons(report.skipped)
            self.progress.stage = "Loading the index"
            s.ensure_index()
            self.progress.stage = "Choosing example questions"
            self.refresh_examples()
            self.phase = "ready"
            self._ready.set()
            for listener in self.listeners:
                listener()
            s.warm_up()
        except QAError as exc:
            self.phase, self.error = "failed", without_paths(chat_message(exc))
        except Exception:
            traceback.print_exc(file=sys.stderr)
            self.phase, self.error = (
                "failed",
                "the index could not be loaded: an error on the server (its log says more)",
            )

    def _file_read(self, parsed: Any) -> None:
        self.progress.files += 1

    def refresh_examples(self) -> None:
        """Example questions for what is indexed now (after start-up, an upload or a removal)."""
        from ..library import releases

        def answer(question: str) -> str | None:
            got = self.session.ask(question, 5)
            return None if got.no_answer or getattr(got, "level", "answer") != "answer" else got.answer

        try:
            sources = [r.source for r in releases(self.session)]
            self.examples = pick_examples(sources, self.session.release_paragraphs, answer, self.n_examples)
        except QAError:
            self.examples = []

    def status(self) -> str:
        """The state in words, for the page and for a question asked too early."""
        if self.phase == "failed":
            return f"The releases could not be loaded: {self.error}"
        if self.phase == "ready":
            return ""
        return self.progress.describe(self.encoder) or "Loading the releases"
