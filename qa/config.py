"""Every setting in one place: chunking, fusion, and where things live (the abstention policy is :mod:`qa.answering.abstain`).

:meth:`Settings.from_env` is the only code that reads the environment; the CLI
and the chat call it and hand the values to the library, so importing ``qa``
reads nothing and a test can pass any setting directly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .answering.abstain import AbstainPolicy
from .errors import ConfigError, QueryError

__all__ = [
    "BACKENDS",
    "DEFAULT_BACKEND",
    "DEFAULT_CACHE",
    "DEFAULT_CORPUS",
    "DEFAULT_DATA",
    "DEFAULT_INDEX",
    "DEFAULT_MODEL",
    "FUSION_METHODS",
    "INDEX_TYPES",
    "IN_CHECKOUT",
    "ONNX_BATCH",
    "ONNX_BATCH_TOKENS",
    "ROOT",
    "SENTENCE_POOLING",
    "ChunkConfig",
    "FusionConfig",
    "ParseLimits",
    "Settings",
    "home_layout",
    "parse_auth",
    "user_home",
]

ROOT = Path(__file__).resolve().parent.parent
# Where files live. A source checkout (its pyproject.toml and seeds/ beside the package) keeps them in the checkout:
# seeds/ is the corpus, embeddings/ the index, .cache/ the ONNX export and evaluation caches, data/ the chat's
# feedback. An installed release-qa keeps them in a user data folder (QA_HOME overrides it; see Settings.from_env).
IN_CHECKOUT = (ROOT / "pyproject.toml").is_file() and (ROOT / "seeds").is_dir()


def home_layout(home: Path) -> dict[str, Path]:
    """The folders of a release-qa home: releases (the corpus), index, cache, feedback."""
    return {"corpus": home / "releases", "index": home / "index", "cache": home / "cache", "data": home / "feedback"}


def user_home() -> Path:
    """The platform's user data folder for release-qa (e.g. ~/.local/share/release-qa on Linux)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("release-qa", appauthor=False))


_LAYOUT = (
    {"corpus": ROOT / "seeds", "index": ROOT / "embeddings", "cache": ROOT / ".cache", "data": ROOT / "data"}
    if IN_CHECKOUT
    else home_layout(user_home())
)
DEFAULT_CORPUS = _LAYOUT["corpus"]
DEFAULT_INDEX = _LAYOUT["index"]
DEFAULT_CACHE = _LAYOUT["cache"]
DEFAULT_DATA = _LAYOUT["data"]
DEFAULT_MODEL = "all-MiniLM-L6-v2"
BACKENDS = ("torch", "onnx", "onnx-int8")
# The ONNX variant whose every evaluation figure stays within 0.005 of torch (docs/evaluation.md): fp32
# matches torch to three decimals on every set; int8 moves figures by up to 0.05 (seed paraphrase hit@1 -0.007).
# Either way queries need neither torch nor transformers.
DEFAULT_BACKEND = "onnx"
ONNX_BATCH = 16  # texts per onnxruntime call at most
ONNX_BATCH_TOKENS = 2048  # word pieces per onnxruntime call, padding included: short sentences go in bigger batches
FUSION_METHODS = ("convex", "rrf", "dense", "bm25")
INDEX_TYPES = ("auto", "flat", "ivf", "hnsw")
ONNX_VERIFY_TEXTS = 1000  # texts an ONNX export is checked on against sentence-transformers
# How sentence vectors are made: "separate" encodes title + sentence on its own; "late" pools the sentence's pieces
# from its paragraph's forward pass; "late-title" pools the title's pieces with them (qa.pooling).
SENTENCE_POOLING = ("separate", "late", "late-title")


@dataclass(frozen=True)
class ChunkConfig:
    """Chunking knobs; recorded in the manifest so a change re-chunks the corpus."""

    max_tokens: int = 220  # text budget inside a 256-piece window, leaving room for the title
    window_tokens: int = 128  # target size of windows cut from text with no paragraph breaks
    window_overlap: int = 32  # tokens each such window shares with the one before
    min_words: int = 6  # shorter paragraphs join a neighbour
    title_in_embedding: bool = True
    # 2: breakless text in overlapping windows, no tail fragments;
    # 3: lead-ins join what they lead into, headline repeats and issue lines dropped
    # 4: Markdown's kramdown attribute lists and links with spaces are markup, ordered lists keep their numbers, a
    #    date line may end with a site's category note. An index of another version re-reads every file (its vectors
    #    are kept for every text that reads the same)
    # 5: a line break inside a chunk (a heading or lead-in joined to its paragraph) ends a sentence
    version: int = 5
    # One of SENTENCE_POOLING. "separate" scores best on SQuAD part A and the seed paraphrase set; pooling from the
    # paragraph's pass saves the sentences' own pass but loses hit@1 there (docs/scale.md).
    sentence_pooling: str = "separate"

    def __post_init__(self) -> None:
        if self.sentence_pooling not in SENTENCE_POOLING:
            raise ConfigError(
                f"unknown sentence pooling {self.sentence_pooling!r}: use one of {', '.join(SENTENCE_POOLING)}",
                setting="ChunkConfig.sentence_pooling",
            )

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class ParseLimits:
    """What reading one release file may cost (:mod:`qa.sandbox`); a file over either limit is skipped by name."""

    seconds: float = 20.0  # CPU time per file
    memory_mb: int = 1024  # memory per file, beyond what the reader had before it
    workers: int = 2  # reader processes

    def __post_init__(self) -> None:
        if self.seconds <= 0 or self.memory_mb < 64 or self.workers < 1:
            raise ConfigError(
                f"parse limits must be positive (seconds {self.seconds}, memory {self.memory_mb} MB of at least 64, "
                f"workers {self.workers})",
                setting="QA_PARSE_SECONDS, QA_PARSE_MEMORY_MB or QA_PARSE_WORKERS",
            )


@dataclass(frozen=True)
class FusionConfig:
    """Weights of the signals in convex fusion (per-query min-max normalised scores, summed).

    One setting for every corpus, chosen by 2-fold evaluation over the Senate
    dev set, the seed paraphrase set and SQuAD part A together (docs/evaluation.md):
    BM25 weighs 0.5 and a passage is credited with its release's BM25 score.
    """

    method: str = "convex"  # one of FUSION_METHODS
    paragraph: float = 0.3  # dense similarity of the whole chunk
    sentence: float = 0.4  # dense similarity of the chunk's best sentence
    bm25: float = 0.5  # BM25 of the chunk
    release: float = 0.1  # BM25 of the chunk's whole release
    candidates: int = 100  # per retriever, before fusion
    rrf_k: int = 60

    def __post_init__(self) -> None:
        check_method(self.method)
        if self.candidates < 1 or self.rrf_k < 1:
            raise QueryError(f"candidates and rrf_k must be at least 1, got {self.candidates} and {self.rrf_k}")


def check_method(method: str) -> str:
    """A fusion method name, or a QueryError listing the valid ones (a typo never silently becomes another)."""
    if method not in FUSION_METHODS:
        raise QueryError(f"unknown fusion method {method!r}: use one of {', '.join(FUSION_METHODS)}")
    return method


@dataclass(frozen=True)
class Settings:
    """What a deployment chooses: folders, model, encoder backend, abstention policy."""

    corpus: Path = DEFAULT_CORPUS
    index: Path = DEFAULT_INDEX
    model: str | None = None  # None: DEFAULT_MODEL
    backend: str = DEFAULT_BACKEND
    cache: Path = DEFAULT_CACHE  # ONNX exports, evaluation corpora and indexes
    abstain: AbstainPolicy = field(default_factory=AbstainPolicy)
    onnx_verify_texts: int = ONNX_VERIFY_TEXTS
    data: Path = DEFAULT_DATA  # the chat's feedback log
    auth: tuple[str, str] | None = None  # the chat's login (QA_AUTH="user:password"); required off loopback
    parse: ParseLimits = field(default_factory=ParseLimits)  # what reading one release file may cost
    trash: Path | None = None  # where removed releases go; None: a ".removed" folder beside the corpus
    host: str = "127.0.0.1"  # where the chat listens (QA_HOST)
    port: int = 7860  # (QA_PORT)
    allowed_hosts: tuple[str, ...] = ()  # more host names the chat answers under (QA_ALLOWED_HOSTS, comma-separated)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """QA_HOME, QA_CORPUS, QA_INDEX, QA_MODEL, QA_BACKEND, QA_CACHE, QA_ABSTAIN, QA_ONNX_VERIFY_TEXTS, QA_DATA, QA_AUTH,
        QA_PARSE_SECONDS, QA_PARSE_MEMORY_MB, QA_PARSE_WORKERS, QA_TRASH, QA_HOST, QA_PORT, QA_ALLOWED_HOSTS.

        QA_HOME moves every folder into one (releases/, index/, cache/, feedback/); QA_CORPUS, QA_INDEX, QA_CACHE
        and QA_DATA then move single folders.
        """
        env = os.environ if environ is None else environ
        backend = env.get("QA_BACKEND") or DEFAULT_BACKEND
        if backend not in BACKENDS:
            raise ConfigError(f"QA_BACKEND={backend!r} is not a backend: use one of {', '.join(BACKENDS)}", setting="QA_BACKEND")
        abstain = env.get("QA_ABSTAIN", "").strip()
        verify = env.get("QA_ONNX_VERIFY_TEXTS", "").strip()
        if verify and not verify.isdigit():
            raise ConfigError(
                f"QA_ONNX_VERIFY_TEXTS={verify!r} is not a whole number (the default is {ONNX_VERIFY_TEXTS})",
                setting="QA_ONNX_VERIFY_TEXTS",
            )
        home = env.get("QA_HOME")
        where = home_layout(Path(home).expanduser()) if home else _LAYOUT
        return cls(
            corpus=Path(env.get("QA_CORPUS") or where["corpus"]),
            index=Path(env.get("QA_INDEX") or where["index"]),
            model=env.get("QA_MODEL") or None,
            backend=backend,
            cache=Path(env.get("QA_CACHE") or where["cache"]),
            abstain=AbstainPolicy.parse(abstain) if abstain else AbstainPolicy(),
            onnx_verify_texts=int(verify) if verify else ONNX_VERIFY_TEXTS,
            data=Path(env.get("QA_DATA") or where["data"]),
            auth=parse_auth(env.get("QA_AUTH")),
            parse=parse_limits(env),
            trash=Path(env["QA_TRASH"]) if env.get("QA_TRASH") else None,
            host=env.get("QA_HOST") or "127.0.0.1",
            port=_port(env.get("QA_PORT")),
            allowed_hosts=tuple(h.strip() for h in env.get("QA_ALLOWED_HOSTS", "").split(",") if h.strip()),
        )


def parse_limits(env: Mapping[str, str]) -> ParseLimits:
    """QA_PARSE_SECONDS (a number), QA_PARSE_MEMORY_MB and QA_PARSE_WORKERS (whole numbers); unset: the defaults."""
    default = ParseLimits()
    values: dict[str, float | int] = {}
    for name, key, kind in (
        ("QA_PARSE_SECONDS", "seconds", float),
        ("QA_PARSE_MEMORY_MB", "memory_mb", int),
        ("QA_PARSE_WORKERS", "workers", int),
    ):
        raw = env.get(name, "").strip()
        if not raw:
            continue
        try:
            values[key] = kind(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r} is not a number (the default is {getattr(default, key)})", setting=name) from None
    return ParseLimits(**values)  # type: ignore[arg-type]


def _port(raw: str | None) -> int:
    if not raw:
        return 7860
    if not raw.strip().isdigit() or not 0 < int(raw) < 65536:
        raise ConfigError(f"QA_PORT={raw!r} is not a port number (1-65535; the default is 7860)", setting="QA_PORT")
    return int(raw)


def parse_auth(raw: str | None) -> tuple[str, str] | None:
    """QA_AUTH="user:password": both parts non-empty, or the login would accept anyone who guesses the user."""
    if raw is None or raw == "":
        return None
    user, sep, password = raw.partition(":")
    if not sep or not user.strip() or not password.strip():
        raise ConfigError(
            "QA_AUTH must be user:password with a non-empty user and password, e.g. QA_AUTH=editor:s3cret-phrase",
            setting="QA_AUTH",
        )
    return user, password
