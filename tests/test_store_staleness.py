"""The cheap staleness check: `qa ask` trusts folders unchanged since the build; `qa index` and the chat's
start-up compare every file."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from qa import QA, IndexStatus, build_index, index_status
from qa.corpus import folder_signature
from qa.store.manifest import read_manifest

HOUR_AGO = time.time_ns() - 3600 * 10**9
EXTRA = (
    "Harbour Authority Opens New Ferry Terminal\n\nPublished 2 May 2024\n\n"
    "The Harbour Authority opened a new ferry terminal on the north quay that handles 4,000 passengers a day.\n"
)


def _age(folder: Path) -> None:
    """Folder times an hour old, as for a corpus nobody has touched lately (a fresh copy is 'too recent' to trust)."""
    for top, _, _ in os.walk(folder):
        os.utime(top, ns=(HOUR_AGO, HOUR_AGO))


@pytest.fixture
def nested(small_corpus: Path, fake_encoder, tmp_path: Path) -> tuple[Path, Path]:
    """The seeds, one of them in a sub-folder, indexed when the folders were an hour old."""
    (small_corpus / "2024").mkdir()
    first = sorted(small_corpus.glob("*.txt"))[0]
    shutil.move(first, small_corpus / "2024" / first.name)
    _age(small_corpus)
    index = tmp_path / "index"
    build_index(small_corpus, index, fake_encoder)
    return small_corpus, index


def _trusted(corpus: Path, index: Path, encoder) -> IndexStatus:
    return index_status(corpus, index, encoder.name, trust_folders=True)


def _full(corpus: Path, index: Path, encoder) -> IndexStatus:
    """What `qa index` and the chat's start-up (``qa.web.state.Loader``) ask: every file compared."""
    return index_status(corpus, index, encoder.name)


def test_unchanged_folders_are_trusted_without_listing_a_file(nested, fake_encoder, monkeypatch):
    corpus, index = nested
    recorded = read_manifest(index).folders
    assert set(recorded) == {".", "2024"} and all(recorded.values())
    assert recorded == folder_signature(corpus)

    def no_listing(folder: Path) -> list[Path]:
        raise AssertionError(f"{folder} listed file by file")

    monkeypatch.setattr("qa.plan.corpus_files", no_listing)
    assert _trusted(corpus, index, fake_encoder) == IndexStatus.FRESH
    session = QA(corpus, index, encoder=fake_encoder)  # what `qa ask` opens
    assert session.ensure_index().manifest.chunk_count > 0


@pytest.mark.parametrize("change", ["add", "remove", "rename", "replace", "add-in-subfolder"])
def test_a_file_added_removed_renamed_or_replaced_is_noticed_by_the_cheap_check(nested, fake_encoder, change):
    corpus, index = nested
    top = sorted(corpus.glob("*.txt"))[0]
    if change == "add":
        (corpus / "ferry.txt").write_text(EXTRA, encoding="utf-8")
    elif change == "remove":
        top.unlink()
    elif change == "rename":
        top.rename(corpus / "renamed.txt")
    elif change == "replace":  # how editors and the chat's upload save: a new file moved over the old one
        (corpus / "new.tmp").write_text(top.read_text(encoding="utf-8") + "\n\nA closing paragraph added later.\n")
        os.replace(corpus / "new.tmp", top)
    else:
        (corpus / "2024" / "ferry.txt").write_text(EXTRA, encoding="utf-8")
    assert _trusted(corpus, index, fake_encoder) == IndexStatus.STALE
    session = QA(corpus, index, encoder=fake_encoder)
    session.ensure_index()  # `qa ask` updates the index before answering
    assert _full(corpus, index, fake_encoder) == IndexStatus.FRESH


def test_a_file_rewritten_in_place_is_noticed_by_qa_index_and_the_chats_start_up(nested, fake_encoder):
    corpus, index = nested
    edited = corpus / "2024" / sorted(p.name for p in (corpus / "2024").iterdir())[0]
    with open(edited, "a", encoding="utf-8") as fh:  # in place: the folder's time stays
        fh.write("\n\nA closing paragraph with enough words to stand on its own.\n")
    assert _trusted(corpus, index, fake_encoder) == IndexStatus.FRESH  # the cheap check's known blind spot
    assert _full(corpus, index, fake_encoder) == IndexStatus.STALE  # the chat's start-up sees it
    report = build_index(corpus, index, fake_encoder)  # and `qa index` re-reads it
    assert report.files_changed == [edited.relative_to(corpus).as_posix()] and report.embedded == 1
    assert _trusted(corpus, index, fake_encoder) == _full(corpus, index, fake_encoder) == IndexStatus.FRESH


def test_a_folder_changed_just_before_the_build_is_not_trusted_until_indexed_again(small_corpus, fake_encoder, tmp_path):
    index = tmp_path / "index"
    build_index(small_corpus, index, fake_encoder)  # the copy was made a moment ago: within the clock's tick
    assert read_manifest(index).folders == {".": 0}  # never equal to a real time: the full check decides
    assert _trusted(small_corpus, index, fake_encoder) == IndexStatus.FRESH
    _age(small_corpus)
    again = build_index(small_corpus, index, fake_encoder)  # nothing changed: no new generation...
    assert (again.embedded, again.written) == (0, False)
    assert read_manifest(index).folders == folder_signature(small_corpus) != {".": 0}  # ...but the signature is recorded


def test_an_index_without_a_folder_signature_gets_the_full_check(nested, fake_encoder):
    corpus, index = nested
    manifest_path = index / "manifest.json"

    data = json.loads(manifest_path.read_text())
    del data["folders"]  # written before the signature existed
    manifest_path.write_text(json.dumps(data))
    with open(sorted(corpus.glob("*.txt"))[0], "a", encoding="utf-8") as fh:
        fh.write("\n\nA closing paragraph with enough words to stand on its own.\n")
    assert _trusted(corpus, index, fake_encoder) == IndexStatus.STALE
