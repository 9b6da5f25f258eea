"""What makes a build fast without changing its vectors: batches by piece count, every text embedded once."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise

import numpy as np

from qa.build import build_index
from qa.chunking import sentence_table
from qa.embedding import token_batches
from qa.store.index import load_index


def test_token_batches_respect_the_text_and_piece_limits():
    lengths = np.array([3, 3, 4, 10, 10, 10, 50, 300])
    batches = token_batches(lengths, most=4, budget=40)
    assert batches[0][0] == 0 and batches[-1][1] == len(lengths)
    assert all(a[1] == b[0] for a, b in pairwise(batches)), "consecutive, nothing left out"
    for start, end in batches:
        assert end - start <= 4
        assert (end - start) * lengths[end - 1] <= 40 or end - start == 1  # a text past the budget goes alone
    assert (7, 8) in batches


def test_every_text_is_embedded_once_and_short_texts_first(fake_encoder, small_corpus, tmp_path):
    build_index(small_corpus, tmp_path / "index", fake_encoder, log=lambda m: None)
    index = load_index(tmp_path / "index")
    counts = Counter(fake_encoder.encoded)
    assert max(counts.values()) == 1, "a sentence that is its whole chunk shares the chunk's vector"
    sentences = sentence_table(list(index.chunks), index.manifest.chunk_config())
    assert set(fake_encoder.encoded) == {c.embed_text for c in index.chunks} | set(sentences.texts)
    assert [len(t) for t in fake_encoder.encoded] == sorted(len(t) for t in fake_encoder.encoded)
    whole = [s for s, (row, a, b) in enumerate(sentences.table.tolist()) if (a, b) == (0, len(index.chunks[row].text))]
    assert whole, "the seeds have one-sentence chunks"
    for s in whole:
        row = int(sentences.table[s, 0])
        assert np.array_equal(index.sentences.reconstruct(s), index.vectors.reconstruct(row))


def test_batching_by_pieces_keeps_the_vectors(encoder):
    """The same texts in one call (many batches, run side by side) or one at a time: padding and threads never
    change a vector beyond float noise."""
    words = ["the", "senator", "said", "the", "farm", "bill", "brings", "new", "funding", "for", "rural", "grants", "and", "jobs"]
    texts = [" ".join(words[: 1 + i % len(words)]) + f" ({i})" for i in range(60)] + ["Grants.", "x " * 300]
    together = encoder.encode(texts)
    alone = np.stack([encoder.encode([t])[0] for t in texts])
    assert np.abs(together - alone).max() < 1e-5
