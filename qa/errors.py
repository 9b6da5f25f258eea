"""One exception family, so the CLI and the UI can show a clean message instead of a traceback."""

from __future__ import annotations

__all__ = ["QAError", "CorpusError", "IndexError_", "QueryError"]


class QAError(Exception):
    """Base error: the message says what is wrong and how to fix it."""


class CorpusError(QAError):
    """A corpus folder or release file cannot be used."""


class IndexError_(QAError):
    """The built index is missing, corrupt or was built differently."""


class QueryError(QAError):
    """A question or query option is invalid."""
