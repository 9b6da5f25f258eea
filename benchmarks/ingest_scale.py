"""Ingest a large folder of real releases and report what happened to every file.

    python benchmarks/ingest_scale.py SENATE_RAW [--embed N] [--backend onnx-int8]

Runs the ingestion stages of `qa index` -- read, clean, chunk, near-duplicate
detection -- over every file (in the same code `qa index` uses) and reports
time, chunk and sentence counts, duplicate groups, and each skipped file with
its reason. With --embed N it also indexes the first N files for real and
reports embedding throughput, from which the time to embed everything here
follows.
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import tempfile
import time
from pathlib import Path

from qa import ChunkConfig, CorpusError, build_index
from qa.chunking import approx_tokens, chunk_release, sentence_table
from qa.corpus import corpus_files, minhash_signature, read_release, unsupported_files
from qa.plan import duplicate_groups
from qa.store.manifest import FileRecord

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--embed", type=int, default=0, help="also index the first N files for real")
    ap.add_argument("--backend", default="onnx-int8")
    ap.add_argument("--out", type=Path, default=ROOT / "eval" / "results" / "ingest")
    args = ap.parse_args()

    t0 = time.perf_counter()
    files = corpus_files(args.folder)
    skipped_types = unsupported_files(args.folder)
    records, skipped, chunks_total, sentences_total, dated, languages = {}, {}, 0, 0, 0, collections.Counter()
    cfg = ChunkConfig()
    for path in files:
        source = path.relative_to(args.folder).as_posix()
        try:
            release = read_release(path, args.folder)
        except CorpusError as exc:
            skipped[source] = str(exc)
            continue
        chunks = chunk_release(release, cfg, approx_tokens)
        chunks_total += len(chunks)
        sentences_total += len(sentence_table(chunks, cfg).keys)
        dated += release.date is not None
        languages[release.language or "?"] += 1
        records[source] = FileRecord("", 0, 0, doc_id=release.doc_id, minhash=minhash_signature(release), date=release.date)
    t_read = time.perf_counter() - t0
    t = time.perf_counter()
    duplicates = duplicate_groups(records)
    t_dedup = time.perf_counter() - t
    exact = sum(1 for s, c in duplicates.items() if records[s].doc_id == records[c].doc_id)
    summary = {
        "files": len(files),
        "ingested": len(records),
        "skipped": len(skipped),
        "unsupported_types": len(skipped_types),
        "chunks": chunks_total,
        "sentences": sentences_total,
        "dated": dated,
        "languages": dict(languages.most_common(5)),
        "duplicate_copies": len(duplicates),
        "exact_duplicates": exact,
        "near_duplicates": len(duplicates) - exact,
        "read_clean_chunk_s": round(t_read, 1),
        "dedup_s": round(t_dedup, 1),
    }
    print(
        "| files | ingested | skipped | chunks | sentences | dated | duplicate copies (exact / near) "
        "| read+clean+chunk s | dedup s |"
    )
    print("|---:|---:|---:|---:|---:|---:|---|---:|---:|")
    print(
        f"| {len(files)} | {len(records)} | {len(skipped)} | {chunks_total} | {sentences_total} | {dated} | "
        f"{len(duplicates)} ({exact} / {len(duplicates) - exact}) | {t_read:.1f} | {t_dedup:.1f} |"
    )
    for source, reason in list(skipped.items())[:20]:
        print(f"skipped {source}: {reason}")
    for copy, canonical in list(duplicates.items())[:5]:
        print(f"duplicate: {copy} -> indexed as {canonical}")

    if args.embed:
        work = Path(tempfile.mkdtemp(prefix="qa-ingest-"))
        sub = work / "corpus"
        for path in files[: args.embed]:
            target = sub / path.relative_to(args.folder)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
        t = time.perf_counter()
        report = build_index(sub, work / "index", backend=args.backend, progress=False)
        seconds = time.perf_counter() - t
        per_chunk = seconds / max(1, report.chunks)
        summary.update(
            embed_files=args.embed,
            embed_chunks=report.chunks,
            embed_seconds=round(seconds, 1),
            projected_full_hours=round(per_chunk * chunks_total / 3600, 2),
            backend=args.backend,
        )
        print(
            f"\nindexed {args.embed} files ({report.chunks} chunks + their sentences) with {args.backend} in {seconds:.0f}s: "
            f"{report.chunks / seconds:.1f} chunks/s; all {chunks_total} chunks would take about "
            f"{per_chunk * chunks_total / 3600:.1f} h on this machine"
        )
        shutil.rmtree(work, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ingest.json").write_text(
        json.dumps({"summary": summary, "skipped": skipped, "duplicates": duplicates}, indent=1)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
