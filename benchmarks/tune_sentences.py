"""Does a sentence-level dense signal help paragraph retrieval? (and BM25 k1/b)

    python benchmarks/tune_sentences.py ../shared/eval/squad-dev-v1.1-part-a.json

Embeds every sentence of every chunk once (title as context), scores a chunk
by its best sentence, and replays fusions of paragraph-dense, sentence-dense
and BM25 on a tuning half of the questions; reports the other half.
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from qa.chunking import sentence_spans  # noqa: E402
from qa.embedding import Encoder  # noqa: E402
from qa.evaluation import CACHE, load_squad  # noqa: E402
from qa.store import bm25_tokenize, load_index  # noqa: E402
from tuning import minmax as mm, replay, save_best, score  # noqa: E402


def main() -> None:
    import bm25s

    ap = argparse.ArgumentParser()
    ap.add_argument("squad", type=Path)
    ap.add_argument("--out", type=Path, default=Path("eval/results/fusion"))
    args = ap.parse_args()
    _, queries = load_squad(args.squad)
    random.Random(0).shuffle(queries)
    half = len(queries) // 2
    index = load_index(CACHE / "squad-tune-title1")
    enc = Encoder()
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
            sents.append(f"{c.title}\n{c.text[a:b]}")
    cache = CACHE / "squad-sentences.npy"
    sv = np.load(cache) if cache.exists() else enc.encode(sents, progress=True)
    np.save(cache, sv)
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
