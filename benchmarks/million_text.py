"""BM25 and the chunk store from 10K to 1M chunks: the text parts of `benchmarks/million.py`.

What is real and what is synthetic: the first rows are the real chunks of the index (text, source, date, in row
order); every row past them is a SYNTHETIC copy of real chunk i mod N with about a third of its words swapped for
words drawn from the real chunks (so the postings lists grow like a corpus's, not by repeating the same text), in a
synthetic release of eight chunks. The vocabulary is the real corpus's: a real million-chunk archive would have more
rare words, hence a somewhat larger BM25 vocabulary file. The queries are real: the text of --queries sentences of
the index, drawn at random.

Each part is written with the store's own code (``LexicalIndex.build``/``write``, ``ChunkStore.write``), then a fresh
process opens it with the store's reader and answers the queries one at a time:

- BM25: open seconds, resident memory after opening and after the queries, p50/p95 of one query's scores over
  every chunk (what the retriever asks);
- chunk store: open seconds, the first question's one-off read of every chunk's source and date (kept after),
  resident memory, and p50/p95 of reading the ten chunks a question shows (random rows).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.chunking import Chunk  # noqa: E402
from qa.store.chunks import ChunkStore  # noqa: E402
from qa.store.lexical import LexicalIndex  # noqa: E402

SWAP = 1 / 3  # share of a synthetic copy's words replaced by words of the corpus
PER_RELEASE = 8  # chunks per synthetic release

PROBE = r"""
import json, random, sys, time
t0 = time.perf_counter()
import numpy as np, psutil, bm25s, Stemmer  # imported before the clock starts, as by the store on opening
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from qa.config import ChunkConfig
from qa.store.chunks import ChunkStore
from qa.store.lexical import LexicalIndex
part, path, queries = sys.argv[2], Path(sys.argv[3]), json.loads(Path(sys.argv[4]).read_text())
rss = lambda: psutil.Process().memory_info().rss
base = rss()
t = time.perf_counter()
store = LexicalIndex.read(path) if part == "bm25" else ChunkStore.read(path, ChunkConfig())
n = store.documents if part == "bm25" else len(store)
opened, rss_open, first = time.perf_counter() - t, rss(), 0.0
if part == "chunks":
    t = time.perf_counter(); store.column("source"); store.column("date"); first = time.perf_counter() - t
rng, times = random.Random(0), []
for q in queries:
    t = time.perf_counter()
    if part == "bm25":
        store.scores(q)
    else:
        [store[rng.randrange(n)].text for _ in range(10)]
    times.append(time.perf_counter() - t)
print(json.dumps({"open_s": opened, "first_s": first, "base": base, "rss_open": rss_open, "rss_after": rss(),
    "times": times}))
"""


def synthetic_chunks(real: list[Chunk], n: int, seed: int = 0) -> list[Chunk]:
    """n chunks: the real ones first, then copies of real chunk i mod N with words swapped (SYNTHETIC)."""
    out = real[:n]
    rng = np.random.default_rng(seed)
    pool = np.array([w for c in real[:20_000] for w in c.text.split()], dtype=object)  # words as the corpus uses them
    for i in range(len(out), n):
        base = real[i % len(real)]
        words = np.array(base.text.split(), dtype=object)
        swap = rng.random(len(words)) < SWAP
        words[swap] = pool[rng.integers(0, len(pool), int(swap.sum()))]
        text = " ".join(words)
        release = f"synthetic/{i // PER_RELEASE:07d}.txt"
        out.append(replace(base, doc_id=release[10:17], source=release, text=text, embed_text=text, also_in=()))
    return out


def probe(part: str, path: Path, queries: list[str], work: Path) -> dict[str, Any]:
    (work / "queries.json").write_text(json.dumps(queries))
    run = subprocess.run(
        [sys.executable, "-c", PROBE, str(ROOT), part, str(path), str(work / "queries.json")],
        capture_output=True,
        text=True,
        check=True,
    )
    got = json.loads(run.stdout)
    times = np.array(got.pop("times")) * 1000
    return {**got, "p50_ms": float(np.percentile(times, 50)), "p95_ms": float(np.percentile(times, 95))}


def size_on_disk(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*")) if path.is_dir() else path.stat().st_size


def measure_parts(index: Any, sizes: list[int], parts: list[str], queries: int, where: Path | None) -> list[str]:
    """One table row per size and part; returns the table's lines (printed as they come)."""
    real = list(index.chunks)
    rng = np.random.default_rng(1)
    table = index.sentence_table
    picked = rng.choice(len(table), min(queries, len(table)), replace=False)
    texts = [_sentence_text(index, int(r)) for r in picked]
    lines = [
        f"Real: {len(real):,} chunks of the index and {len(texts)} of its sentences as queries. SYNTHETIC: every row past "
        f"{len(real):,} is a copy of a real chunk with {SWAP:.0%} of its words swapped for words of the corpus.",
        "",
        "| chunks | of them SYNTHETIC | part | build s | on disk MB | open s | first question's column read s | "
        "RSS after open MB | RSS after queries MB | p50 ms | p95 ms |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    print("\n".join(lines), flush=True)
    work = Path(tempfile.mkdtemp(prefix="million-text-", dir=where))
    try:
        for n in sizes:
            chunks = synthetic_chunks(real, n)
            for part in parts:
                path = work / (f"bm25-{n}" if part == "bm25" else f"chunks-{n}.sqlite")
                t = time.perf_counter()
                if part == "bm25":
                    from qa.store.lexical import BM25_PARAMS

                    LexicalIndex.build([c.text for c in chunks], BM25_PARAMS).write(path)
                else:
                    ChunkStore.write(path, chunks)
                build_s = time.perf_counter() - t
                got = probe(part, path, texts, work)
                first = f"{got['first_s']:.2f}" if part == "chunks" else "–"
                line = (
                    f"| {n:,} | {max(0, n - len(real)):,} | {part} | {build_s:.1f} | {size_on_disk(path) / 2**20:.0f} | "
                    f"{got['open_s']:.2f} | {first} | {got['rss_open'] / 2**20:.0f} | {got['rss_after'] / 2**20:.0f} | "
                    f"{got['p50_ms']:.2f} | {got['p95_ms']:.2f} |"
                )
                lines.append(line)
                print(line, flush=True)
                shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink()
            del chunks
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return lines


def _sentence_text(index: Any, row: int) -> str:
    chunk_row, start, end = (int(v) for v in index.sentence_table[row][:3])
    return index.chunks[chunk_row].text[start:end]
