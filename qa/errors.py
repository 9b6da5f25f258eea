"""One exception family, so the CLI and the UI can show a clean message instead of a traceback."""

from __future__ import annotations

import re

__all__ = ["CorpusError", "QAError", "QueryError", "StoreError", "plain_error"]


class QAError(Exception):
    """Base error: the message says what is wrong and how to fix it."""


class CorpusError(QAError):
    """A corpus folder or release file cannot be used."""


class StoreError(QAError):
    """The index on disk is missing, corrupt, locked or was built differently."""


class QueryError(QAError):
    """A question or query option is invalid."""


def plain_error(exc: BaseException | str) -> str:
    """An error in the chat's words: no command lines, no flags (the chat and upload results use it)."""
    text = str(exc)
    replacements = {
        "--since": "“Since”",
        "--until": "“Until”",
        "--source": "“Source”",
        "--k": "“Passages”",
        "(fix the file, or pass --skip-bad to index the rest)": "(fix the file and upload it again)",
    }
    for old, new in replacements.items():
        text = text.replace(old, new)
    utf8 = re.match(r"(.*?)\bis not UTF-8 text", text)
    if utf8:
        text = f"{utf8.group(1)}is not UTF-8 text: save it as UTF-8 (Unicode) text and upload it again"
    for marker in (": run `", ": rebuild with `", "`python -m qa"):
        if marker in text:
            text = text.split(marker)[0] + ": ask the administrator to rebuild the index"
            break
    text = re.sub(r",? e\.g\. `[^`]*`", "", text)  # shell examples mean nothing in the chat
    first = text.split(" ", 1)[0]
    return text if "." in first or "/" in first else text[:1].upper() + text[1:]  # never capitalise a file name
