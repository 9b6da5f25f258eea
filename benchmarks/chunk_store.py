"""How fast a chunk store opens: JSON lines parsed into chunks, SQLite (standard library), Arrow IPC memory-mapped.

    python benchmarks/chunk_store.py SENATE_RAW [--chunks 71000] [--files 1500] [--index]

Chunks the first --files releases of a corpus with the code `qa index` uses (no model: approximate token counts),
repeats them up to --chunks rows, writes each store format once and then, each in a fresh process, times opening it,
reading the columns a query needs (every chunk's source and date), reading ten chunks by row (the memory the process then
holds is the "memory" column), and walking every chunk. JSON lines and SQLite are read by the store's own code; Arrow (an IPC
file, memory-mapped) is the alternative measured. With --index it also writes a whole index generation of those chunks
with random unit vectors (synthetic: no model runs) and times `load_index` plus one search in a fresh process.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.chunking import approx_tokens, chunk_release  # noqa: E402
from qa.config import ChunkConfig  # noqa: E402
from qa.corpus import corpus_files, read_release  # noqa: E402
from qa.errors import CorpusError  # noqa: E402
from qa.store.chunks import ChunkStore  # noqa: E402

FIELDS = ("doc_id", "source", "title", "date", "section", "paragraph", "part", "text", "organisation", "language")

PROBE = r"""
import json, sys, time
sys.path.insert(0, sys.argv[3])
kind, path = sys.argv[1], sys.argv[2]


def rss_mb():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS")) / 1024


from pathlib import Path
import pyarrow as pa  # imported before the clock starts, like the store's own modules
from qa.config import ChunkConfig
from qa.store.chunks import ChunkStore

base = rss_mb()
t0 = time.perf_counter()
if kind == "arrow":
    table = pa.ipc.open_file(pa.memory_map(path)).read_all()
    opened = time.perf_counter()
    sources = table.column("source").to_pylist(); dates = table.column("date").to_pylist()
    columns = time.perf_counter()
    rows = [table.slice(i, 1).to_pylist()[0] for i in range(0, table.num_rows, table.num_rows // 10)][:10]
else:  # the store as the index opens it (JSON lines: an index of the previous format)
    store = ChunkStore.read(Path(path), ChunkConfig())
    n = len(store)
    opened = time.perf_counter()
    sources = store.column("source"); dates = store.column("date")
    columns = time.perf_counter()
    rows = [store[i].text for i in range(0, n, n // 10)][:10]
done = time.perf_counter()
queried = rss_mb() - base
every = None
if kind != "arrow":
    t = time.perf_counter(); every = sum(1 for _ in store); every = time.perf_counter() - t
print(json.dumps({"open_s": opened - t0, "columns_s": columns - opened, "rows_s": done - columns,
                  "all_s": every, "rss_mb": queried}))
"""


def sample_chunks(corpus: Path, files: int, target: int) -> list:
    chunks = []
    for path in corpus_files(corpus)[:files]:
        try:
            chunks += chunk_release(read_release(path, corpus), ChunkConfig(), approx_tokens)
        except CorpusError:
            continue
    out, copy = list(chunks), 1
    while len(out) < target:  # copies under other file names: the same text statistics at the size asked for
        out += [replace(c, source=f"copy{copy}/{c.source}") for c in chunks[: target - len(out)]]
        copy += 1
    return out


def write_stores(chunks: list, folder: Path) -> dict[str, Path]:
    import pyarrow as pa

    paths = {"jsonl": folder / "chunks.jsonl", "sqlite": folder / "chunks.sqlite", "arrow": folder / "chunks.arrow"}
    ChunkStore.write(paths["jsonl"], chunks)
    ChunkStore.write(paths["sqlite"], chunks)
    columns = {f: [getattr(c, f) for c in chunks] for f in FIELDS}
    columns["also_in"] = [list(c.also_in) for c in chunks]
    columns["key"] = [c.key for c in chunks]
    with pa.OSFile(str(paths["arrow"]), "wb") as sink, pa.ipc.new_file(sink, pa.table(columns).schema) as writer:
        writer.write_table(pa.table(columns))
    return paths


INDEX_PROBE = r"""
import json, sys, time
sys.path.insert(0, sys.argv[2])
from pathlib import Path
import numpy as np
import bm25s, faiss  # noqa: F401  (imported before the clock: their cost does not grow with the archive)
from qa.store.index import load_index


def rss_mb():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS")) / 1024


base = rss_mb()
t0 = time.perf_counter()
index = load_index(Path(sys.argv[1]))
opened = time.perf_counter()
q = np.random.default_rng(1).standard_normal(index.vectors.d).astype(np.float32)
q /= np.linalg.norm(q)
_, rows = index.vectors.search(q[None, :], 10)
texts = [index.chunks[int(r)].text for r in rows[0]]
release = index.release_scores("senator announced funding for the county")
done = time.perf_counter()
print(json.dumps({"open_s": opened - t0, "first_query_s": done - opened, "rss_mb": rss_mb() - base}))
"""


def index_probe(chunks: list, folder: Path, repeat: int) -> None:
    """A whole generation over ``chunks`` with random unit vectors, then load_index + one search, each in a new process."""
    import numpy as np

    from qa.chunking import sentence_table
    from qa.store.generation import Generation, write_generation

    rng = np.random.default_rng(0)

    def unit(n: int) -> np.ndarray:
        x = rng.standard_normal((n, 384)).astype(np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    sentences = sentence_table(chunks, ChunkConfig())
    gen = Generation(
        chunks=chunks,
        vectors=unit(len(chunks)),
        sentence_table=sentences.table,
        sentence_vectors=unit(len(sentences.table)),
        files={},
        skipped={},
        model="synthetic",
        backend="none",
        chunking=ChunkConfig(),
    )
    folder.mkdir()
    write_generation(folder, gen, None)
    command = [sys.executable, "-c", INDEX_PROBE, str(folder), str(ROOT)]
    runs = [json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout) for _ in "x" * repeat]
    shape = f"{len(chunks)} chunks, {len(sentences.table)} sentences"
    print(f"\nsynthetic index ({shape}, random vectors), load_index in a new process (imports before the clock):\n")
    print("| open s | first search + rows + release scores s | memory MB |\n|---:|---:|---:|")
    print(
        f"| {min(r['open_s'] for r in runs):.3f} | {min(r['first_query_s'] for r in runs):.3f} | "
        f"{max(r['rss_mb'] for r in runs):.0f} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--chunks", type=int, default=71_000)
    ap.add_argument("--files", type=int, default=1500)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--index", action="store_true", help="also time load_index over a synthetic index of the chunks")
    args = ap.parse_args()
    chunks = sample_chunks(args.corpus, args.files, args.chunks)
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_stores(chunks, Path(tmp))
        print(f"{len(chunks)} chunks\n")
        print("| store | size MB | open s | source+date columns s | 10 rows s | every chunk s | memory MB |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for kind, path in paths.items():
            command = [sys.executable, "-c", PROBE, kind, str(path), str(ROOT)]
            runs = [
                json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout) for _ in range(args.repeat)
            ]
            best = {k: min(r[k] for r in runs) for k in ("open_s", "columns_s", "rows_s")}
            every = "" if runs[0]["all_s"] is None else f"{min(r['all_s'] for r in runs):.2f}"
            print(
                f"| {kind} | {path.stat().st_size / 1e6:.1f} | {best['open_s']:.3f} | {best['columns_s']:.3f} | "
                f"{best['rows_s']:.4f} | {every} | {max(r['rss_mb'] for r in runs):.0f} |"
            )
        if args.index:
            index_probe(chunks, Path(tmp) / "index", args.repeat)


if __name__ == "__main__":
    main()
