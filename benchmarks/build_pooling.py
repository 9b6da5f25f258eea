"""Build throughput per sentence pooling, against raw encode of the same chunk texts (issue 15: build >= 0.9x raw).

    python benchmarks/build_pooling.py --corpus SENATE_RAW [--releases 120]
        [--backend torch] [--pooling separate,late,late-title]

Copies the first --releases files of the corpus to a temporary folder, builds a fresh index with each pooling
(chunks + sentence vectors, BM25, FAISS, chunk store: the whole `build_index`), --rounds times interleaved, and
times raw `encoder.encode` of the same chunk texts right after each build (the ratio compares neighbours in
time, so a busy machine's drift shows in the raw column rather than in the ratio), and the same ratio in CPU time
(raw encode CPU seconds / build CPU seconds: what the wall-clock ratio is on an idle machine).
Prints a Markdown table; also how many sentences fell past the model's window in their paragraph's pass.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from qa import ChunkConfig, build_index, load_index
from qa.corpus import corpus_files
from qa.embedding import make_encoder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--releases", type=int, default=120)
    ap.add_argument("--backend", default="torch")
    ap.add_argument("--pooling", default="separate,late,late-title")
    ap.add_argument("--rounds", type=int, default=2, help="each pooling built this many times, interleaved")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="build-pooling-"))
    try:
        corpus = work / "corpus"
        corpus.mkdir()
        for path in corpus_files(args.corpus)[: args.releases]:
            shutil.copy(path, corpus / path.name)
        encoder = make_encoder(backend=args.backend)
        encoder.encode(["warm up the model", "and its threads"])
        print(f"\n{args.releases} releases, backend {args.backend}\n")
        print(
            "| pooling | chunks | sentences | past window | build s | build chunks/s | raw encode chunks/s | ratio | "
            "ratio in CPU time |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for round_, pooling in ((r, p) for r in range(args.rounds) for p in args.pooling.split(",")):
            logged: list[str] = []
            t, cpu = time.perf_counter(), time.process_time()
            report = build_index(
                corpus,
                work / f"{pooling}-{round_}",
                encoder,
                cfg=ChunkConfig(sentence_pooling=pooling),
                progress=False,
                skip_bad=True,
                log=logged.append,
            )
            build_s, build_cpu = time.perf_counter() - t, time.process_time() - cpu
            index = load_index(work / f"{pooling}-{round_}")
            texts = [c.embed_text for c in index.chunks]
            t, cpu = time.perf_counter(), time.process_time()
            encoder.encode(texts)
            raw, raw_cpu = len(texts) / (time.perf_counter() - t), time.process_time() - cpu
            past = next((int(m.split()[0]) for m in logged if "past the model's window" in m), 0)
            print(
                f"| {pooling} | {report.chunks} | {index.manifest.sentence_count} | {past} | {build_s:.1f} | "
                f"{report.chunks / build_s:.1f} | {raw:.1f} | {report.chunks / build_s / raw:.2f} | {raw_cpu / build_cpu:.2f} |",
                flush=True,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
