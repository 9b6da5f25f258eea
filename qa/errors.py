"""One exception family whose errors carry their remedy as data, and the words each front end gives them.

A library error says what is wrong (``message``) and, where the user can do something about it, which
:class:`Remedy` applies (``remedy``), with the details the remedy needs (``context``: the index folder, the
backend, the setting). It never names a command-line flag or a chat button: each front end words the remedy in
its own terms -- the command line as the command to run (:func:`cli_message`), the chat as what to do in the
page (:func:`chat_message`), the Python API as the call to make (``str(exc)``).

Options of a question (``k``, ``since``, ``until``, ``source``) are named in a message by a placeholder such as
``{since}`` listed in ``fields``; each front end fills in its own name for it (``--since``, “Since”, ``since``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

__all__ = [
    "ConfigError",
    "CorpusError",
    "QAError",
    "QueryError",
    "Remedy",
    "StoreError",
    "chat_api_message",
    "chat_message",
    "cli_message",
    "worded",
]


class Remedy(enum.Enum):
    """What the user can do about an error; the front ends word it (see the tables below)."""

    BUILD_INDEX = "build_index"  # there is no index in the folder yet
    REBUILD_INDEX = "rebuild_index"  # the index is damaged or of another format: build it again from the releases
    SKIP_BAD_FILE = "skip_bad_file"  # a release file cannot be read: fix it, or index the others without it
    SAVE_AS_UTF8 = "save_as_utf8"  # a text file in another encoding (context: file)
    SET_BACKEND_TORCH = "set_backend_torch"  # the ONNX model cannot be made or trusted: use sentence-transformers
    MATCH_BACKEND = "match_backend"  # the index holds another backend's vectors (context: backend, index)
    CHOOSE_MODEL = "choose_model"  # the embedding model cannot be loaded (nothing is downloaded)
    CHOOSE_CORPUS = "choose_corpus"  # the corpus folder is missing or not a folder
    FIX_SETTING = "fix_setting"  # a setting has a value that cannot be used (context: setting)
    INSTALL_EXTRA = "install_extra"  # an optional part is not installed (context: extra)
    WAIT = "wait"  # another writer holds the index: try again when it ends
    MAKE_WRITABLE = "make_writable"  # a folder the library writes to cannot be written (context: folder)


class QAError(Exception):
    """Base error: ``message`` says what is wrong, ``remedy`` (data) what to do about it."""

    default_remedy: Remedy | None = None

    def __init__(
        self,
        message: str,
        *,
        remedy: Remedy | None = None,
        fields: tuple[str, ...] = (),
        **context: str,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.remedy = remedy or self.default_remedy
        self.fields = fields
        self.context = dict(context)

    def __str__(self) -> str:
        return worded(self, API_REMEDIES, {})

    def __reduce__(self) -> tuple[object, ...]:  # keyword-only details survive pickling (a worker's error)
        return (_restore, (type(self), self.message, self.remedy, self.fields, self.context))


def _restore(
    cls: type[QAError], message: str, remedy: Remedy | None, fields: tuple[str, ...], context: dict[str, str]
) -> QAError:
    return cls(message, remedy=remedy, fields=fields, **context)


class ConfigError(QAError):
    """A setting (an environment variable, a configuration value) cannot be used."""

    default_remedy = Remedy.FIX_SETTING


class CorpusError(QAError):
    """A corpus folder or release file cannot be used."""


class StoreError(QAError):
    """The index on disk is missing, corrupt, locked or was built differently."""


class QueryError(QAError):
    """A question or query option is invalid."""


# How each front end words a remedy. ``{name}`` is filled from the error's context.
API_REMEDIES: dict[Remedy, str] = {
    Remedy.BUILD_INDEX: "build it with qa.build_index(corpus, index)",
    Remedy.REBUILD_INDEX: "rebuild it with qa.build_index(corpus, index, rebuild=True)",
    Remedy.SKIP_BAD_FILE: "fix the file, or build with skip_bad=True to index the rest",
    Remedy.SAVE_AS_UTF8: "re-save it as UTF-8 text, e.g. iconv -f latin1 -t utf-8 {file}",
    Remedy.SET_BACKEND_TORCH: 'use the torch backend (backend="torch")',
    Remedy.MATCH_BACKEND: "rebuild the index in {index} with backend {backend!r}, or ask with the backend it was built with",
    Remedy.CHOOSE_MODEL: "give a local sentence-transformers model folder as the model; nothing is downloaded",
    Remedy.CHOOSE_CORPUS: "give a folder of release files as the corpus",
    Remedy.FIX_SETTING: "correct {setting}, or leave it unset to use the default",
    Remedy.INSTALL_EXTRA: "install it with pip install 'release-qa[{extra}]'",
    Remedy.WAIT: "try again when it ends",
    Remedy.MAKE_WRITABLE: "make {folder} writable",
}
CLI_REMEDIES: dict[Remedy, str] = {
    Remedy.BUILD_INDEX: "run `release-qa index --index {index}`",
    Remedy.REBUILD_INDEX: "rebuild with `release-qa index --rebuild`",
    Remedy.SKIP_BAD_FILE: "fix the file, or pass --skip-bad to index the rest",
    Remedy.SAVE_AS_UTF8: "re-save it as UTF-8, e.g. `iconv -f latin1 -t utf-8 {file}`",
    Remedy.SET_BACKEND_TORCH: "use the torch backend (--backend torch, or QA_BACKEND=torch)",
    Remedy.MATCH_BACKEND: (
        "re-embed the index in {index} with `release-qa index --backend {backend}`, or ask with the backend it was built with"
    ),
    Remedy.CHOOSE_MODEL: "pass --model with a local sentence-transformers folder; nothing is downloaded",
    Remedy.CHOOSE_CORPUS: "pass --corpus with a folder of release files",
    Remedy.FIX_SETTING: "correct {setting}, or unset it to use the default",
    Remedy.INSTALL_EXTRA: "pip install 'release-qa[{extra}]'",
    Remedy.WAIT: "try again when it ends",
    Remedy.MAKE_WRITABLE: "make {folder} writable",
}
CHAT_REMEDIES: dict[Remedy, str] = {
    Remedy.BUILD_INDEX: "ask the administrator to build the index",
    Remedy.REBUILD_INDEX: "ask the administrator to rebuild the index",
    Remedy.SKIP_BAD_FILE: "fix the file and upload it again",
    Remedy.SAVE_AS_UTF8: "save it as UTF-8 (Unicode) text and upload it again",
    Remedy.SET_BACKEND_TORCH: "ask the administrator to switch the encoder backend",
    Remedy.MATCH_BACKEND: "ask the administrator to rebuild the index",
    Remedy.CHOOSE_MODEL: "ask the administrator to check the model",
    Remedy.CHOOSE_CORPUS: "ask the administrator to check the release folder",
    Remedy.FIX_SETTING: "ask the administrator to correct the settings",
    Remedy.INSTALL_EXTRA: "ask the administrator to install it",
    Remedy.WAIT: "try again in a moment",
    Remedy.MAKE_WRITABLE: "ask the administrator to make it writable",
}
CLI_FIELDS = {"k": "--k", "since": "--since", "until": "--until", "source": "--source", "history": "--history"}
CHAT_FIELDS = {"k": "“Passages”", "since": "“Since”", "until": "“Until”", "source": "“Source”", "history": "earlier question"}


class _Defaults(dict[str, str]):
    def __missing__(self, key: str) -> str:  # a context value the raiser did not give reads as its name in capitals
        return key.upper()


def worded(exc: QAError, remedies: Mapping[Remedy, str], fields: Mapping[str, str]) -> str:
    """``exc`` in a front end's words: its options named as ``fields`` says, its remedy as ``remedies`` says."""
    text = exc.message
    for name in exc.fields:
        text = text.replace("{" + name + "}", fields.get(name, name))
    if exc.remedy is not None:
        text = f"{text}: {remedies[exc.remedy].format_map(_Defaults(exc.context))}"
    return text


def cli_message(exc: QAError) -> str:
    """The command line's words: the remedy as the command to run."""
    return worded(exc, CLI_REMEDIES, CLI_FIELDS)


def chat_message(exc: BaseException | str) -> str:
    """The chat's words: no command lines, no flags, what to do in the page; a file name is never capitalised."""
    text = worded(exc, CHAT_REMEDIES, CHAT_FIELDS) if isinstance(exc, QAError) else str(exc)
    first = text.split(" ", 1)[0]
    return text if "." in first or "/" in first else text[:1].upper() + text[1:]


def chat_api_message(exc: QAError) -> str:
    """The chat's `/ask` endpoint: options named as its parameters (k, since, …), remedies in the chat's words."""
    return worded(exc, CHAT_REMEDIES, {})
