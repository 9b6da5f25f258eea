"""Does a sentence-level dense signal help paragraph retrieval? (and BM25 k1/b)

    python benchmarks/tune_sentences.py SQUAD_PART_A.json

Embeds every sentence of every chunk once (title as context), scores a chunk
by its best sentence, and replays fusions of paragraph-dense, sentence-dense
and BM25 on a tuning half of the questions; reports the other half.
"""

from __future__ import annotations

import argparse
import itertools
import random
from pathlib import Path

import numpy as np
from tuning import minmax as mm  # benchmarks/tuning.py, beside this script
from tuning import replay, save_best, score

from qa import Settings, load_index
from qa.chunking import embed_text, sentence_spans
from qa.config import ChunkConfig
from qa.embedding import TorchEncoder
from qa.eval_data import load_squad
from qa.store.lexical import bm25_tokenize


def main() -> None:
    import bm25s

    ap = argparse.ArgumentParser()
    ap.add_argument("squad", type=Path)
    ap.add_argument("--out", type=Path, default=Path("eval/results/fusion"))
    args = ap.parse_args()
    cache = Settings.from_env().cache
    _, queries = load_squad(args.squad, cache=cache)
    random.Random(0).shuffle(queries)
    half = len(queries) // 2
    index = load_index(cache / "eval" / "squad-tune-title1")
    enc = TorchEncoder()
    chunks = index.chunks
    n = len(chunks)
    sources = np.array([c.source for c in chunks])
    rel = np.stack([sources == next(iter(q.relevant)) for q in queries])
    qv = enc.encode([q.question for q in queries])
    dense = qv @ index.vectors.reconstruct_n(0, n).T
    owners, sents = [], []
    for i, c in enumerate(chunks):
        for a, b in sentence_spans(c.text):
            owners.append(i)
            sents.append(embed_text(c.title, c.text[a:b], ChunkConfig()))
    vectors_file = cache / "eval" / "squad-sentences.npy"
    sv = np.load(vectors_file) if vectors_file.exists() else enc.encode(sents, progress=True)
    np.save(vectors_file, sv)
    owners = np.array(owners)
    ss = qv @ sv.T
    sent_max = np.full((len(queries), n), -1.0, dtype=np.float32)
    np.maximum.at(sent_max.T, owners, ss.T)
    print(f"{len(sents)} sentences for {n} chunks", flush=True)

    report = {}
    texts = [c.embed_text for c in chunks]
    tokens = bm25_tokenize(texts)
    qtok = bm25_tokenize([q.question for q in queries])
    for k1, b in [(1.5, 0.75), (1.2, 0.75), (0.9, 0.4), (1.2, 0.5)]:
        r = bm25s.BM25(k1=k1, b=b)
        r.index(tokens, show_progress=False)
        bm = np.stack([r.get_scores(t) if t else np.zeros(n) for t in qtok])
        report[f"bm25 k1={k1} b={b}"] = score(bm, rel, slice(half, None))["mrr@10"]
        for wp, ws in itertools.product((0.2, 0.3, 0.4), (0.0, 0.2, 0.3, 0.4)):
            if wp + ws >= 1:
                continue
            fused = wp * mm(dense) + ws * mm(sent_max) + (1 - wp - ws) * mm(bm)
            replay(f"k1={k1} b={b} para={wp} sent={ws} bm25={1 - wp - ws:.1f}", fused, rel, half, report)
    save_best(report, args.out / "sentences.json")


if __name__ == "__main__":
    main()
