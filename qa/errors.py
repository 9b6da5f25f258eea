"""One exception family, so the CLI and the UI can show a clean message instead of a traceback."""

from __future__ import annotations

__all__ = ["QAError", "CorpusError", "StoreError", "QueryError"]


class QAError(Exception):
    """Base error: the message says what is wrong and how to fix it."""


class CorpusError(QAError):
    """A corpus folder or release file cannot be used."""


class StoreError(QAError):
    """The index on disk is missing, corrupt, locked or was built differently."""


class QueryError(QAError):
    """A question or query option is invalid."""
