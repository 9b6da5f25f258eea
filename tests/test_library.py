"""The library as the chat's Library tab sees it: releases merged by content, sources with counts, uploads, removal."""

from __future__ import annotations

import shutil

import pytest
from conftest import SEEDS

from qa import QA, QAError
from qa.library import (
    releases,
    remove_release,
    removed_releases,
    search_releases,
    source_counts,
    undated_releases,
    undo_removal,
)

FERRY = "Harbour Authority Opens North Quay Ferry Terminal\n\nPublished 2 May 2024\n\nThe Harbour Authority opened a new ferry terminal on the north quay that can handle 4,000 passengers a day.\n"


@pytest.fixture
def session(tmp_path, encoder):
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    s = QA(corpus, tmp_path / "index")
    s.encoder = encoder
    s.ensure_index()
    return s


def test_releases_sources_and_undated(session):
    items = releases(session)
    assert [r.title for r in items][0] == "ROK-UNCMS Defense Ministerial Meeting Statement Released"  # newest first
    assert items[0].date == "2024-09-10" and items[0].passages == 11 and items[0].language == "en"
    assert items[-1].date is None and [r.source for r in undated_releases(session)] == [items[-1].source]
    assert sum(r.passages for r in items) == len(session.ensure_index().chunks)
    assert ("National Defence", 1) in source_counts(session)
    assert [r.source for r in search_releases(items, "ministerial 2024")] == [items[0].source]


def test_upload_each_file_on_its_own_and_same_content_is_already_indexed(session, tmp_path):
    good, bad = tmp_path / "up1", tmp_path / "up2"
    good.write_text(FERRY, encoding="utf-8")
    bad.write_bytes(b"\xff\xfe\x00bad bytes here")
    results = session.add_releases([good, bad], ["ferry.txt", "bad.txt"])
    assert [(r.name, r.status) for r in results] == [("ferry.txt", "added"), ("bad.txt", "rejected")]
    assert results[0].passages == 1 and "not UTF-8" in results[1].reason
    assert (session.corpus / "ferry.txt").exists() and not (session.corpus / "bad.txt").exists()
    again = session.add_releases([good], ["another name.txt"])  # same bytes, any name
    assert again[0].status == "already indexed" and again[0].source == "ferry.txt"
    crlf = tmp_path / "up3"
    crlf.write_bytes(FERRY.replace("\n", "\r\n").encode())  # same text, other bytes
    assert session.add_releases([crlf], ["ferry-windows.txt"])[0].status == "already indexed"
    other = tmp_path / "up4"
    other.write_text("Port Opens New Cruise Berth\n\nThe port opened a cruise berth for ships up to 300 metres long.\n")
    clash = session.add_releases([other], ["ferry.txt"])[0]  # a different release under a name in use
    assert clash.status == "rejected" and "rename" in clash.reason
    assert sorted(p.name for p in session.corpus.iterdir()) == sorted([*(p.name for p in SEEDS.iterdir()), "ferry.txt"])


def test_remove_updates_the_index_and_keeps_the_file_recoverable(session, tmp_path):
    up = tmp_path / "up"
    up.write_text(FERRY, encoding="utf-8")
    session.add_releases([up], ["ferry.txt"])
    assert any(r.source == "ferry.txt" for r in releases(session))
    removed = remove_release(session, "ferry.txt")
    assert removed.title.startswith("Harbour Authority") and removed.files == ["ferry.txt"]
    assert not any(c.source == "ferry.txt" for c in session.ensure_index().chunks)
    trash = session.corpus.parent / ".corpus-removed"  # outside the corpus and the index folder
    assert not (session.corpus / "ferry.txt").exists() and list(trash.rglob("ferry.txt"))
    assert not list(session.folder.rglob("ferry.txt"))
    assert "ferry" not in session.ask("How many passengers a day can the ferry terminal handle?").passages[0].source
    with pytest.raises(QAError, match="not in the library"):
        remove_release(session, "ferry.txt")
    assert [r.id for r in removed_releases(session)] == [removed.id]
    back = undo_removal(session, removed)
    assert back.state == "restored" and (session.corpus / "ferry.txt").read_text(encoding="utf-8") == FERRY
    assert any(c.source == "ferry.txt" for c in session.ensure_index().chunks) and not removed_releases(session)
    with pytest.raises(QAError, match="restored already"):
        undo_removal(session, removed.id)


def test_concurrent_uploads_with_one_name_never_overwrite_each_other(session, tmp_path):
    """Four people upload "notice.txt" at once, each a different release: one is saved, the others are told it was not."""
    import threading

    texts = [
        f"Harbour Notice Number {n}\n\nThe harbour master announced that berth {n} closes for {n + 2} weeks of repairs.\n"
        for n in range(1, 5)
    ]
    barrier, results = threading.Barrier(4), {}

    def upload(n: int) -> None:
        path = tmp_path / f"upload-{n}"
        path.write_text(texts[n - 1], encoding="utf-8")
        barrier.wait()
        results[n] = session.add_releases([path], ["notice.txt"])[0]

    threads = [threading.Thread(target=upload, args=(n,)) for n in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert sorted(results) == [1, 2, 3, 4]
    added = [n for n, r in results.items() if r.status == "added"]
    assert len(added) == 1, {n: (r.status, r.reason) for n, r in results.items()}
    winner = added[0]
    assert results[winner].source == "notice.txt" and results[winner].passages == 1
    assert (session.corpus / "notice.txt").read_text(encoding="utf-8") == texts[winner - 1]  # the file that was reported
    indexed = [c.text for c in session.ensure_index().chunks if c.source == "notice.txt"]
    assert indexed == [texts[winner - 1].split("\n\n")[1].strip()]
    for n, r in results.items():
        if n != winner:  # told the truth: not saved, and why
            assert r.status == "rejected" and "already saved as notice.txt" in r.reason and "rename" in r.reason
    assert not [p.name for p in session.corpus.iterdir() if p.name.startswith("notice") and p.name != "notice.txt"]
