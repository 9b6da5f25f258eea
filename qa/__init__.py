"""release-qa: ask plain-language questions of press releases, get the cited passage that answers them.

>>> from qa import ask
>>> answer = ask("Who co-chaired the 2nd ROK-UNCMS Defense Ministerial Meeting?")
>>> answer.passages[0].title, answer.passages[0].paragraph
"""

from .answering.abstain import AbstainPolicy
from .answering.types import Answer, Passage
from .build import IndexStatus, build_index, index_status
from .config import ChunkConfig, FusionConfig, Settings
from .errors import ConfigError, CorpusError, QAError, QueryError, Remedy, StoreError
from .plan import BuildReport
from .session import QA, ask
from .store.index import load_index
from .upload import UploadResult

__all__ = [
    "QA",
    "AbstainPolicy",
    "Answer",
    "BuildReport",
    "ChunkConfig",
    "ConfigError",
    "CorpusError",
    "FusionConfig",
    "IndexStatus",
    "Passage",
    "QAError",
    "QueryError",
    "Remedy",
    "Settings",
    "StoreError",
    "UploadResult",
    "ask",
    "build_index",
    "index_status",
    "load_index",
]
