"""The ONNX export behind :class:`qa.embedding.OnnxEncoder`: run once (``make setup`` or the first index), cached.

The model is exported with ``torch.onnx``, quantised per channel (int8) and fused
(fp32), and both are checked against sentence-transformers on real text before
they are moved into the cache. Only this module needs torch; it is imported
only when an export has to happen.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .config import DEFAULT_CORPUS, ONNX_VERIFY_TEXTS
from .embedding import OnnxEncoder, TorchEncoder
from .errors import QAError, Remedy

__all__ = ["MIN_COSINE", "export_onnx"]

MIN_COSINE = 0.99  # an exported model must agree with sentence-transformers at least this well


def export_onnx(
    load_from: str, name: str, folder: Path, texts: Sequence[str] | None = None, count: int = ONNX_VERIFY_TEXTS
) -> dict[str, Any]:
    """Export the model with torch.onnx, quantise it per channel, verify both against sentence-transformers."""
    import logging
    import shutil
    import tempfile
    import warnings

    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    reference = TorchEncoder(load_from)
    st = reference.model
    first: Any = st[0]  # the Transformer module (typed as any module of the pipeline)
    transformer = first.auto_model.eval()

    class _Hidden(torch.nn.Module):
        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state

    tmp = Path(tempfile.mkdtemp(prefix=".onnx-", dir=folder.parent if folder.parent.exists() else None))
    level = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)  # the quantiser's advice to pre-process is for image models
    try:
        sample = st.tokenizer(["an example", "a longer example sentence"], padding=True, return_tensors="pt")
        axes = {0: "batch", 1: "tokens"}
        with warnings.catch_warnings():  # tracer notes on code paths that never vary for this model
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _Hidden(transformer),
                (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"]),
                str(tmp / "model.onnx"),
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["last_hidden_state"],
                opset_version=17,
                dynamo=False,
                dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes, "last_hidden_state": axes},
            )
        quantize_dynamic(str(tmp / "model.onnx"), str(tmp / "model-int8.onnx"), per_channel=True, weight_type=QuantType.QInt8)
        _fuse(tmp / "model.onnx", transformer.config)  # after quantising: the quantiser cannot type fused graphs
        st.tokenizer.backend_tokenizer.save(str(tmp / "tokenizer.json"))
        meta: dict[str, Any] = {
            "model": name,
            "dim": reference.dim,
            "max_seq_length": reference.max_tokens,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        (tmp / "meta.json").write_text(json.dumps(meta))
        _verify(reference, load_from, tmp, _verification_texts(texts, count), meta)
        folder.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
        return meta
    finally:
        logging.getLogger().setLevel(level)
        shutil.rmtree(tmp, ignore_errors=True)


def _verify(reference: TorchEncoder, load_from: str, tmp: Path, probe: list[str], meta: dict[str, Any]) -> None:
    """Both exports in ``tmp`` against sentence-transformers on ``probe``; the cosines go into meta.json."""
    expected = reference.encode(probe)
    for backend in ("onnx", "onnx-int8"):
        candidate = OnnxEncoder(load_from, backend)
        candidate.folder = tmp  # the export under test, before it is moved into the cache
        cosine = float((candidate.encode(probe) * expected).sum(axis=1).mean())
        meta[f"cosine_{backend}"] = round(cosine, 5)
        if cosine < MIN_COSINE:
            raise QAError(
                f"the {backend} export of {meta['model']} agrees with sentence-transformers at cosine "
                f"{cosine:.3f} (< {MIN_COSINE})",
                remedy=Remedy.SET_BACKEND_TORCH,
            )
    meta["verified_on"] = len(probe)
    (tmp / "meta.json").write_text(json.dumps(meta))


def _fuse(path: Path, config: Any) -> None:
    """Fuse attention, LayerNorm and GELU with onnxruntime's transformer optimizer (kept only if it works)."""
    try:
        from onnxruntime.transformers import optimizer

        fused = optimizer.optimize_model(
            str(path), model_type="bert", num_heads=int(config.num_attention_heads), hidden_size=int(config.hidden_size)
        )
        fused.save_model_to_file(str(path.with_suffix(".fused.onnx")))
        os.replace(path.with_suffix(".fused.onnx"), path)
    except Exception:
        path.with_suffix(".fused.onnx").unlink(missing_ok=True)


def _verification_texts(texts: Sequence[str] | None, count: int = ONNX_VERIFY_TEXTS) -> list[str]:
    """Up to ``count`` real texts: those given (the corpus), topped up with windows over them or the seed releases."""
    pool = [t for t in (texts or []) if t.strip()]
    if len(pool) < 50:
        pool += [p.read_text(encoding="utf-8", errors="replace") for p in sorted(DEFAULT_CORPUS.glob("*.txt"))]
    words = " ".join(pool).split()
    out = list(dict.fromkeys(pool))[:count]
    size = 12
    while len(out) < count and words:
        for start in range(0, len(words), size // 2 + 1):
            out.append(" ".join(words[start : start + size]))
            if len(out) >= count:
                break
        size += 7
    return out[:count]
