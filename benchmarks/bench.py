"""Speed and memory, measured against the raw libraries in the same run.

    python benchmarks/bench.py --corpus ../shared/corpora/senate-press-releases/raw \
        [--sizes 1000,10000,100000] [--build-chunks 300] [--ann 1000000] [--out eval/results/bench]

Prints Markdown tables and writes bench.json + PNG plots to --out:
  1. encoders: query encode latency and batch throughput per backend, cosine to torch;
  2. build: `build_index` vs raw `SentenceTransformer.encode` on the same chunk texts, same batch size;
  3. query latency p50/p95 (warm, in-process) for dense, BM25 and the full pipeline vs raw encode + FAISS flat,
     at each size, with the resident memory after loading that index, and the unchanged re-index;
  4. cold start: process start to first answer for `qa ask` and the app vs bare import + model load;
  5. ANN: flat vs IVF at --ann synthetic vectors (recall@10 against flat, latency, memory).

At 10K and 100K chunks the text is real (BM25, chunk store, sentence splitting) but the vectors are
synthetic: embedding 100K real chunks and their sentences takes hours on 2 cores. Latency of FAISS
and BM25 depends on sizes, not on the values. Sizes larger than the corpus are capped.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

from qa import QA, CorpusError, build_index, load_index
from qa.chunking import approx_tokens
from qa.config import child_environment, offline_model_environment
from qa.corpus import corpus_files, read_release
from qa.embedding import hash_vectors, make_encoder, resolve_model
from qa.evaluation import percentiles as latency_percentiles
from qa.index import make_faiss

ROOT = Path(__file__).resolve().parent.parent
offline_model_environment()

QUESTIONS = [
    "What did the senator say about the farm bill?", "How much funding will the project receive?",
    "When will the hearing take place?", "Which agency will award the grants?", "Who introduced the legislation?",
    "What does the bill do for veterans?", "How many jobs will be created?", "What did the committee approve?",
    "Why did the senator oppose the amendment?", "What is the cost of the program?",
]


class SyntheticEncoder:
    """Unit vectors derived from a hash of the text: real-sized, deterministic, free. For size, not quality."""

    def __init__(self, name: str, backend: str = "torch", dim: int = 384) -> None:
        self.name, self.backend, self.dim, self.max_tokens = name, backend, dim, 256

    def prepare(self, sample) -> None:  # type: ignore[no-untyped-def]
        """Nothing to prepare (the Encoder protocol's hook for ONNX exports)."""

    def count_tokens(self, text: str) -> int:
        return approx_tokens(text)

    def encode(self, texts, progress=False):  # type: ignore[no-untyped-def]
        return hash_vectors(texts, self.dim)


def percentiles(ms: list[float]) -> tuple[float, float]:
    p = latency_percentiles(ms)
    return p["p50_ms"], p["p95_ms"]


def rss_mib() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def corpus_of(files: list[Path], root: Path, want_chunks: int, folder: Path) -> int:
    """Copy whole releases until they make about ``want_chunks`` chunks; returns the estimated count."""
    folder.mkdir(parents=True, exist_ok=True)
    total = 0
    for path in files:
        try:
            n = max(1, approx_tokens(path.read_text(encoding="utf-8", errors="replace")) // 128)
        except OSError:
            continue
        target = folder / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
        total += n
        if total >= want_chunks:
            break
    return total


def timed(fn, repeat: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for i in range(repeat):
        t = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - t) * 1000)
    return out


def bench_encoders(texts: list[str], report: dict) -> np.ndarray:
    print("\n### Encoders (same texts, batch 32)\n")
    print("| backend | query encode p50 ms | batch throughput texts/s | mean cosine to torch |")
    print("|---|---:|---:|---:|")
    reference = None
    for backend in ("torch", "onnx", "onnx-int8"):
        enc = make_encoder(backend=backend)
        enc.encode(texts[:8])
        t = time.perf_counter()
        vectors = enc.encode(texts)
        throughput = len(texts) / (time.perf_counter() - t)
        reference = vectors if reference is None else reference
        cosine = float((vectors * reference).sum(axis=1).mean())
        p50, _ = percentiles(timed(lambda i: enc.encode_query(QUESTIONS[i % len(QUESTIONS)]), 50))
        report.setdefault("encoders", {})[backend] = {"query_p50_ms": p50, "texts_per_s": throughput, "cosine": cosine}
        print(f"| {backend} | {p50:.1f} | {throughput:.1f} | {cosine:.4f} |")
    return vectors


def bench_build(files: list[Path], root: Path, n_chunks: int, work: Path, report: dict) -> dict[str, Path]:
    print(f"\n### Build: `build_index` vs raw encode of the same ~{n_chunks} chunk texts\n")
    print("| backend | raw encode chunks/s | build_index chunks/s | ratio | texts embedded by build (chunks + sentences) | "
          "build texts/s | unchanged re-index s | re-embedded |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    corpus = work / "build-corpus"
    corpus_of(files, root, n_chunks, corpus)
    indexes = {}
    for backend in ("torch", "onnx-int8"):
        enc = make_encoder(backend=backend)
        index = work / f"build-{backend}"
        t = time.perf_counter()
        built = build_index(corpus, index, enc, progress=False, skip_bad=True)
        build_s = time.perf_counter() - t
        loaded = load_index(index)
        texts = [c.embed_text for c in loaded.chunks]
        embedded_texts = len(texts) + int(loaded.manifest.sentence_count)
        t = time.perf_counter()
        enc.encode(texts)
        raw_s = time.perf_counter() - t
        t = time.perf_counter()
        again = build_index(corpus, index, enc, progress=False, skip_bad=True)
        reindex_s = time.perf_counter() - t
        row = {"raw_chunks_per_s": len(texts) / raw_s, "build_chunks_per_s": built.chunks / build_s,
               "texts_embedded": embedded_texts, "build_texts_per_s": embedded_texts / build_s,
               "reindex_s": reindex_s, "reembedded": again.embedded, "chunks": built.chunks}
        row["ratio"] = row["build_chunks_per_s"] / row["raw_chunks_per_s"]
        report.setdefault("build", {})[backend] = row
        indexes[backend] = index
        print(f"| {backend} | {row['raw_chunks_per_s']:.1f} | {row['build_chunks_per_s']:.1f} | {row['ratio']:.2f} | "
              f"{embedded_texts} | {row['build_texts_per_s']:.1f} | {reindex_s:.2f} | {again.embedded} |")
    report["build_corpus"] = str(corpus)
    return indexes


def bench_queries(files: list[Path], root: Path, sizes: list[int], work: Path, report: dict, real: dict[str, Path]) -> None:
    import faiss

    print("\n### Query latency (warm, in-process, one at a time) and memory\n")
    print("| chunks | vectors | backend | raw encode+FAISS p50/p95 ms | dense p50/p95 | BM25 p50/p95 | full pipeline p50/p95 | "
          "full / raw | RSS after load MiB | unchanged re-index s (re-embedded) |")
    print("|---:|---|---|---|---|---|---|---:|---:|---|")
    name = resolve_model(None)[0]
    plan = [(None, "real", backend, path) for backend, path in real.items()]
    for size in sizes:
        corpus = work / f"q-corpus-{size}"
        corpus_of(files, root, size, corpus)
        for backend in ("torch", "onnx-int8"):  # real text, synthetic vectors labelled for the query encoder's backend
            index = work / f"q-index-{size}-{backend}"
            build_index(corpus, index, SyntheticEncoder(name, backend), progress=False, skip_bad=True)
            plan.append((corpus, "synthetic", backend, index))
    for corpus, kind, backend, index in plan:
        before = rss_mib()
        session = QA(corpus or Path(report["build_corpus"]), index, auto_build=False, backend=backend)
        loaded = session.ensure_index()
        mem = rss_mib() - before
        enc = session.encoder
        vectors = loaded.vectors.reconstruct_n(0, loaded.vectors.ntotal)
        flat = faiss.IndexFlatIP(vectors.shape[1])
        flat.add(vectors)
        session.ask(QUESTIONS[0])
        q = lambda i: QUESTIONS[i % len(QUESTIONS)]  # noqa: E731
        raw = timed(lambda i: flat.search(enc.encode_query(q(i))[None, :], 10), 60)
        dense = timed(lambda i: session.ask(q(i), 10, method="dense"), 60)
        bm25 = timed(lambda i: session.ask(q(i), 10, method="bm25"), 60)
        full = timed(lambda i: session.ask(q(i), 10), 60)
        t = time.perf_counter()
        again = build_index(corpus or Path(report["build_corpus"]), index, SyntheticEncoder(name, backend) if kind == "synthetic" else enc,
                            progress=False, skip_bad=True) if kind == "synthetic" or backend == "onnx-int8" else None
        reindex = f"{time.perf_counter() - t:.2f} ({again.embedded})" if again else "-"
        n = len(loaded.chunks)
        row = {"chunks": n, "vectors": kind, "backend": backend, "raw": percentiles(raw), "dense": percentiles(dense),
               "bm25": percentiles(bm25), "full": percentiles(full), "rss_mib": mem, "reindex": reindex}
        row["full_over_raw"] = row["full"][0] / row["raw"][0]
        report.setdefault("queries", []).append(row)
        fmt = lambda p: f"{p[0]:.1f} / {p[1]:.1f}"  # noqa: E731
        print(f"| {n} | {kind} | {backend} | {fmt(row['raw'])} | {fmt(row['dense'])} | {fmt(row['bm25'])} | {fmt(row['full'])} | "
              f"{row['full_over_raw']:.2f} | {mem:.0f} | {reindex} |", flush=True)


def _first_answer_s(cmd: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - t


def bench_cold_start(work: Path, report: dict) -> None:
    print("\n### Cold start: process start to first answer (seeds index already built)\n")
    print("| what | seconds |")
    print("|---|---:|")
    env = child_environment(PYTHONPATH=str(ROOT), TRANSFORMERS_VERBOSITY="error")
    path = resolve_model(None)[1]
    bare = [sys.executable, "-c", f"from sentence_transformers import SentenceTransformer; SentenceTransformer({path!r}).encode(['x'])"]
    _first_answer_s(bare, env)  # warm the OS file cache, as for the others
    rows = {"bare `import sentence_transformers` + model load + one encode": min(_first_answer_s(bare, env) for _ in range(2))}
    for backend in ("torch", "onnx-int8"):
        index = work / f"cold-{backend}"
        build_index(ROOT / "seeds", index, make_encoder(backend=backend), progress=False)
        cmd = [sys.executable, "-m", "qa", "ask", QUESTIONS[0], "--index", str(index), "--backend", backend]
        _first_answer_s(cmd, env)  # warm the OS file cache once
        rows[f"`qa ask` ({backend})"] = min(_first_answer_s(cmd, env) for _ in range(2))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t = time.perf_counter()
    app = subprocess.Popen([sys.executable, "app.py", "--port", str(port), "--index", str(work / "cold-onnx-int8"),
                            "--backend", "onnx-int8"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        from gradio_client import Client

        for _ in range(600):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        Client(f"http://127.0.0.1:{port}/", verbose=False).predict(QUESTIONS[0], 5, [], api_name="/ask")
        rows["app (onnx-int8): start to first /ask answer"] = time.perf_counter() - t
    finally:
        app.terminate()
    for what, seconds in rows.items():
        print(f"| {what} | {seconds:.1f} |")
    report["cold_start_s"] = rows


def bench_ann(n: int, report: dict, centres: np.ndarray | None) -> None:
    import psutil

    print(f"\n### ANN at {n:,} synthetic vectors (real paragraph embeddings + noise), recall@10 against flat\n")
    print("| index | build s | p50 ms | p95 ms | recall@10 | memory MiB |")
    print("|---|---:|---:|---:|---:|---:|")
    rng = np.random.default_rng(0)
    if centres is None or len(centres) < 10:
        centres = rng.standard_normal((2000, 384)).astype(np.float32)
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    x = centres[rng.integers(0, len(centres), n)] + 0.025 * rng.standard_normal((n, 384)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = centres[rng.integers(0, len(centres), 200)] + 0.025 * rng.standard_normal((200, 384)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    truth = None
    for kind in ("flat", "ivf"):
        before = psutil.Process().memory_info().rss
        t = time.perf_counter()
        index = make_faiss(x, kind)
        build_s = time.perf_counter() - t
        mem = (psutil.Process().memory_info().rss - before) / 2**20
        lat = timed(lambda i: index.search(q[i:i + 1], 10), 200)
        _, found = index.search(q, 10)
        truth = found if truth is None else truth
        recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(truth, found)]))
        p50, p95 = percentiles(lat)
        report.setdefault("ann", {})[kind] = {"n": n, "build_s": build_s, "p50_ms": p50, "p95_ms": p95, "recall@10": recall, "mem_mib": mem}
        print(f"| {kind} | {build_s:.1f} | {p50:.2f} | {p95:.2f} | {recall:.3f} | {mem:.0f} |", flush=True)


def plots(report: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in report.get("queries", []) if r["backend"] == "onnx-int8"]
    if rows:
        fig, ax = plt.subplots(figsize=(7, 3.6))
        xs = [r["chunks"] for r in rows]
        for key, label in (("raw", "raw encode + FAISS flat"), ("dense", "dense"), ("bm25", "BM25"), ("full", "full pipeline")):
            ax.plot(xs, [r[key][0] for r in rows], marker="o", label=label)
        ax.set_xscale("log")
        ax.set_xlabel("chunks")
        ax.set_ylabel("p50 ms (onnx-int8 queries)")
        ax.legend(fontsize=8)
        ax.set_title("Query latency by index size")
        fig.tight_layout()
        fig.savefig(out / "latency.png", dpi=120)
        plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=ROOT / "seeds", help="folder of real releases (e.g. the Senate corpus)")
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--build-chunks", type=int, default=300)
    ap.add_argument("--ann", type=int, default=1_000_000)
    ap.add_argument("--skip", default="", help="comma-separated sections to skip: encoders,build,queries,cold,ann")
    ap.add_argument("--out", type=Path, default=ROOT / "eval" / "results" / "bench")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    files = corpus_files(args.corpus)
    work = Path(tempfile.mkdtemp(prefix="qa-bench-"))
    report: dict = {"corpus": str(args.corpus), "machine": f"{os.cpu_count()} cores"}
    centres = None
    try:
        if "encoders" not in skip:
            texts = []
            for path in files:
                try:
                    texts.extend(read_release(path, args.corpus).paragraphs)
                except CorpusError:
                    continue
                if len(texts) >= 256:
                    break
            centres = bench_encoders(texts[:256], report)
        real = bench_build(files, args.corpus, args.build_chunks, work, report) if "build" not in skip else {}
        if "queries" not in skip:
            bench_queries(files, args.corpus, [int(s) for s in args.sizes.split(",") if s], work, report, real)
        if "cold" not in skip:
            bench_cold_start(work, report)
        if "ann" not in skip and args.ann:
            bench_ann(args.ann, report, centres)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    previous = args.out / "bench.json"
    if skip and previous.exists():  # a partial run updates the sections it ran
        report = {**json.loads(previous.read_text()), **report}
    previous.write_text(json.dumps(report, indent=1, default=str))
    plots(report, args.out)
    print(f"\nwrote {args.out}/bench.json and plots")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
