"""The CLI contract (`release-qa ...`): called in-process through `cli.main(argv)`, as the console script calls it;
one test runs `python -m qa` in a subprocess to check the entry point itself."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from dataclasses import dataclass

import pytest
import tomllib
from conftest import SEEDS, run_cli

from qa import cli

QUESTION = "Who co-chaired the 2nd ROK-UNCMS Defense Ministerial Meeting?"


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def run(capsys):
    """`release-qa ARGS...` in this process: exit code and what it printed."""

    def call(*args: str) -> Run:
        capsys.readouterr()
        try:
            code = cli.main(list(args))
        except SystemExit as exc:  # argparse's usage errors and --help
            code = int(exc.code or 0)
        out = capsys.readouterr()
        return Run(code, out.out, out.err)

    return call


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A corpus and an index built by `release-qa index` (the first CLI call does the embedding)."""
    root = tmp_path_factory.mktemp("cli")
    corpus, index = root / "corpus", root / "index"
    shutil.copytree(SEEDS, corpus)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(["index", "--corpus", str(corpus), "--index", str(index)])
    assert code == 0
    assert "19 chunks from 2 files: 19 embedded, 0 reused, 0 removed" in out.getvalue()
    return corpus, index


def test_ask_json_contract(built, run):
    corpus, index = built
    out = run("ask", QUESTION, "--json", "--k", "3", "--corpus", str(corpus), "--index", str(index))
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert {"id", "question", "answer", "no_answer", "passages"} <= data.keys()
    assert data["no_answer"] is False and "co-chaired by Kim Yong Hyun" in data["answer"]
    top = data["passages"][0]
    assert {"rank", "score", "text", "title", "date", "source", "paragraph", "doc_id"} <= top.keys()
    assert "co-chaired by Kim Yong Hyun" in top["text"]
    assert (top["source"], top["paragraph"], top["rank"]) == ("003_739443eadc7a4b5c.txt", 1, 1)
    assert top["title"] == "ROK-UNCMS Defense Ministerial Meeting Statement Released"
    assert {"dense_rank", "bm25_rank"} <= top.keys() and set(data["timings"]) >= {"encode_ms", "bm25_ms"}
    assert len(data["passages"]) == 3


def test_second_index_embeds_nothing_and_human_output(built, run):
    corpus, index = built
    out = run("index", "--corpus", str(corpus), "--index", str(index))
    assert out.returncode == 0 and "0 embedded, 19 reused" in out.stdout
    out = run("ask", "Which country became the 18th UNC Member State?", "--corpus", str(corpus), "--index", str(index))
    assert out.returncode == 0
    assert "Answer:" in out.stdout and "paragraph 2" in out.stdout and "»" in out.stdout


def test_batch_keeps_order_and_reports_bad_lines(built, tmp_path, run):
    corpus, index = built
    batch = tmp_path / "batch.jsonl"
    batch.write_text(
        "\n".join(
            [
                json.dumps({"id": "a", "question": QUESTION}),
                "{not json",
                json.dumps(
                    {
                        "id": 7,
                        "question": "When was it first held?",
                        "history": ["What anniversary does the ROK-UN Joint Conference mark this year?"],
                    }
                ),
                json.dumps({"id": "empty", "question": "  "}),
                json.dumps({"id": "c", "question": "What is the recipe for kimchi?"}),
            ]
        )
        + "\n"
    )
    out = run("ask", "--batch", str(batch), "--k", "2", "--corpus", str(corpus), "--index", str(index))
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r.get("id") for r in rows] == ["a", None, 7, "empty", "c"]
    assert "co-chaired by Kim Yong Hyun" in rows[0]["passages"][0]["text"]
    assert "not valid JSON" in rows[1]["error"] and rows[1]["line"] == 2
    assert "in 2001" in rows[2]["passages"][0]["text"]
    assert "empty" in rows[3]["error"]
    assert rows[4]["no_answer"] is True and len(rows[4]["passages"]) == 2


@pytest.mark.parametrize(
    "args,message",
    [
        (["ask", ""], "the question is empty"),
        (["ask", "   "], "the question is empty"),
        (["ask", "x" * 10_000], "10000 characters"),
        (["ask", "ok", "--k", "0"], "--k must be from 1 to 50"),
        (["ask", "ok", "--k", "five"], "--k must be a whole number"),
        (["ask"], "the question is empty"),
        (["index", "--corpus", "/nonexistent/releases"], "does not exist"),
    ],
)
def test_bad_input_one_line_error_no_traceback(args, message, run):
    out = run(*args)
    assert out.returncode != 0
    assert message in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_bad_corpus_files_leave_index_untouched(built, tmp_path, run):
    corpus, index = built
    manifest = (index / "manifest.json").read_bytes()
    for name, data, message in [
        ("empty.txt", b"", "empty.txt is empty"),
        ("latin.txt", "R\xe9sum\xe9 of the minister".encode("latin-1"), "latin.txt is not UTF-8"),
    ]:
        bad = tmp_path / name
        shutil.copytree(corpus, bad)
        (bad / name).write_bytes(data)
        out = run("index", "--corpus", str(bad), "--index", str(index))
        assert out.returncode != 0 and message in out.stderr and "Traceback" not in out.stderr
        assert (index / "manifest.json").read_bytes() == manifest
    empty = tmp_path / "nothing"
    empty.mkdir()
    out = run("ask", QUESTION, "--corpus", str(empty), "--index", str(tmp_path / "new-index"))
    assert out.returncode != 0 and "has no release files" in out.stderr


@pytest.mark.slow
def test_module_entry_point_runs_as_a_process():
    """`python -m qa` is the same command line: a one-line error, no traceback, exit code 1 or 2."""
    out = run_cli("ask", "ok", "--k", "0")
    assert out.returncode == 2 and "--k must be from 1 to 50" in out.stderr and "Traceback" not in out.stderr
    out = run_cli("index", "--corpus", "/nonexistent/releases")
    assert out.returncode == 1 and out.stderr.startswith("error: ") and "--corpus" in out.stderr


def test_help_lists_every_subcommand(run):
    out = run("--help")
    assert out.returncode == 0
    for command in ("index", "ask", "parse", "export", "eval"):
        assert command in out.stdout


def test_console_script_is_this_main():
    from conftest import ROOT

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["scripts"] == {"release-qa": "qa.cli:main"}


def test_the_closest_level_is_printed_as_the_closest_passage_not_as_an_answer(capsys):
    from qa.answering.compose import CLOSEST_MESSAGE
    from qa.answering.types import Answer
    from qa.cli import _print_human

    _print_human(Answer("What is the budget?", None, False, [], message=CLOSEST_MESSAGE, level="closest"))
    out = capsys.readouterr().out
    assert out.startswith("Closest passage: The releases may not answer this") and "Answer:" not in out
