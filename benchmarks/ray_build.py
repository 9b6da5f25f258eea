"""A build embedded on a local Ray cluster against the same build done locally: time, CPU, and whether the indexes agree.

    python benchmarks/ray_build.py --corpus SENATE_RAW_FOLDER [--releases 150] [--workers 2]

Copies every n-th of --releases files to a temporary folder; builds it locally (`build_index`), then again with
`RayEngine(workers=N)` (a local Ray: N encoder processes of one thread each). Prints wall time and CPU time --
for Ray, the driver's plus every Ray process's (raylet, GCS and the encoder workers, read before Ray shuts down) --
and how far apart the two indexes are: chunk store bytes, manifests (but for the build time and checksums) and the
largest difference of any chunk or sentence vector.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from qa.build import build_index
from qa.corpus import corpus_files
from qa.embedding import make_encoder
from qa.store.index import load_index


def _copy_subset(source: Path, target: Path, releases: int) -> None:
    files = corpus_files(source)
    for path in files[:: max(1, len(files) // releases)][:releases]:
        out = target / path.relative_to(source)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, out)


def _tree_cpu() -> float:
    import psutil

    total = 0.0
    for proc in psutil.Process().children(recursive=True):
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            continue
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--releases", type=int, default=150)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    from qa.distributed import RayEngine

    work = Path(tempfile.mkdtemp(prefix="ray-build-"))
    try:
        corpus = work / "corpus"
        _copy_subset(args.corpus, corpus, args.releases)
        encoder = make_encoder()
        encoder.encode(["warm up the model"])
        rows = []
        for name, engine in (("local", None), (f"Ray, {args.workers} workers", RayEngine(workers=args.workers))):
            if engine is not None:
                engine.connect()
            t, cpu = time.perf_counter(), time.process_time()
            report = build_index(corpus, work / name, encoder, skip_bad=True, progress=False, engine=engine, log=lambda m: None)
            wall, own = time.perf_counter() - t, time.process_time() - cpu
            rows.append((name, report.chunks, wall, own, _tree_cpu() if engine is not None else 0.0))
            if engine is not None:
                import ray

                ray.shutdown()
        a, b = load_index(work / "local"), load_index(work / rows[1][0])
        diff = max(
            float(np.abs(x.reconstruct_n(0, x.ntotal) - y.reconstruct_n(0, y.ntotal)).max())
            for x, y in ((a.vectors, b.vectors), (a.sentences, b.sentences))
        )
        same_store = (work / "local" / a.manifest.live["chunks"]).read_bytes() == (
            work / rows[1][0] / b.manifest.live["chunks"]
        ).read_bytes()
        ma, mb = (json.loads((work / n / "manifest.json").read_text()) for n in ("local", rows[1][0]))
        differ = sorted(k for k in ma.keys() | mb.keys() if ma.get(k) != mb.get(k))
        print(f"\n{len(corpus_files(corpus))} releases\n")
        print("| build | chunks | wall s | driver CPU s | Ray processes CPU s |")
        print("|---|---:|---:|---:|---:|")
        for name, chunks, wall, own, tree in rows:
            print(f"| {name} | {chunks} | {wall:.1f} | {own:.1f} | {tree:.1f} |")
        print(
            f"\nchunk store identical: {same_store}; manifest fields that differ: {', '.join(differ) or 'none'}; "
            f"largest vector difference: {diff:.2e}"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
