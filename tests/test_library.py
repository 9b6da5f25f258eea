"""The library as the chat's Library tab sees it: releases merged by content, sources with counts, uploads, removal."""

from __future__ import annotations

import os
import shutil
import sys
import threading
from pathlib import Path

import pytest
from conftest import SEEDS

from qa import QA, QAError
from qa.corpus import file_sha256
from qa.library import (
    releases,
    remove_release,
    removed_releases,
    search_releases,
    source_counts,
    undated_releases,
    undo_removal,
)
from qa.trash import RemovalRecord, read_records, write_record

FERRY = (
    "Harbour Authority Opens North Quay Ferry Terminal\n\nPublished 2 May 2024\n\n"
    "The Harbour Authority opened a new ferry terminal on the north quay that can handle 4,000 passengers a day.\n"
)


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
    assert next(r.title for r in items) == "ROK-UNCMS Defense Ministerial Meeting Statement Released"  # newest first
    assert items[0].date == "2024-09-10" and items[0].passages == 11 and items[0].language == "en"
    assert items[-1].date is None and [r.source for r in undated_releases(session)] == [items[-1].source]
    assert sum(r.passages for r in items) == len(session.ensure_index().chunks)
    assert ("National Defence", 1) in source_counts(session)
    assert [r.source for r in search_releases(items, "ministerial 2024")] == [items[0].source]


def test_upload_each_file_on_its_own_and_same_content_is_already_indexed(session, tmp_path):
    good, bad = tmp_path / "up1", tmp_path / "up2"
    good.write_text(FERRY, encoding="utf-8")
    bad.write_bytes(b"\xff\xff\x00bad bytes here")  # not UTF-8, and no UTF-16 byte order mark
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


# ------------------------------------------------------------------ transactions

OTHER = "Harbour Notice On Berth Repairs\n\nThe harbour master said berth 4 closes for six weeks of repairs from 1 June 2024.\n"


def _with_ferry(session, tmp_path):
    up = tmp_path / "ferry-upload"
    up.write_text(FERRY, encoding="utf-8")
    assert session.add_releases([up], ["ferry.txt"])[0].status == "added"


def _copies(session, text: str) -> list[str]:
    """Every file holding exactly ``text``: in the corpus or in the trash."""
    trash = session.corpus.parent / ".corpus-removed"
    places = [*session.corpus.rglob("*.txt"), *trash.rglob("*.txt")]
    return sorted(str(p) for p in places if p.read_bytes() == text.encode())


def _short_lock_wait(session, monkeypatch, seconds: float = 1.0):
    original = QA.update
    monkeypatch.setattr(session, "update", lambda **kw: original(session, **{"lock_wait": seconds, **kw}))


def _index_lock(session):
    from filelock import FileLock

    lock = FileLock(str(session.folder / ".lock"))  # another writer (a long `qa index`) holds the index
    lock.acquire()
    return lock


@pytest.mark.slow
def test_removal_racing_a_same_name_upload_while_the_index_is_locked_loses_nothing(session, tmp_path, monkeypatch):
    import threading

    _with_ferry(session, tmp_path)
    _short_lock_wait(session, monkeypatch)
    other = tmp_path / "other-upload"
    other.write_text(OTHER, encoding="utf-8")
    lock = _index_lock(session)
    outcome: dict[str, object] = {}

    def remove() -> None:
        try:
            outcome["removal"] = remove_release(session, "ferry.txt")
        except QAError as exc:
            outcome["removal"] = str(exc)

    def upload() -> None:
        outcome["upload"] = session.add_releases([other], ["ferry.txt"])[0]

    threads = [threading.Thread(target=remove), threading.Thread(target=upload)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lock.release()
    assert "was not removed" in str(outcome["removal"]) and "[Errno" not in str(outcome["removal"])
    assert outcome["upload"].status == "rejected"  # the index is locked, or the name is taken: either way not saved
    assert _copies(session, FERRY) == [str(session.corpus / "ferry.txt")]  # the original, where it was, once
    assert not _copies(session, OTHER)
    assert any(c.source == "ferry.txt" for c in session.ensure_index().chunks)


REMOVAL_STEPS = ["record", "move", "update", "last record"]


@pytest.mark.slow
@pytest.mark.parametrize("step", REMOVAL_STEPS)
def test_removal_failing_at_any_step_keeps_every_file(session, tmp_path, monkeypatch, step):
    import qa.library as library

    _with_ferry(session, tmp_path)
    calls = {"write": 0}
    real_write, real_move = library.write_record, library.move_no_clobber

    def write(record):
        calls["write"] += 1
        if (step == "record" and calls["write"] == 1) or (step == "last record" and record.state == "removed"):
            raise OSError(28, "No space left on device")
        real_write(record)

    def move(src, dst):
        if step == "move" and src.parent == session.corpus:
            raise OSError(30, "Read-only file system")
        return real_move(src, dst)

    monkeypatch.setattr(library, "write_record", write)
    monkeypatch.setattr(library, "move_no_clobber", move)
    if step == "update":
        _short_lock_wait(session, monkeypatch)
        lock = _index_lock(session)
    with pytest.raises(QAError) as failure:
        remove_release(session, "ferry.txt")
    if step == "update":
        lock.release()
    assert "[Errno" not in str(failure.value) and "Traceback" not in str(failure.value)
    copies = _copies(session, FERRY)
    assert copies == [str(session.corpus / "ferry.txt")] or (step == "last record" and len(copies) == 1)
    monkeypatch.undo()
    if not (session.corpus / "ferry.txt").exists():  # removed, but its record could not say so: still undoable
        undo_removal(session, removed_releases(session)[0])
    assert (session.corpus / "ferry.txt").read_text(encoding="utf-8") == FERRY


def test_undo_never_writes_over_a_file_that_took_the_path(session, tmp_path):
    _with_ferry(session, tmp_path)
    removed = remove_release(session, "ferry.txt")
    (session.corpus / "ferry.txt").write_text(OTHER, encoding="utf-8")  # someone saved another release there
    with pytest.raises(QAError, match="now holds another file"):
        undo_removal(session, removed)
    assert (session.corpus / "ferry.txt").read_text(encoding="utf-8") == OTHER
    assert len(_copies(session, FERRY)) == 1 and removed_releases(session)[0].id == removed.id


def test_undo_keeps_aside_a_removed_copy_that_changed_in_the_trash(session, tmp_path):
    _with_ferry(session, tmp_path)
    removed = remove_release(session, "ferry.txt")
    assert removed.hashes == {"ferry.txt": file_sha256(FERRY.encode())}
    (Path(removed.folder) / "files" / "ferry.txt").write_text(OTHER, encoding="utf-8")  # changed while in the trash
    with pytest.raises(QAError, match=r"the removed copy of ferry\.txt changed since its removal"):
        undo_removal(session, removed)
    assert not (session.corpus / "ferry.txt").exists() and removed_releases(session)[0].kept == ["ferry.txt"]


UPLOAD_STEPS = ["save", "update", "update after the file was replaced"]


@pytest.mark.slow
@pytest.mark.parametrize("step", UPLOAD_STEPS)
def test_upload_failing_at_any_step_takes_back_only_what_it_wrote(session, tmp_path, monkeypatch, step):
    import os

    import qa.upload as upload

    up = tmp_path / "up"
    up.write_text(FERRY, encoding="utf-8")
    if step == "save":
        real_fdopen = os.fdopen

        def broken(fd, *args, **kwargs):
            handle = real_fdopen(fd, *args, **kwargs)
            handle.write = lambda data: (_ for _ in ()).throw(OSError(28, "No space left on device"))
            return handle

        monkeypatch.setattr(upload.os, "fdopen", broken)
        with pytest.raises(OSError):
            session.add_releases([up], ["ferry.txt"])
        assert not (session.corpus / "ferry.txt").exists()
        return
    original = QA.update

    def failing_update(**kwargs):
        if step == "update after the file was replaced":  # another writer puts its own file under the name
            (session.corpus / "ferry.txt").unlink()
            (session.corpus / "ferry.txt").write_text(OTHER, encoding="utf-8")
        return original(session, lock_wait=0.5, **kwargs)

    monkeypatch.setattr(session, "update", failing_update)
    lock = _index_lock(session)
    result = session.add_releases([up], ["ferry.txt"])[0]
    lock.release()
    assert result.status == "rejected" and "nothing was added" in result.reason and "[Errno" not in result.reason
    if step == "update":
        assert not (session.corpus / "ferry.txt").exists()
    else:  # not the file this upload wrote: left alone
        assert (session.corpus / "ferry.txt").read_text(encoding="utf-8") == OTHER


def test_an_upload_that_would_merge_into_a_release_says_so_and_is_not_saved(session, tmp_path):
    _with_ferry(session, tmp_path)
    copy = tmp_path / "copy"
    copy.write_text(
        FERRY.replace("Published 2 May 2024", "Posted by the wire service") + "\nShare this story\n", encoding="utf-8"
    )
    result = session.add_releases([copy], ["wire-ferry.txt"])[0]
    assert result.status == "already indexed" and result.source == "ferry.txt"
    assert not (session.corpus / "wire-ferry.txt").exists()


def test_a_near_copy_with_other_facts_is_kept_apart_and_never_takes_over(session, tmp_path):
    """Names, numbers and places changed in a copy: both indexed, each cited for itself; the first keeps its passages."""
    _with_ferry(session, tmp_path)
    fake = tmp_path / "fake"
    fake.write_text(FERRY.replace("North Quay", "South Pier").replace("north quay", "south pier").replace("4,000", "9,000"))
    result = session.add_releases([fake], ["a-first-name.txt"])[0]
    assert result.status == "added"
    chunks = session.ensure_index().chunks
    original = [c for c in chunks if c.source == "ferry.txt"]
    assert original and all(not c.also_in for c in original) and "4,000" in original[-1].text
    assert all(not c.also_in for c in chunks if c.source == "a-first-name.txt")


KILL_CHILD = """
import os, sys
import qa.library as library
import qa.upload as upload
from qa import QA
step, corpus, index, source = sys.argv[1:5]
session = QA(corpus, index, auto_build=False)
real_write, real_move, real_update, real_save = library.write_record, library.move_no_clobber, QA.update, upload._save

def die(at):
    if at == step:
        os._exit(9)  # as a kill: no clean-up runs

def write(record):
    die("before record" if record.state == "removing" else "before last record")
    real_write(record)

def move(src, dst):
    die("before move")
    moved = real_move(src, dst)
    die("after move")
    return moved

def update(**kw):
    die("before update")
    return real_update(session, **kw)

def save(result, data, corpus):
    written = real_save(result, data, corpus)
    die("after save")
    return written

library.write_record, library.move_no_clobber, upload._save = write, move, save
session.update = update
if step in ("after save", "before update") and len(sys.argv) > 5:
    session.add_releases([sys.argv[5]], [source])
else:
    library.remove_release(session, source)
"""


@pytest.mark.slow
@pytest.mark.parametrize("step", ["before record", "before move", "after move", "before update", "before last record"])
def test_removal_killed_at_any_step_loses_no_file(session, tmp_path, step):
    import subprocess
    import sys

    _with_ferry(session, tmp_path)
    args = [step, session.corpus, session.folder, "ferry.txt"]
    child = subprocess.run([sys.executable, "-c", KILL_CHILD, *map(str, args)], capture_output=True, text=True)
    assert child.returncode == 9, child.stderr[-2000:]
    assert len(_copies(session, FERRY)) == 1  # in the corpus or in the trash, once
    if not (session.corpus / "ferry.txt").exists():  # the removal got part way: listed, and undone whole
        undo_removal(session, removed_releases(session)[0])
    assert (session.corpus / "ferry.txt").read_text(encoding="utf-8") == FERRY


@pytest.mark.slow
@pytest.mark.parametrize("step", ["after save", "before update"])
def test_upload_killed_at_any_step_loses_no_file(session, tmp_path, step):
    import subprocess
    import sys

    up = tmp_path / "up"
    up.write_text(FERRY, encoding="utf-8")
    args = [step, session.corpus, session.folder, "ferry.txt", up]
    child = subprocess.run([sys.executable, "-c", KILL_CHILD, *map(str, args)], capture_output=True, text=True)
    assert child.returncode == 9, child.stderr[-2000:]
    assert _copies(session, FERRY) == [str(session.corpus / "ferry.txt")]  # saved whole; the next update indexes it
    session.update(skip_bad=True)
    assert any(c.source == "ferry.txt" for c in session.ensure_index().chunks)


def test_two_uploads_with_one_name_are_each_judged_on_their_own_content(session, tmp_path):
    good, bad = tmp_path / "up1", tmp_path / "up2"
    good.write_text(FERRY, encoding="utf-8")
    bad.write_bytes(b"\xff\xff\x00bad bytes here")  # not UTF-8
    results = session.add_releases([good, bad], ["ferry.txt", "ferry.txt"])
    assert [r.status for r in results] == ["added", "rejected"], [(r.status, r.reason) for r in results]
    assert results[0].title == "Harbour Authority Opens North Quay Ferry Terminal" and "not UTF-8" in results[1].reason
    assert (session.corpus / "ferry.txt").read_text(encoding="utf-8") == FERRY


class _Listed:
    """An index with nothing in it (the listing cache keys on the index object, not its content)."""

    chunks = ()


class _Listing:
    def __init__(self) -> None:
        self.index = _Listed()

    def ensure_index(self) -> _Listed:
        return self.index


def test_an_upload_the_index_update_cannot_read_is_rejected_and_taken_back(session, tmp_path, monkeypatch):
    """A saved upload the build then cannot open ("cannot read ferry.txt: …") is not reported added with 0 passages."""
    upload = tmp_path / "up1"
    upload.write_text(FERRY, encoding="utf-8")
    saved = session.corpus / "ferry.txt"
    read_bytes = Path.read_bytes

    def refusing(path: Path) -> bytes:
        if path == saved:
            raise PermissionError(13, "Permission denied")
        return read_bytes(path)

    monkeypatch.setattr(Path, "read_bytes", refusing)
    [result] = session.add_releases([upload], ["ferry.txt"])
    assert (result.status, result.reason) == ("rejected", "Cannot read ferry.txt: permission denied")
    assert not saved.exists()


def test_release_listings_are_safe_across_threads():
    """Sessions on several threads list their releases at once: the shared listing cache is never read mid-change."""
    problems: list[Exception] = []

    def list_many() -> None:
        alive: list[_Listing] = []  # sessions stay alive a while, so the cache holds hundreds of listings
        try:
            for _ in range(2000):
                alive.append(_Listing())
                releases(alive[-1])
                if len(alive) > 300:
                    del alive[:100]
        except Exception as exc:
            problems.append(exc)

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        threads = [threading.Thread(target=list_many) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(switch)
    assert not problems, problems[:1]


def test_a_removal_record_is_on_disk_before_the_next_step(tmp_path, monkeypatch):
    """The record and the folder that names it are flushed (a crash after the write keeps the record)."""
    flushed: list[str] = []
    fsync = os.fsync

    def recording(fd: int) -> None:
        flushed.append(os.readlink(f"/proc/self/fd/{fd}"))
        fsync(fd)

    monkeypatch.setattr(os, "fsync", recording)
    record = RemovalRecord(id="r1", title="Ferry", removed_at="2024-05-02T00:00:00Z", files=["ferry.txt"])
    record.folder = str(tmp_path / "trash" / "r1")
    write_record(record)
    folder = tmp_path / "trash" / "r1"
    assert str(folder) in flushed and any(Path(p).parent == folder for p in flushed), flushed  # the file, then its folder
    assert [r.id for r in read_records(tmp_path / "trash")] == ["r1"]
