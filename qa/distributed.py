"""Embedding a build's new texts on a Ray cluster: Ray Data's ``map_batches`` over a pool of encoder actors.

    pip install 'release-qa[cluster]'
    python -m qa index --ray              # a local Ray with one encoder per core
    python -m qa index --ray ADDRESS      # a running cluster (`ray start --head` prints its address)

Only the embedding moves: the build plans, checkpoints and writes the index here, exactly as a local build does,
so the index is the same (vectors equal within floating-point noise, the same content-hash reuse). The ONNX model
and tokenizer travel to the actors through Ray's object store, so the workers need the package installed
(``pip install release-qa``; the ``qa`` code itself is shipped with the job) but no model files and no torch.
Ray restarts an actor whose worker dies and retries its batches; a build whose driver dies resumes from its
checkpoints like any other.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .embedding import Encoder, OnnxEncoder, make_encoder
from .environment import offline_ray_environment
from .errors import ConfigError, QAError, Remedy

__all__ = ["RayEngine"]

MODEL_FILES = ("tokenizer.json", "meta.json")  # beside the backend's model file in the ONNX export folder


class _EncoderActor:
    """One encoder per actor, built once; called by Ray Data with batches of {"position", "text"}."""

    def __init__(self, model: str, backend: str, files: list[Any], threads: int) -> None:
        if files:  # the ONNX export, out of the object store into a folder of this worker
            import ray

            blobs: dict[str, bytes] = ray.get(files[0])
            cache = Path(tempfile.mkdtemp(prefix="qa-ray-encoder-"))
            encoder = OnnxEncoder(model, backend, cache=cache, threads=threads)
            encoder.folder.mkdir(parents=True)
            for name, data in blobs.items():
                (encoder.folder / name).write_bytes(data)
            self.encoder: Encoder = encoder
        else:
            self.encoder = make_encoder(model, backend)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vectors = self.encoder.encode([str(t) for t in batch["text"]])
        return {"position": np.asarray(batch["position"], dtype=np.int64), "vector": vectors}


@dataclass(frozen=True)
class RayEngine:
    """Where and how wide: ``address`` None starts a local Ray of ``workers`` encoder processes (default: one per
    core); an address joins a running cluster, whose every CPU gets an encoder unless ``workers`` says otherwise."""

    address: str | None = None
    workers: int | None = None
    threads: int = 1  # onnxruntime threads (and Ray CPUs) per encoder actor
    batch_size: int = 256  # texts per actor call

    @property
    def name(self) -> str:
        return f"Ray ({self.address})" if self.address else "a local Ray"

    def connect(self) -> int:
        """Start or join Ray (offline, no dashboard, no usage report); the number of encoder actors to run."""
        offline_ray_environment()
        try:
            import ray
        except ImportError:
            raise QAError(
                "embedding on Ray needs Ray Data, which is not installed", remedy=Remedy.INSTALL_EXTRA, extra="cluster"
            ) from None
        if not ray.is_initialized():
            runtime_env = {"py_modules": [str(Path(__file__).resolve().parent)]}  # this qa, whatever the workers hold
            try:
                quiet: dict[str, Any] = {"runtime_env": runtime_env, "log_to_driver": False, "logging_level": logging.WARNING}
                if self.address:
                    ray.init(address=self.address, **quiet)
                else:
                    cpus = (self.workers or os.cpu_count() or 1) * self.threads
                    ray.init(address="local", num_cpus=cpus, include_dashboard=False, **quiet)  # never a running one
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = f"the Ray cluster at {self.address}" if self.address else "a local Ray"
                raise ConfigError(
                    f"cannot start or reach {where} ({str(exc).strip()[:200]}); `ray status` on the head node prints its address",
                    setting="the Ray address",
                ) from None
        cpus = int(ray.cluster_resources().get("CPU", 1))
        return max(1, self.workers or cpus // self.threads)

    def embed(self, encoder: Encoder, texts: Sequence[str], piece: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yields (positions, vectors) as the actors finish; ``texts`` go out in their order (sorted by length)."""
        if not texts:
            return
        import ray
        import ray.data

        actors = self.connect()
        files = [ray.put(_export_files(encoder))] if isinstance(encoder, OnnxEncoder) else []
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.execution_options.preserve_order = False
        size = max(1, min(self.batch_size, -(-len(texts) // actors)))
        data = ray.data.from_items(
            [{"position": i, "text": t} for i, t in enumerate(texts)], override_num_blocks=max(1, -(-len(texts) // size))
        )
        vectors = data.map_batches(
            _EncoderActor,
            fn_constructor_args=(encoder.name, encoder.backend, files, self.threads),
            batch_size=size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=self.threads,
        )
        for batch in vectors.iter_batches(batch_size=piece, batch_format="numpy"):
            yield np.asarray(batch["position"], dtype=np.int64), np.asarray(batch["vector"], dtype=np.float32)


def _export_files(encoder: OnnxEncoder) -> dict[str, bytes]:
    """The export the actors load: the backend's model file, the tokenizer and its metadata (made now if missing)."""
    encoder.dim  # noqa: B018 -- exports and verifies the model if this machine has not yet
    return {name: (encoder.folder / name).read_bytes() for name in (encoder.model_file.name, *MODEL_FILES)}
