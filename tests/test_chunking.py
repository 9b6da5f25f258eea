"""Paragraph chunks: bullets, merged fragments, long paragraphs and breakless scrapes (real tokenizer)."""

from __future__ import annotations

import itertools

from conftest import FIXTURES, SEEDS

from qa.chunking import approx_tokens, chunk_release, sentence_spans
from qa.config import ChunkConfig
from qa.corpus import Release, parse_release, read_release

REAL = FIXTURES.parent / "real"


def test_one_chunk_per_paragraph_with_title_only_in_embedded_text():
    release = read_release(SEEDS / "003_739443eadc7a4b5c.txt", SEEDS)
    chunks = chunk_release(release)
    assert [c.paragraph for c in chunks] == list(range(1, 12))
    assert all(c.part == 0 for c in chunks)
    assert chunks[0].text == release.paragraphs[0]  # stored text is the paragraph as written
    assert chunks[0].embed_text == f"{release.title}\n{release.paragraphs[0]}"
    assert (
        ChunkConfig(title_in_embedding=False)
        and chunk_release(release, ChunkConfig(title_in_embedding=False))[0].embed_text == chunks[0].text
    )


def test_short_fragments_join_a_neighbour():
    release = read_release(FIXTURES / "syndicated.txt", FIXTURES)
    chunks = chunk_release(release)
    assert "* Passengers need no new card.\nThanks." in [c.text for c in chunks]  # "Thanks." joined the bullet before
    md = chunk_release(read_release(FIXTURES / "release.md", FIXTURES))
    assert md[1].text.startswith("Outlook\nChair Ama Mensah")  # a heading joins the paragraph it heads
    assert md[1].paragraph == 3  # cited as the paragraph that holds the text, not the heading's number


def test_unfinished_lines_lead_into_the_next_paragraph():
    chunks = chunk_release(read_release(REAL / "senate_Warner_10Aug2004Warner119.txt"))
    lead = chunks[0].text  # a line cut after "Rep." and its colon-ended rest are one passage
    assert lead.endswith("nomination of Rep.\nPorter Goss as Director of Central Intelligence:") and len(chunks) == 6
    text = (
        "Grants Announced Today\n\nThe state receives grants for three projects this year, the senator said today.\n\n"
        "The projects include:\n\n* A new runway at the county airport, paid by the aviation fund.\n\n"
        "* A harbor dredging study for the port authority of the city."
    )
    chunks = chunk_release(parse_release(text, "grants.txt"))
    assert [c.text.split("\n")[0] for c in chunks] == [
        "The state receives grants for three projects this year, the senator said today.",
        "The projects include:",
        "* A harbor dredging study for the port authority of the city.",
    ]


def test_bullets_are_their_own_chunks():
    release = read_release(SEEDS / "000_caf02737a2f89f36.txt", SEEDS)
    texts = [c.text for c in chunk_release(release)]
    assert sum(t.startswith("o ") for t in texts) == 3
    assert texts[-1].startswith("* The ROK-UN Joint Conference")


def test_long_paragraph_splits_at_sentences_within_the_model_window(encoder):
    sentences = [
        f"Sentence number {i} says that the ministry will fund project {i} in the region of Valley {i}." for i in range(40)
    ]
    release = parse_release("Big Funding Release Title\n\n" + " ".join(sentences), "long.txt")
    cfg = ChunkConfig()
    chunks = chunk_release(release, cfg, encoder.count_tokens)
    assert len(chunks) > 1
    assert all(encoder.count_tokens(c.embed_text) <= 256 for c in chunks)
    assert all(c.paragraph == 1 for c in chunks) and [c.part for c in chunks] == list(range(1, len(chunks) + 1))
    for c in chunks:  # every window is whole sentences of the original
        assert c.text.startswith("Sentence number") and c.text.endswith(".")
        assert c.text in release.paragraphs[0]


def test_breakless_scrape_becomes_overlapping_windows(encoder):
    release = read_release(FIXTURES / "breakless.txt", FIXTURES)
    chunks = chunk_release(release, ChunkConfig(), encoder.count_tokens)
    assert len(chunks) >= 4
    sizes = [encoder.count_tokens(c.text) for c in chunks]
    assert max(sizes) <= 220 and min(sizes) >= 64  # no window under half the target: the last one is full size too
    for a, b in itertools.pairwise(chunks):  # every neighbour shares whole sentences: a fact across a boundary is whole once
        shared_from = a.text.find(b.text[:30])
        assert shared_from > 0 and b.text.startswith(a.text[shared_from:])  # b opens with a's last sentences


def test_text_with_no_punctuation_uses_word_windows():
    words = " ".join(f"word{i}" for i in range(2000))
    release = parse_release("Unpunctuated Archive Release Title\n\n" + words, "raw.txt")
    chunks = chunk_release(release)
    assert len(chunks) > 5
    assert all(approx_tokens(c.text) <= 220 for c in chunks)
    assert chunks[1].text.split()[0] in chunks[0].text  # overlapping windows
    sizes = [len(c.text.split()) for c in chunks]
    assert chunks[-1].text.split()[-1] == "word1999" and sizes[-1] == sizes[0]  # the last window ends the text, full size
    assert all(f"word{i}" in " ".join(c.text for c in chunks).split() for i in range(2000))  # nothing dropped


def test_sentence_spans_respect_abbreviations():
    text = "Sen. Pat Rivers met U.S. officials on Sept. 10. They agreed. Dr. Kim left at 5 p.m. Then it rained."
    spans = [text[a:b] for a, b in sentence_spans(text)]
    assert spans == [
        "Sen. Pat Rivers met U.S. officials on Sept. 10.",
        "They agreed.",
        "Dr. Kim left at 5 p.m. Then it rained.",
    ] or spans == ["Sen. Pat Rivers met U.S. officials on Sept. 10.", "They agreed.", "Dr. Kim left at 5 p.m.", "Then it rained."]


def test_a_heading_joined_to_its_paragraph_is_a_sentence_of_its_own():
    release = Release(
        "d", "d.md", "Ferry Terminal Opens", "2024-05-02", None,
        ("The Harbour Authority opened a new ferry terminal on the north quay.", "Cost",
         "The terminal cost 85 million euros.", "The works were overseen by Sen.", "Pat Rivers of the state committee."),
    )  # fmt: skip
    sentences = [c.text[a:b] for c in chunk_release(release) for a, b in sentence_spans(c.text)]
    assert "Cost" in sentences and "The terminal cost 85 million euros." in sentences
    assert "The works were overseen by Sen.\nPat Rivers of the state committee." in sentences  # a title runs on
