"""A million chunks on one machine: each part of the index (FAISS, BM25, the chunk store) from 10K to 1M chunks.

    python benchmarks/million.py --index INDEX_DIR [--sizes 10000,71423,1000000] [--kinds flat,ivf,ivf-mmap,hnsw,ivfpq]
        [--parts vectors,bm25,chunks] [--queries 200] [--out eval/results/million]

What is real and what is synthetic: the first rows are the real chunk vectors of --index (a real build), in order;
every row past them is a SYNTHETIC copy of a real row (row i copies real row i mod N) with Gaussian noise added
(--noise, the copy's expected cosine to its source is printed) and renormalised. The queries are real: the
sentence vectors of --queries sentences of the same index, drawn at random. Every table row says how many of its
vectors are synthetic.

For each size and index kind the index is written to a temporary folder, then a fresh Python process opens it
(`VectorIndex.read`, the store's own reader: mmap for kinds that support it) and answers the queries one at a time:
open seconds, resident memory after opening and after the queries, p50/p95 search latency, and recall@10 against
exact search (numpy over the same vectors). Prints a Markdown table per part; writes --out/million.md, .json and
million.png (memory and latency against size).

BM25 and the chunk store (``--parts bm25,chunks``, :mod:`million_text`) are measured the same way over chunk texts:
the real chunks of --index first, then SYNTHETIC copies of them with words swapped for words of the corpus.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.store.index import load_index  # noqa: E402
from qa.store.vectors import VectorIndex  # noqa: E402

K = 10
PROBE = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import numpy as np, psutil
sys.path.insert(0, sys.argv[1])
from qa.store.vectors import VectorIndex
imported = time.perf_counter()
index = VectorIndex.read(__import__("pathlib").Path(sys.argv[2]))
opened = time.perf_counter()
rss_open = psutil.Process().memory_info().rss
queries = np.load(sys.argv[3])
times, found = [], []
for q in queries:
    t = time.perf_counter()
    _, rows = index.search(q[None, :], int(sys.argv[4]))
    times.append(time.perf_counter() - t)
    found.append(rows[0].tolist())
print(json.dumps({"open_s": opened - imported, "rss_open": rss_open, "rss_after": psutil.Process().memory_info().rss,
    "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "times": times, "found": found}))
"""


def synthetic(real: np.ndarray, n: int, noise: float, seed: int = 0) -> np.ndarray:
    """n unit vectors: the real ones first, then noisy copies of them (SYNTHETIC), built in blocks."""
    out = np.empty((n, real.shape[1]), dtype=np.float32)
    take = min(n, len(real))
    out[:take] = real[:take]
    rng = np.random.default_rng(seed)
    for start in range(take, n, 65536):
        end = min(n, start + 65536)
        block = real[np.arange(start, end) % len(real)] + rng.normal(0, noise, (end - start, real.shape[1])).astype(np.float32)
        out[start:end] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def build(vectors: np.ndarray, kind: str) -> VectorIndex:
    """The store's own index kinds; "ivfpq" (product-quantised IVF, 48 bytes a vector) is measured here only."""
    if kind != "ivfpq":
        return VectorIndex.build(vectors, kind)
    import faiss

    n, dim = vectors.shape
    nlist = max(1, min(int(4 * np.sqrt(n)), n // 39 or 1))
    index = faiss.IndexIVFPQ(faiss.IndexFlatIP(dim), dim, nlist, 48, 8, faiss.METRIC_INNER_PRODUCT)
    index.train(vectors[np.random.default_rng(0).permutation(n)[: max(nlist * 64, 20_000)]])
    index.add(vectors)
    return VectorIndex(index)


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    best_s = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), k), dtype=np.int64)
    for start in range(0, len(vectors), 131072):
        scores = queries @ vectors[start : start + 131072].T
        top = np.argpartition(-scores, min(k, scores.shape[1] - 1), axis=1)[:, :k]
        s = np.take_along_axis(scores, top, axis=1)
        both_s, both_i = np.concatenate([best_s, s], 1), np.concatenate([best_i, top + start], 1)
        keep = np.argsort(-both_s, axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(both_s, keep, 1), np.take_along_axis(both_i, keep, 1)
    return best_i


def measure(path: Path, queries: np.ndarray, truth: np.ndarray, work: Path) -> dict[str, Any]:
    np.save(work / "queries.npy", queries)
    run = subprocess.run(
        [sys.executable, "-c", PROBE, str(ROOT), str(path), str(work / "queries.npy"), str(K)],
        capture_output=True,
        text=True,
        check=True,
    )
    got = json.loads(run.stdout)
    times = np.array(got.pop("times")) * 1000
    found = got.pop("found")
    recall = float(np.mean([len(set(f) & set(t.tolist())) / K for f, t in zip(found, truth, strict=True)]))
    return {**got, "p50_ms": float(np.percentile(times, 50)), "p95_ms": float(np.percentile(times, 95)), "recall": recall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", type=Path, required=True, help="a real index (its chunk vectors are the real rows)")
    ap.add_argument("--sizes", default="10000,71423,1000000")
    ap.add_argument("--kinds", default="flat,ivf,hnsw,ivfpq")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--noise", type=float, default=0.015, help="std of the noise added to each coordinate of a copy")
    ap.add_argument("--out", type=Path, default=ROOT / "eval" / "results" / "million")
    ap.add_argument("--work", type=Path, help="where the indexes are written (default: a temporary folder)")
    ap.add_argument("--parts", default="vectors", help="vectors, bm25, chunks (comma-separated)")
    args = ap.parse_args()
    index = load_index(args.index)
    parts = args.parts.split(",")
    text_lines = measure_text_parts(index, args, [p for p in parts if p != "vectors"]) if parts != ["vectors"] else []
    if "vectors" not in parts:
        write_lines(args.out, text_lines, "million-text")
        return
    real = index.vectors.reconstruct_n(0, index.vectors.ntotal)
    rng = np.random.default_rng(1)
    queries = index.sentences.reconstruct_batch(rng.choice(index.sentences.ntotal, args.queries, replace=False))
    sample = real[:1000]
    copies = synthetic(sample, 2 * len(sample), args.noise)[len(sample) :]
    copy_cos = float(np.mean(np.sum(sample * copies, axis=1)))
    work = Path(tempfile.mkdtemp(prefix="million-", dir=args.work))
    lines = [
        f"Real: {len(real):,} chunk vectors of {args.index.name} ({index.manifest.model}, {index.manifest.backend}) and "
        f"{args.queries} of its sentence vectors as queries. SYNTHETIC: every row past {len(real):,} is a noisy copy of a "
        f"real row (mean cosine to its source {copy_cos:.3f}).",
        "",
        "| chunks | of them SYNTHETIC | kind | build s | file MB | open s | RSS after open MB | RSS after queries MB | "
        "p50 ms | p95 ms | recall@10 |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    print("\n".join(lines), flush=True)
    rows = []
    try:
        for n in (int(s) for s in args.sizes.split(",")):
            vectors = synthetic(real, n, args.noise)
            truth = exact_top(vectors, queries, K)
            for kind in args.kinds.split(","):
                t = time.perf_counter()
                built = build(vectors, kind)
                build_s = time.perf_counter() - t
                path = work / f"{kind}-{n}.faiss"
                built.write(path)
                del built
                got = measure(path, queries, truth, work)
                row = {"chunks": n, "synthetic": max(0, n - len(real)), "kind": kind, "build_s": build_s}
                row |= {"file_mb": path.stat().st_size / 2**20, **got}
                rows.append(row)
                line = (
                    f"| {n:,} | {row['synthetic']:,} | {kind} | {build_s:.1f} | {row['file_mb']:.0f} | {got['open_s']:.2f} | "
                    f"{got['rss_open'] / 2**20:.0f} | {got['rss_after'] / 2**20:.0f} | {got['p50_ms']:.2f} | "
                    f"{got['p95_ms']:.2f} | {got['recall']:.3f} |"
                )
                lines.append(line)
                print(line, flush=True)
                path.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "million.md").write_text("\n".join([*lines, "", *text_lines]) + "\n")
    (args.out / "million.json").write_text(json.dumps(rows, indent=1))
    plot(rows, args.out / "million.png")


def measure_text_parts(index: Any, args: argparse.Namespace, parts: list[str]) -> list[str]:
    from million_text import measure_parts

    return measure_parts(index, [int(s) for s in args.sizes.split(",")], parts, args.queries, args.work)


def write_lines(out: Path, lines: list[str], name: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.md").write_text("\n".join(lines) + "\n")


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (memory, latency) = plt.subplots(1, 2, figsize=(11, 4))
    for kind in dict.fromkeys(r["kind"] for r in rows):
        mine = [r for r in rows if r["kind"] == kind]
        sizes = [r["chunks"] for r in mine]
        memory.plot(sizes, [r["rss_after"] / 2**20 for r in mine], marker="o", label=kind)
        latency.plot(sizes, [r["p95_ms"] for r in mine], marker="o", label=kind)
    for ax, title in ((memory, "resident memory after queries (MB)"), (latency, "search p95 (ms), one query at a time")):
        ax.set_xscale("log")
        ax.set_xlabel("chunk vectors (past the real ones: SYNTHETIC copies)")
        ax.set_title(title)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
