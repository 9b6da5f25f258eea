"""The findings of the adversarial run (issue 16), one test each: nothing of the user's is lost, nothing outside
the corpus is read, no traceback reaches a user. Python API and CLI here; the chat's API in test_api_robustness.py."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SEEDS, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qa import QA, build_index, load_index
from qa.answering.types import Answer
from qa.config import Settings
from qa.errors import QAError, QueryError, StoreError
from qa.query.validate import parse_day, validate_query
from qa.store.manifest import Manifest, read_manifest
from qa.web.feedback import FeedbackLog

ANSWERING = "003_739443eadc7a4b5c.txt"  # one real release holding the answer: every build here stays a few seconds
QUESTION = "Who co-chaired the 2nd ROK-UNCMS Defense Ministerial Meeting?"
SECRET = "TOP-SECRET-LINE root:x:0:0 this text lives outside the corpus and must never be indexed or shown"
NEW = (
    "Harbour Authority Opens New Ferry Terminal\n\nPublished 2 May 2024\n\n"
    "The Harbour Authority opened a new ferry terminal on the north quay that handles 4,000 passengers a day.\n"
)


@pytest.fixture(scope="module")
def template(tmp_path_factory, encoder):
    """A small corpus and its index, built once; each test works on its own copy."""
    root = tmp_path_factory.mktemp("template")
    corpus = root / "corpus"
    corpus.mkdir()
    for name in [ANSWERING]:
        shutil.copy(SEEDS / name, corpus / name)
    build_index(corpus, root / "index", encoder)
    return root


@pytest.fixture
def built(template, tmp_path):
    shutil.copytree(template / "corpus", tmp_path / "corpus")
    shutil.copytree(template / "index", tmp_path / "index")
    return tmp_path / "corpus", tmp_path / "index"


def _logs() -> tuple[list[str], callable]:
    lines: list[str] = []
    return lines, lines.append


def _session(corpus: Path, index: Path, encoder) -> QA:
    return QA(corpus, index, encoder=encoder)


# 1 ------------------------------------------------------------------ only the index's own files are deleted


def test_index_deletes_only_files_it_wrote(built, encoder):
    corpus, index = built
    mine = {
        "chunks.2023.csv": "a,b\n",
        "vectors.12.png": "png",
        "report.2024.pdf": "%PDF",
        "bm25.7/keep.txt": "x",
        "sentences.3.faiss.bak": "backup",
    }
    for name, text in mine.items():
        (index / name).parent.mkdir(exist_ok=True)
        (index / name).write_text(text)
    for i in range(3):  # three new generations: each deletes the one before its previous, by recorded name
        (corpus / f"new{i}.txt").write_text(NEW.replace("4,000", str(1000 + i)))
        assert build_index(corpus, index, encoder).written
    for name, text in mine.items():
        assert (index / name).read_text() == text
    manifest = read_manifest(index)
    assert manifest.generation == 4  # report.2024.pdf did not push it to 2025
    generations = sorted(p.name for p in index.glob("vectors.*.faiss"))
    assert generations == ["vectors.3.faiss", "vectors.4.faiss"]


@pytest.mark.slow
def test_folder_of_other_files_is_refused_and_left_alone(built, tmp_path, encoder):
    corpus, _ = built
    folder = tmp_path / "documents"
    folder.mkdir()
    (folder / "chunks.2023.csv").write_text("keep me")
    with pytest.raises(StoreError, match=r"holds other files .*chunks.2023.csv.* choose an empty or new folder"):
        build_index(corpus, folder, encoder)
    assert [p.name for p in folder.iterdir()] == ["chunks.2023.csv"]
    result = run_cli("index", "--corpus", str(corpus), "--index", str(folder))
    assert result.returncode == 1 and "choose an empty or new folder" in result.stderr
    assert "Traceback" not in result.stderr
    assert [p.name for p in folder.iterdir()] == ["chunks.2023.csv"]


# 2 ------------------------------------------------------------------ concurrent uploads of one name
# The one upload path (qa/upload.py) is tested in tests/test_library.py: four uploads of one name at once.


# 3 ------------------------------------------------------------------ links out of the corpus


def test_links_out_of_the_corpus_are_skipped_and_release_view_is_what_was_indexed(built, tmp_path, encoder):
    corpus, index = built
    outside = tmp_path / "outside.txt"
    outside.write_text(f"Passwords\n\n{SECRET}\n")
    os.symlink(outside, corpus / "passwd.txt")
    os.symlink(corpus / ANSWERING, corpus / "alias.txt")  # a link inside the corpus is an ordinary file
    logged, log = _logs()
    build_index(corpus, index, encoder, log=log)
    assert any("skipping 1 link(s) to files outside the corpus: passwd.txt" in line for line in logged)
    sources = {c.source for c in load_index(index).chunks}
    assert "passwd.txt" not in sources and not any(SECRET in c.text for c in load_index(index).chunks)
    session = _session(corpus, index, encoder)
    answer = session.ask(QUESTION)
    cited = answer.passages[0].source
    indexed_text = " ".join(session.release_paragraphs(cited))
    (corpus / cited).unlink()
    os.symlink(outside, corpus / cited)  # the indexed release replaced by a link to outside
    shown = session.release_paragraphs(cited)  # what the chat's "whole release" view shows (app.py calls it)
    assert shown and " ".join(shown) == indexed_text and not any("SECRET" in p for p in shown)


# 4 + 5 -------------------------------------------------------------- damaged index: found, reported, rebuilt


def _damage(index: Path, how: str) -> None:
    manifest = json.loads((index / "manifest.json").read_text())
    live = manifest["live"]
    if how == "truncate-vectors":
        path = index / live["vectors"]
        path.write_bytes(path.read_bytes()[:-100])
    elif how == "truncate-sentence-table":
        path = index / live["sentence_table"]
        path.write_bytes(path.read_bytes()[:-24])
    elif how == "truncate-chunks":
        path = index / live["chunks"]
        path.write_bytes(path.read_bytes()[:-512])
    elif how == "flip-byte-in-sentences":
        path = index / live["sentences"]
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    elif how == "delete-bm25-vocab":
        (index / live["bm25"] / "vocab.index.json").unlink()
    elif how in ("chunk_count", "dim"):
        if how == "dim":
            manifest["model"]["dim"] = 128
        else:
            manifest["chunk_count"] += 1
        (index / "manifest.json").write_text(json.dumps(manifest))
    elif how == "model-null":
        manifest["model"] = None
        (index / "manifest.json").write_text(json.dumps(manifest))
    elif how == "files-list":
        manifest["files"] = []
        (index / "manifest.json").write_text(json.dumps(manifest))
    elif how in ("num_docs", "shift-vocab"):
        manifest.pop("checksums")  # edits that keep sizes: found by the cross-checks, not only by checksums
        (index / "manifest.json").write_text(json.dumps(manifest))
        if how == "num_docs":
            path = index / live["bm25"] / "params.index.json"
            params = json.loads(path.read_text())
            params["num_docs"] += 5
            path.write_text(json.dumps(params))
        else:
            path = index / live["bm25"] / "vocab.index.json"
            vocab = json.loads(path.read_text())
            path.write_text(json.dumps({w: i + 1 for w, i in vocab.items()}))


DAMAGES = [
    "truncate-vectors",
    "truncate-sentence-table",
    "truncate-chunks",
    "flip-byte-in-sentences",
    "delete-bm25-vocab",
    "chunk_count",
    "dim",
    "model-null",
    "files-list",
    "num_docs",
    "shift-vocab",
]


@pytest.mark.slow
@pytest.mark.parametrize("how", DAMAGES)
def test_damaged_index_is_a_clear_error_and_qa_index_rebuilds(built, encoder, how):
    corpus, index = built
    _damage(index, how)
    with pytest.raises(StoreError, match="rebuild"):
        load_index(index, verify=True)
    logged, log = _logs()
    report = build_index(corpus, index, encoder, log=log)
    assert report.written and report.embedded == report.chunks  # not "0 embedded, N reused"
    assert any("cannot be used" in line and "rebuilding it" in line for line in logged)
    assert "Kim Yong Hyun" in _session(corpus, index, encoder).ask(QUESTION).answer


@pytest.mark.slow
def test_cli_index_and_ask_report_the_rebuild(built):
    corpus, index = built
    _damage(index, "truncate-vectors")
    result = run_cli("index", "--corpus", str(corpus), "--index", str(index))
    assert result.returncode == 0, result.stderr
    assert "cannot be used" in result.stderr and "rebuilding it" in result.stderr
    assert " 0 embedded" not in result.stdout
    _damage(index, "truncate-chunks")
    result = run_cli("ask", QUESTION, "--corpus", str(corpus), "--index", str(index), "--json")
    assert result.returncode == 0, result.stderr
    assert "rebuilding it" in result.stderr and "Kim Yong Hyun" in json.loads(result.stdout)["answer"]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


def _paths(data, prefix=()):
    yield prefix
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _paths(v, (*prefix, i))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_manifests_load_or_fail_cleanly(template, data):
    original = json.loads((template / "index" / "manifest.json").read_text())
    manifest = json.loads(json.dumps(original))
    paths = [p for p in _paths(manifest) if p]
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths))
        parent = manifest
        try:
            for key in path[:-1]:
                parent = parent[key]
            if data.draw(st.booleans()) and isinstance(parent, dict):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = data.draw(JSON)
        except (KeyError, IndexError, TypeError):
            continue
    try:
        Manifest.from_json(manifest, Path("manifest.json"))
    except StoreError as exc:
        assert "rebuild" in str(exc)


def test_mutated_manifest_files_never_crash_load_index(built):
    """The loader on disk: live names pointing elsewhere, huge numbers, deep nesting."""
    _, index = built
    original = (index / "manifest.json").read_text()
    base = json.loads(original)
    variants = [
        {**base, "live": {**base["live"], "chunks": "../../etc/passwd"}},
        {**base, "chunk_count": 10**400},
        {**base, "generation": -1},
        {**base, "checksums": {"vectors.1.faiss": [1, "x"]}},
        {**base, "chunking": {**base["chunking"], "max_tokens": "220"}},
    ]
    texts = [json.dumps(v) for v in variants] + ["[" * 100_000 + "]" * 100_000, '{"format_version": 3' + "9" * 5000 + "}"]
    for text in texts:
        (index / "manifest.json").write_text(text)
        with pytest.raises(StoreError, match=r"rebuild|not valid JSON|format version"):
            load_index(index)


# 6 ------------------------------------------------------------------ read-only folder, full disk, orphans


class _ReadOnly:
    """A folder nobody can create or delete files in, even root (the tests run as root here)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __enter__(self):
        if os.geteuid() == 0:
            subprocess.run(["chattr", "+i", str(self.folder)], check=True)
        else:
            self.folder.chmod(0o555)
        return self

    def __exit__(self, *exc):
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(self.folder)], check=True)
        else:
            self.folder.chmod(0o755)


@pytest.mark.slow
def test_read_only_index_still_answers_and_writer_fails_with_a_message(built, encoder, capsys):
    corpus, index = built
    (corpus / "ferry.txt").write_text(NEW)  # the index is stale: a reader would like to update it
    before = sorted(p.name for p in index.iterdir())
    with _ReadOnly(index):
        answer = _session(corpus, index, encoder).ask(QUESTION)
        assert "Kim Yong Hyun" in answer.answer
        assert "answering from the existing index" in capsys.readouterr().err
        with pytest.raises(StoreError, match=r"make the folder writable|make it writable"):
            build_index(corpus, index, encoder)
    assert sorted(p.name for p in index.iterdir()) == before
    result = run_cli("index", "--corpus", str(corpus), "--index", str(index / "manifest.json"))
    assert result.returncode == 1 and "is a file: choose a folder" in result.stderr and "Traceback" not in result.stderr


def test_full_disk_leaves_no_partial_generation(built, encoder):
    corpus, index = built
    (corpus / "ferry.txt").write_text(NEW)
    before = sorted(p.name for p in index.iterdir())
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))  # writes past 4 KB fail with EFBIG, as on a full disk
    try:
        with pytest.raises(StoreError, match=r"could not write the index .* free disk space"):
            build_index(corpus, index, encoder)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    # The half-written generation was removed; what was embedded stays in partial/ for the next build to resume.
    assert sorted(p.name for p in index.iterdir() if p.name != "partial") == before
    assert len(load_index(index, verify=True).chunks) > 0  # the previous one is intact


def test_orphan_temporary_manifests_and_half_generations_are_removed(built, encoder):
    corpus, index = built
    generation = read_manifest(index).generation
    (index / ".manifest.json.tmp-99999").write_text("{}")
    (index / f"vectors.{generation + 1}.faiss").write_bytes(b"half")  # a writer killed mid-way
    report = build_index(corpus, index, encoder)
    assert not report.written
    assert not (index / ".manifest.json.tmp-99999").exists() and not (index / f"vectors.{generation + 1}.faiss").exists()


# 7 ------------------------------------------------------------------ text that is not valid Unicode


@pytest.mark.slow
def test_lone_surrogates_are_refused_at_every_entry(built, encoder):
    corpus, index = built
    session = _session(corpus, index, encoder)
    with pytest.raises(QueryError, match="the question contains a character that is not valid Unicode"):
        session.ask("Who co-chaired \udcff?")
    with pytest.raises(QueryError, match="history item 1 contains a character that is not valid Unicode"):
        session.ask(QUESTION, history=["earlier \ud800"])
    with pytest.raises(QueryError, match="source contains"):
        session.ask(QUESTION, source="\udfff")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    result = subprocess.run(
        [sys.executable, "-m", "qa", "ask", b"Who co-chaired \xff?", "--corpus", str(corpus), "--index", str(index)],
        capture_output=True,
        env=env,
        timeout=120,
    )
    err = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 1 and "not valid Unicode" in err and "Traceback" not in err


# 8 ------------------------------------------------------------------ batches


@pytest.mark.slow
def test_batch_gives_every_bad_line_its_error_and_goes_on(built, tmp_path):
    corpus, index = built
    lines = [
        json.dumps({"id": 1, "question": QUESTION}),
        json.dumps({"id": 2, "question": QUESTION, "source": 5}),
        '{"id": 3, "question": "Who?", "k": ' + "9" * 5000 + "}",
        "[" * 50_000 + "]" * 50_000,
        json.dumps({"id": 5, "question": "Who \ud800?"}),
        json.dumps({"id": 6, "question": QUESTION, "k": 5.9}),
        json.dumps({"id": 7, "question": QUESTION, "history": 7}),
        json.dumps({"id": 8, "question": QUESTION, "since": "2024-13"}),
        "not json",
        json.dumps({"id": 10, "question": QUESTION, "k": 2}),
    ]
    batch = tmp_path / "batch.jsonl"
    batch.write_text("\n".join(lines) + "\n")
    result = run_cli("ask", "--batch", str(batch), "--corpus", str(corpus), "--index", str(index))
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o.get("line") for o in out if "error" in o] == [2, 3, 4, 5, 6, 7, 8, 9]
    errors = {o["line"]: o["error"] for o in out if "error" in o}
    assert "source must be text" in errors[2] and "too large" in errors[3] and "too large" in errors[4]
    assert "not valid Unicode" in errors[5] and "whole number" in errors[6] and "history must be a list" in errors[7]
    assert "months run from 01 to 12" in errors[8] and "not valid JSON" in errors[9]
    answers = [o for o in out if "error" not in o]
    assert [a["id"] for a in answers] == [1, 10] and len(answers[1]["passages"]) == 2


@pytest.mark.slow
def test_batch_path_that_is_not_a_regular_file_is_refused(tmp_path):
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    for path, _ in ((tmp_path, "folder"), (fifo, "fifo")):
        result = run_cli("ask", "--batch", str(path), timeout=60)
        assert result.returncode == 1 and "is not a regular file" in result.stderr and "Traceback" not in result.stderr


# 9 ------------------------------------------------------------------ one set of validators, no tracebacks


def test_python_api_checks_types(built, encoder):
    corpus, index = built
    session = _session(corpus, index, encoder)
    for kwargs, message in [
        ({"history": 5}, "history must be a list"),
        ({"history": "earlier"}, "history must be a list"),
        ({"history": [1]}, "history item 1 must be text"),
        ({"k": "abc"}, "k must be a whole number"),
        ({"k": 5.9}, "k must be a whole number"),
        ({"k": True}, "k must be a whole number"),
        ({"k": 10**5000}, "k must be from 1 to 50"),
        ({"source": 5}, "source must be text"),
        ({"since": 2024}, "since must be a date as text"),
        ({"until": "2024-00"}, "months run"),
    ]:
        with pytest.raises(QueryError, match=message):
            session.ask(QUESTION, **kwargs)
    assert len(session.ask(QUESTION, k=2.0).passages) == 2  # a whole float is a whole number, everywhere
    with pytest.raises(QueryError, match="the question must be text"):
        session.ask(42)  # type: ignore[arg-type]


def test_corpus_file_deleted_during_indexing_is_left_out(built, encoder):
    corpus, index = built
    (corpus / "zz-late.txt").write_text(NEW)
    (corpus / "aa-new.txt").write_text(NEW.replace("4,000", "5,000"))

    def delete_late(parsed):  # a file the scan has already listed is deleted while the files are read
        (corpus / "zz-late.txt").unlink(missing_ok=True)

    report = build_index(corpus, index, encoder, on_file=delete_late)
    assert "aa-new.txt" in report.files_new and "zz-late.txt" not in {c.source for c in load_index(index).chunks}


@settings(max_examples=300, deadline=None)
@given(
    question=JSON | st.text(),
    k=JSON | st.integers(min_value=-(10**50), max_value=10**50),
    history=JSON | st.lists(st.text(alphabet=st.characters(), max_size=5), max_size=3),
    since=JSON,
    until=JSON,
    source=JSON | st.text(alphabet=st.characters(categories=["Cs", "Ll"]), max_size=3),
)
def test_validators_accept_or_explain_any_json_value(question, k, history, since, until, source):
    try:
        query = validate_query(question, k, history, since, until, source)
    except QueryError as exc:
        assert str(exc) and len(str(exc)) < 400
        return
    assert isinstance(query.question, str) and 1 <= query.k <= 50 and all(isinstance(h, str) for h in query.history)
    query.question.encode("utf-8")


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    question=st.text(alphabet=st.characters(categories=["Cs", "Ll", "Zs", "Po"]), max_size=30),
    k=JSON,
    history=JSON | st.lists(st.text(alphabet=st.characters(categories=["Cs", "Ll"]), max_size=5), max_size=2),
)
def test_session_answers_or_explains_any_value(template, encoder, question, k, history):
    session = _SHARED.setdefault("qa", QA(template / "corpus", template / "index", encoder=encoder))
    try:
        answer = session.ask(question, k, history)
    except QueryError:
        return
    assert isinstance(answer, Answer)


_SHARED: dict[str, QA] = {}


# 10 ----------------------------------------------------------------- smaller


@pytest.mark.slow
def test_months_out_of_range_are_refused():
    for bad in ("2024-13", "2024-00", "2024-02-30"):
        with pytest.raises(QueryError):
            parse_day(bad, "since")
    assert parse_day("2024-02", "until", end=True) == "2024-02-29"
    result = run_cli("ask", "Who?", "--since", "2024-13", timeout=60)
    assert result.returncode == 1 and "since 2024-13 has month 13" in result.stderr


def test_history_is_repeatable_and_keeps_the_question():
    from qa.cli import build_parser

    args = build_parser().parse_args(["ask", "--history", "a b", "--history", "c", "What then?"])
    assert args.history == ["a b", "c"] and args.question == "What then?"


@pytest.mark.slow
def test_auth_needs_a_user_and_a_password(tmp_path):
    for raw in ("admin:", ":secret", "admin", " : "):
        with pytest.raises(QAError, match="QA_AUTH must be user:password"):
            Settings.from_env({"QA_AUTH": raw})
    assert Settings.from_env({"QA_AUTH": "admin:pw"}).auth == ("admin", "pw")
    env = {**os.environ, "QA_AUTH": "admin:", "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    result = subprocess.run(
        [sys.executable, "app.py", "--host", "0.0.0.0"],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1 and "QA_AUTH must be user:password" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_forged_like_values_never_reach_the_log(tmp_path):
    from qa.web.handlers import vote_of

    assert [vote_of(v) for v in (True, "Like", False, "Dislike", "<script>", 7, None)] == [
        "up",
        "up",
        "down",
        "down",
        "none",
        "none",
        "none",
    ]
    log = FeedbackLog(tmp_path)
    with pytest.raises(ValueError, match="vote must be 'up', 'down' or 'none'"):
        log.record({"question": "q", "passages": []}, "arbitrary")
    assert not log.path.exists()


@pytest.mark.slow
def test_chat_box_with_a_lone_surrogate_gets_a_message_and_an_encodable_box(seed_qa, tmp_path):
    """Issue 16 finding 7 in the chat's own handler: the question goes back into the box, so it must be valid UTF-8."""
    import json

    from qa.web.feedback import FeedbackLog
    from qa.web.handlers import ChatHandlers
    from qa.web.state import Loader

    loader = Loader(seed_qa)
    loader._ready.set()  # the session's index is loaded already
    names = ["box", "chatbot", "records", "saved", "ask_error", "panel"]
    handlers = ChatHandlers(seed_qa, loader, FeedbackLog(tmp_path), {n: n for n in names})
    out = handlers.respond("Who co-chaired the meeting\ud800?", [], 5, {}, None)
    box, error = out["box"], out["ask_error"]
    box.encode("utf-8")  # raises if a surrogate survived
    json.dumps(box, ensure_ascii=False).encode("utf-8")
    assert "records" not in out and "qa-error" in error and "not valid Unicode" in error, error
    assert "\ud800" not in box and box.startswith("Who co-chaired the meeting")
