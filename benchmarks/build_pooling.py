"""Build throughput against raw encode of the same texts, for chunks and for sentences, in CPU time and wall time.

    python benchmarks/build_pooling.py --corpus SENATE_RAW [--releases 400] [--pooling separate]
        [--backend onnx] [--rounds 1] [--threads 1,2]

Copies --releases files of the corpus (every n-th, so every senator is in it) to a temporary folder, builds a fresh
index (the whole `build_index`: parsing, chunking, chunk and sentence vectors, BM25, FAISS, chunk store), then times
raw `encoder.encode` of the same chunk texts and, apart, of the same sentence texts, with the same encoder. Ratios:
  chunks:    raw chunk-encode CPU seconds / build CPU seconds   (1.0 = the build costs no more than its chunks alone)
  sentences: raw sentence-encode CPU seconds / build CPU seconds
  both:      (raw chunks + raw sentences) / build              (1.0 = nothing but the encoder's own work)
CPU time counts every thread of this process, so it measures work done whatever else the machine runs; wall-time
figures are printed too but mean little on a shared machine. --threads sets onnxruntime's intra-op threads.
The code measured is the `qa` this interpreter imports (run with PYTHONPATH=<checkout> to compare two checkouts).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import qa
from qa.build import build_index
from qa.chunking import sentence_table
from qa.config import ChunkConfig
from qa.corpus import corpus_files
from qa.embedding import make_encoder
from qa.store.index import load_index


def _copy_subset(source: Path, target: Path, releases: int) -> None:
    files = corpus_files(source)
    step = max(1, len(files) // releases)
    for path in files[::step][:releases]:
        out = target / path.relative_to(source)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, out)


def _timed(run: Callable[..., object], *args: object, **kwargs: object) -> tuple[float, float]:
    """(wall, CPU) seconds of one call."""
    t, cpu = time.perf_counter(), time.process_time()
    run(*args, **kwargs)
    return time.perf_counter() - t, time.process_time() - cpu


def _quiet(message: str) -> None:
    """The build's log, not printed."""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--releases", type=int, default=400)
    ap.add_argument("--backend", default="onnx")
    ap.add_argument("--pooling", default="separate")
    ap.add_argument("--rounds", type=int, default=1, help="each setting built this many times, interleaved")
    ap.add_argument("--threads", default="", help="onnxruntime intra-op threads to compare, e.g. 1,2 (default: cores)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="build-pooling-"))
    try:
        corpus = work / "corpus"
        _copy_subset(args.corpus, corpus, args.releases)
        print(f"\n{len(corpus_files(corpus))} releases, backend {args.backend}, qa from {Path(qa.__file__).parent}\n")
        print(
            "| pooling | threads | chunks | sentences | build CPU s | raw chunks CPU s | raw sentences CPU s | "
            "build/raw chunks | build/raw sentences | build/raw both | build wall s | raw both wall s |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        threads_list = (args.threads or "0").split(",")
        settings = [(r, p, t) for r in range(args.rounds) for p in args.pooling.split(",") for t in threads_list]
        for round_, pooling, threads in settings:
            encoder = make_encoder(backend=args.backend)
            if int(threads):
                encoder.threads = int(threads)  # type: ignore[attr-defined]
            encoder.encode(["warm up the model", "and its threads"])
            folder = work / f"{pooling}-{threads}-{round_}"
            cfg = ChunkConfig(sentence_pooling=pooling)
            options = {"cfg": cfg, "progress": False, "skip_bad": True, "log": _quiet}
            build_wall, build_cpu = _timed(build_index, corpus, folder, encoder, **options)
            index = load_index(folder)
            chunk_texts = [c.embed_text for c in index.chunks]
            sentence_texts = sentence_table(list(index.chunks), index.manifest.chunk_config()).texts
            c_wall, c_cpu = _timed(encoder.encode, chunk_texts)
            s_wall, s_cpu = _timed(encoder.encode, sentence_texts)
            print(
                f"| {pooling} | {threads if int(threads) else 'default'} | {len(chunk_texts)} | {len(sentence_texts)} | "
                f"{build_cpu:.1f} | {c_cpu:.1f} | {s_cpu:.1f} | {c_cpu / build_cpu:.2f} | {s_cpu / build_cpu:.2f} | "
                f"{(c_cpu + s_cpu) / build_cpu:.2f} | {build_wall:.1f} | {c_wall + s_wall:.1f} |",
                flush=True,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
