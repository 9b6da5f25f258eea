"""Stage 7: a session -- one corpus, one index, one model -- and the module-level :func:`ask`.

The session keeps the index loaded and notices when another process
(``qa index``) switches in a new generation; everything else it delegates:
building to :mod:`qa.build`, ranking to :mod:`qa.query`, answering to
:mod:`qa.answering`.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from .answering.abstain import AbstainPolicy
from .answering.compose import compose_answer, filter_miss, language_note
from .answering.coverage import Coverage
from .answering.types import Answer
from .build import IndexStatus, build_index, index_status
from .config import DEFAULT_CORPUS, DEFAULT_INDEX, FusionConfig, ParseLimits, Settings
from .embedding import Encoder, make_encoder
from .errors import Remedy, StoreError
from .language import unreadable_language
from .plan import BuildReport
from .query.retriever import Retriever
from .query.validate import validate_query
from .ranking.model import SentenceRanker, load_ranker
from .ranking.pipeline import HITS, gather
from .store.index import Index, load_index
from .store.manifest import manifest_stamp
from .upload import UploadResult, add_files

__all__ = ["QA", "ask"]


class QA:
    """A question-answering session over one corpus and index: load once, ask many times."""

    def __init__(
        self,
        corpus: str | Path | None = None,
        index: str | Path | None = None,
        model: str | None = None,
        *,
        backend: str | None = None,
        fusion: FusionConfig | None = None,
        abstain: AbstainPolicy | None = None,
        auto_build: bool = True,
        encoder: Encoder | None = None,
        ranker: SentenceRanker | None = None,
    ) -> None:
        self.corpus = Path(corpus) if corpus else DEFAULT_CORPUS
        self.folder = Path(index) if index else DEFAULT_INDEX
        self.encoder = encoder or make_encoder(model, backend)
        self.fusion = fusion or FusionConfig()
        self.abstain = abstain or AbstainPolicy()
        self.auto_build = auto_build
        self._coverage = Coverage(self.encoder)
        self._lock = threading.RLock()
        self._retriever: Retriever | None = None
        self._ranker: SentenceRanker | None = ranker
        self._stamp: tuple[int, int] | None = None
        self.parse_limits = ParseLimits()  # what reading one release file may cost (qa.sandbox)
        self.trash: Path | None = None  # where removed releases go; None: beside the corpus (qa.trash)

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: object) -> QA:
        """The session a deployment's settings describe (what the CLI and the chat use)."""
        encoder = make_encoder(settings.model, settings.backend, cache=settings.cache, verify_texts=settings.onnx_verify_texts)
        session = cls(settings.corpus, settings.index, abstain=settings.abstain, encoder=encoder, **kwargs)  # type: ignore[arg-type]
        session.parse_limits, session.trash = settings.parse, settings.trash
        return session

    def ensure_index(self) -> Index:
        """Load the index, building or updating it first when it is missing, stale or corrupt.

        Later calls are cheap: they only check whether another process (``qa index``)
        has switched in a new generation, and load it if so.
        """
        with self._lock:
            stamp = manifest_stamp(self.folder)
            if self._retriever is None or stamp != self._stamp:
                index, self._stamp = self._load()
                self._retriever = Retriever(index, self.encoder, self.fusion)
                self._coverage = Coverage(self.encoder)
            return self._retriever.index

    def _read(self) -> tuple[Index, tuple[int, int] | None]:
        """The index and the manifest stamp taken before reading it: a generation switched in meanwhile is loaded next time."""
        stamp = manifest_stamp(self.folder)
        return load_index(self.folder), stamp

    def _load(self) -> tuple[Index, tuple[int, int] | None]:
        # Folders unchanged since the build: trusted without a stat per file (`qa index` and the chat's start-up
        # compare every file).
        status = index_status(self.corpus, self.folder, self.encoder.name, backend=self.encoder.backend, trust_folders=True)
        if status == IndexStatus.OTHER_BACKEND and not (self.auto_build and self._retriever is None):
            raise StoreError(
                f"the index holds vectors from another encoder backend; this session uses "
                f"{self.encoder.backend} (vectors of different backends are never mixed)",
                remedy=Remedy.MATCH_BACKEND,
                backend=self.encoder.backend,
                index=str(self.folder),
            )
        if self._retriever is None and self.auto_build and status != IndexStatus.FRESH:
            try:
                # a file that cannot be read is skipped and named, never a reason not to start
                build_index(self.corpus, self.folder, self.encoder, log=_log, skip_bad=True, limits=self.parse_limits)
            except StoreError as exc:  # cannot write (read-only folder, full disk, locked): answer from what is there
                if status == IndexStatus.MISSING:
                    raise
                _log(f"warning: could not update the index ({exc}); answering from the existing index")
        try:
            return self._read()
        except StoreError as exc:
            if not (self.auto_build and self.corpus.is_dir()):
                raise
            _log(f"the index cannot be used ({exc}); rebuilding it from {self.corpus}")
            build_index(self.corpus, self.folder, self.encoder, rebuild=True, log=_log, skip_bad=True, limits=self.parse_limits)
            return self._read()

    def update(self, **kwargs: object) -> BuildReport:
        """Re-index the corpus incrementally and switch to the new index (queries keep the old one until then)."""
        kwargs.setdefault("limits", self.parse_limits)
        report = build_index(self.corpus, self.folder, self.encoder, **kwargs)  # type: ignore[arg-type]
        self.ensure_index()  # a new manifest means a new generation: load it now, not on the next question
        return report

    def add_releases(
        self,
        files: Sequence[str | Path],
        names: Sequence[str] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[UploadResult]:
        """Add release files to the corpus and index them: one result per file ("added", "already indexed", "rejected").

        Each file is checked on its own, content already indexed under any name
        is not added twice, and a name in use is never written over
        (:mod:`qa.upload`). ``names`` are the names the user chose; ``progress(read, total)`` follows the reading.
        """
        return add_files(self, files, names, progress)

    @property
    def ranker(self) -> SentenceRanker:
        """The answer-sentence model (the shipped one unless the session was given another)."""
        if self._ranker is None:
            self._ranker = load_ranker()
        return self._ranker

    @property
    def retriever(self) -> Retriever:
        self.ensure_index()
        assert self._retriever is not None
        return self._retriever

    def ask(
        self,
        question: str,
        k: int = 5,
        history: Sequence[str] | None = None,
        *,
        method: str | None = None,
        since: str | None = None,
        until: str | None = None,
        source: str | None = None,
        policy: AbstainPolicy | None = None,
        ranker: SentenceRanker | None = None,
    ) -> Answer:
        """Answer from the releases; ``since``/``until`` (YYYY-MM-DD) and ``source`` filter before ranking.

        ``policy`` and ``ranker`` override the session's abstention policy and answer-sentence model for this
        question (calibration and held-out evaluation use them).
        """
        q = validate_query(question, k, history, since, until, source)
        language = unreadable_language(q.question)
        if language:
            return language_note(q.question, language)
        retriever = self.retriever
        ranker = ranker if ranker is not None else self.ranker
        allowed = retriever.filter_mask(q.since, q.until, q.source)
        described = gather(retriever, q.question, q.history, allowed, max(HITS, q.k), method)
        if allowed is not None and not described.result.hits:
            return filter_miss(q.question, described.result, {"since": q.since, "until": q.until, "source": q.source})
        return compose_answer(q.question, described, retriever.index, ranker, policy or self.abstain, self._coverage, q.k)

    def warm_up(self) -> None:
        """Answer one throw-away question so the first real one does not pay for loading the encoder and BM25."""
        self.ask("press release")

    def release_paragraphs(self, source: str) -> list[str]:
        """A release's text as it was indexed (never reread from disk: the file may have changed or become a link)."""
        paragraphs: dict[int, list[str]] = {}
        for chunk in self.ensure_index().chunks_of(source):
            paragraphs.setdefault(chunk.paragraph, []).append(chunk.text)
        return [" ".join(parts) for _, parts in sorted(paragraphs.items())]


def _log(message: str) -> None:
    print(message, file=sys.stderr)


_DEFAULT: dict[tuple[str, str, str | None], QA] = {}
_DEFAULT_LOCK = threading.Lock()


def ask(
    question: str,
    k: int = 5,
    history: Sequence[str] | None = None,
    *,
    corpus: str | Path | None = None,
    index: str | Path | None = None,
    model: str | None = None,
    since: str | None = None,
    until: str | None = None,
    source: str | None = None,
) -> Answer:
    """Answer one question from the releases, building the index on first use if it is missing.

    >>> from qa import ask
    >>> ask("Who co-chaired the 2nd ROK-UNCMS Defense Ministerial Meeting?").passages[0].title
    'ROK-UNCMS Defense Ministerial Meeting Statement Released'
    """
    key = (str(corpus or DEFAULT_CORPUS), str(index or DEFAULT_INDEX), model)
    with _DEFAULT_LOCK:
        session = _DEFAULT.get(key) or _DEFAULT.setdefault(key, QA(corpus, index, model))
    return session.ask(question, k, history, since=since, until=until, source=source)
