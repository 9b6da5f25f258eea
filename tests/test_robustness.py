"""Bad input never crashes; one writer at a time; corruption detected and repaired; uploads stay inside the corpus."""

from __future__ import annotations

import itertools
import json
import shutil
import sqlite3
import time
from contextlib import closing

import pytest
from conftest import SEEDS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qa import QA, IndexStatus, QAError, build_index, index_status, load_index
from qa.chunking import approx_tokens, chunk_release, sentence_spans
from qa.cleaning import clean_text
from qa.corpus import MAX_FILE_BYTES, parse_release, read_release, safe_filename
from qa.errors import CorpusError, QueryError, Remedy, StoreError, cli_message

# Arbitrary Unicode, with the awkward parts over-represented: controls, RTL marks, NBSP, bullets, newlines.
AWKWARD = st.sampled_from(
    [*list("\n\n\r\t\xa0\u200b\u202e\u200f\x00\x07•o-*1.#>[]()<>&\"'"), "שלום", "مرحبا", "바로가기", "Menu", "###"]
)
TEXT = st.lists(st.one_of(st.text(max_size=40), AWKWARD), max_size=60).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXT)
def test_cleaner_and_chunker_never_crash(text):
    meta, body = clean_text(text)
    assert set(meta) == {"title", "date", "section", "place", "agency", "organisation"}
    assert all(p.strip() == p and p for p in body)
    try:
        release = parse_release(text, "fuzz.txt")
    except CorpusError as exc:
        assert "no release text left" in str(exc) or "is empty" in str(exc)
        return
    chunks = chunk_release(release)
    assert chunks and all(c.text for c in chunks)
    assert all(approx_tokens(c.text) <= 220 or len(c.text.split()) <= 1 for c in chunks)


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_sentence_spans_are_ordered_slices(text):
    spans = sentence_spans(text)
    assert all(0 <= a < b <= len(text) for a, b in spans)
    assert all(b1 <= a2 for (_, b1), (a2, _) in itertools.pairwise(spans))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_uploaded_names_cannot_leave_the_folder(name):
    safe = safe_filename(name)
    assert "/" not in safe and "\\" not in safe and not safe.startswith(".") and ".." not in safe.rsplit(".", 1)[0] + "."[:0]
    assert safe.rsplit(".", 1)[1].isalnum()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(question=TEXT, k=st.one_of(st.integers(-5, 60), st.text(max_size=3), st.none()))
def test_query_function_answers_or_explains(seed_qa, question, k):
    try:
        answer = seed_qa.ask(question, k)
    except QueryError as exc:
        assert str(exc)  # a sentence saying what to fix
        return
    if answer.level == "none" and not answer.passages:  # a question in a language the model does not read
        assert answer.message
        return
    assert 1 <= len(answer.passages) <= 50
    assert answer.no_answer or answer.answer or (answer.level == "closest" and answer.message)


@pytest.mark.parametrize("suffix", [".txt", ".md"])
def test_binary_file_is_a_clear_error(tmp_path, suffix):
    path = tmp_path / f"blob{suffix}"
    path.write_bytes(bytes(range(256)) * 50)
    with pytest.raises(CorpusError, match=f"blob{suffix} is not UTF-8"):
        read_release(path, tmp_path)


@pytest.mark.slow
def test_megabyte_paragraph_is_chunked_quickly(tmp_path):
    paragraph = " ".join(f"The ministry said item {i} of the plan will start soon." for i in range(100_000 // 10))
    assert len(paragraph) > 500_000
    text = "Very Long Release Headline For Testing\n\n" + paragraph * 2
    t = time.perf_counter()
    chunks = chunk_release(parse_release(text, "big.txt"))
    assert time.perf_counter() - t < 30
    assert len(chunks) > 100 and all(approx_tokens(c.text) <= 220 for c in chunks)


def test_oversized_file_is_refused_with_the_limit(tmp_path):
    big = tmp_path / "dump.txt"
    with open(big, "wb") as fh:
        fh.truncate(MAX_FILE_BYTES + 1)  # sparse: 20 MB without writing it
    with pytest.raises(CorpusError, match=r"dump.txt is 20.0 MB; releases over 20 MB"):
        read_release(big, tmp_path)


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "corpus"
    shutil.copytree(SEEDS, folder)
    return folder


def test_second_writer_waits_then_fails_clearly(corpus, tmp_path, encoder, capsys):
    from filelock import FileLock

    index = tmp_path / "index"
    index.mkdir()
    with FileLock(str(index / ".lock")), pytest.raises(StoreError, match="still locked by another `qa index`"):
        build_index(corpus, index, encoder, lock_wait=0.5)
    assert "waiting up to" in capsys.readouterr().err
    assert build_index(corpus, index, encoder).chunks == 19  # lock released: works


def test_chunk_store_length_mismatch_detected(corpus, tmp_path, encoder):
    index = tmp_path / "index"
    build_index(corpus, index, encoder)
    live = json.loads((index / "manifest.json").read_text())["live"]
    chunks = index / live["chunks"]
    whole = chunks.read_bytes()
    chunks.write_bytes(whole[:-512])
    with pytest.raises(StoreError, match=r"corrupt.*chunks.1.sqlite: it is .* bytes"):
        load_index(index)
    manifest = json.loads((index / "manifest.json").read_text())
    assert manifest["checksums"][live["chunks"]][0] != chunks.stat().st_size
    chunks.write_bytes(whole)
    with closing(sqlite3.connect(chunks)) as db, db:
        db.execute("delete from chunks where row = (select max(row) from chunks)")
    del manifest["checksums"]  # an index written before checksums: the row counts still catch it
    (index / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(StoreError, match="inconsistent: 19 vectors, 18 chunks"):
        load_index(index)


@pytest.mark.slow
def test_session_rebuilds_corrupt_index_and_sees_new_generations(corpus, tmp_path, encoder):
    index = tmp_path / "index"
    build_index(corpus, index, encoder)
    live = json.loads((index / "manifest.json").read_text())["live"]
    (index / live["vectors"]).write_bytes(b"garbage")
    reader = QA(corpus, index)
    reader.encoder = encoder
    assert "Germany" in reader.ask("Which country became the 18th UNC Member State?").passages[0].text  # rebuilt
    (corpus / "ferry.txt").write_text(
        "Ferry Terminal Opens On North Quay\n\nThe new ferry terminal on the north quay handles 4,000 passengers a day.\n"
    )
    writer = QA(corpus, index)
    writer.encoder = encoder
    writer.update()  # another process re-indexes...
    answer = reader.ask("How many passengers a day does the ferry terminal handle?")
    assert "4,000 passengers" in answer.passages[0].text  # ...and the running reader switches to it


def test_upload_names_stay_inside_corpus_and_each_bad_file_is_rejected_alone(corpus, tmp_path, encoder):
    session = QA(corpus, tmp_path / "index")
    session.encoder = encoder
    session.ensure_index()
    good = tmp_path / "upload.bin"
    good.write_text("Port Opens New Cruise Berth\n\nThe port opened a new cruise berth for ships up to 300 metres long.\n")
    [result] = session.add_releases([good], ["../../outside.txt"])
    assert (result.name, result.status, result.source) == ("outside.txt", "added", "outside.txt")
    assert (corpus / "outside.txt").exists() and not (tmp_path / "outside.txt").exists()
    bad, other = tmp_path / "bad.bin", tmp_path / "other.bin"
    bad.write_bytes(b"\xff\xff\x00bad")
    other.write_text("Port Dredging Starts In May\n\nDredging of the inner harbour starts in May and lasts six weeks.\n")
    before = sorted(p.name for p in corpus.iterdir())
    results = session.add_releases([good, bad, other], ["second.txt", "bad.txt", "dredging.txt"])
    assert [(r.name, r.status) for r in results] == [
        ("second.txt", "already indexed"),
        ("bad.txt", "rejected"),
        ("dredging.txt", "added"),
    ]
    assert results[0].source == "outside.txt" and "not UTF-8" in results[1].reason
    assert sorted(p.name for p in corpus.iterdir()) == sorted([*before, "dredging.txt"])  # no bad.txt, no second copy
    [exe] = session.add_releases([good], ["script.exe"])
    assert exe.status == "rejected" and "not a release file type" in exe.reason
    with pytest.raises(QAError, match="the limit is 20"):
        session.add_releases([good] * 21)


def test_skip_bad_indexes_the_rest_and_remembers_what_it_skipped(corpus, tmp_path, encoder):
    (corpus / "latin1.txt").write_bytes("R\xe9sum\xe9 of the statement by the minister".encode("latin-1"))
    index = tmp_path / "index"
    report = build_index(corpus, index, encoder, skip_bad=True)
    assert report.chunks == 19 and list(report.skipped) == ["latin1.txt"]
    problem = report.skipped["latin1.txt"]  # the error itself: each front end words it
    assert problem.remedy is Remedy.SAVE_AS_UTF8 and "`iconv -f latin1 -t utf-8 latin1.txt`" in cli_message(problem)
    assert report.to_dict(cli_message)["skipped"] == {"latin1.txt": cli_message(problem)}
    assert "1 unreadable files skipped" in report.summary()
    again = build_index(corpus, index, encoder, skip_bad=True)
    assert (again.embedded, again.written) == (0, False)  # an unchanged folder, bad file included, is a no-op
    assert index_status(corpus, index) == IndexStatus.FRESH  # so `qa ask` answers instead of rebuilding into the bad file
