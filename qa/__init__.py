"""release-qa: ask plain-language questions of press releases, get the cited passage that answers them.

    >>> from qa import ask
    >>> answer = ask("Who co-chaired the 2nd ROK-UNCMS Defense Ministerial Meeting?")
    >>> answer.passages[0].title, answer.passages[0].paragraph
"""

from .answer import QA, Answer, Passage, ask
from .errors import CorpusError, IndexError_, QAError, QueryError
from .store import BuildReport, build_index, load_index

__all__ = [
    "QA",
    "Answer",
    "Passage",
    "ask",
    "build_index",
    "load_index",
    "BuildReport",
    "QAError",
    "CorpusError",
    "IndexError_",
    "QueryError",
]
