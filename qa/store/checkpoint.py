"""A build's checkpoint: vectors embedded so far, kept in the index folder so an interrupted build resumes."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np

from ..embedding import Encoder
from ..errors import StoreError
from .manifest import write_atomic

__all__ = ["PARTIAL", "Checkpoint"]

PARTIAL = "partial"  # the checkpoint's folder inside the index folder


class Checkpoint:
    """Vectors of a build that has not finished, saved every CHECKPOINT_EVERY chunks in ``<index>/partial/`` (.npy
    and a JSON list of their content keys; each file written whole or not at all): an interrupted build resumes
    where it stopped. Removed once a generation is written."""

    def __init__(self, index_folder: Path, encoder: Encoder) -> None:
        self.folder = index_folder / PARTIAL
        self.stamp = {"model": encoder.name, "backend": encoder.backend}
        self.parts = 0

    def load(self) -> dict[str, np.ndarray]:
        try:
            stamp = json.loads((self.folder / "meta.json").read_text())
        except (OSError, ValueError):
            return {}
        if stamp != self.stamp:  # another model's vectors: of no use
            self.remove()
            return {}
        out: dict[str, np.ndarray] = {}
        for keys_file in sorted(self.folder.glob("part-*.json")):
            self.parts = max(self.parts, int(keys_file.stem[5:]) + 1)
            try:
                keys = json.loads(keys_file.read_text())
                vectors = np.load(keys_file.with_suffix(".npy"), allow_pickle=False)
            except (OSError, ValueError):
                continue
            if isinstance(keys, list) and vectors.ndim == 2 and len(keys) == len(vectors):
                out.update(zip(keys, vectors.astype(np.float32), strict=True))
        return out

    def save(self, vectors: dict[str, np.ndarray]) -> None:
        if not vectors:
            return
        name = f"part-{self.parts:06d}"
        buffer = io.BytesIO()
        np.save(buffer, np.stack(list(vectors.values())).astype(np.float32), allow_pickle=False)
        try:
            self.folder.mkdir(exist_ok=True)
            if not (self.folder / "meta.json").exists():
                write_atomic(self.folder / "meta.json", json.dumps(self.stamp).encode())
            write_atomic(self.folder / f"{name}.npy", buffer.getvalue())
            write_atomic(self.folder / f"{name}.json", json.dumps(list(vectors)).encode())  # last: marks it complete
        except OSError as exc:  # the index could not be written either: say so now, not after embedding everything
            if not any(self.folder.glob("part-*.json")):
                self.remove()  # nothing saved: leave the folder as it was
            raise StoreError(
                f"could not write the index in {self.folder.parent} ({exc.strerror or exc}): free disk "
                "space or make the folder writable, then index again; the previous index was left as it was"
            ) from None
        self.parts += 1

    def remove(self) -> None:
        """Delete the checkpoint's own files by their pattern inside its own folder, then the folder."""
        if not self.folder.is_dir() or self.folder.is_symlink():
            return
        for pattern in ("part-*.npy", "part-*.json", ".part-*.tmp-*", "meta.json", ".meta.json.tmp-*"):  # write_atomic's names
            for path in self.folder.glob(pattern):
                path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # something else was put there: leave it
            self.folder.rmdir()
