"""The documentation says what the code does: the CLI reference is the CLI's own help, the README lists every
setting, and no document points outside the repository or tells the project's history."""

from __future__ import annotations

import importlib.util
import re

from conftest import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cli_reference():
    return _script("cli_reference")


def test_the_quality_tables_are_those_of_the_last_eval_all_run():
    module = _script("eval_tables")
    for path in module.TARGETS:
        text = path.read_text(encoding="utf-8")
        assert module.BEGIN in text and text == module.rewritten(text, module.tables_for(path)), (
            f"{path.name}'s tables differ from eval/results/all: run `python scripts/eval_tables.py`"
        )


def test_cli_reference_is_the_help_of_today():
    module = _cli_reference()
    assert module.TARGET.read_text(encoding="utf-8") == module.reference(), (
        "docs/cli.md is out of date: run `python scripts/cli_reference.py`"
    )


def test_readme_lists_every_setting_and_stays_short():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    sources = [*sorted((ROOT / "qa").rglob("*.py")), ROOT / "app.py"]
    settings = {name for path in sources for name in re.findall(r"\bQA_[A-Z0-9_]+", path.read_text(encoding="utf-8"))}
    assert settings, "the package names no QA_ variables"
    table = {m for m in re.findall(r"^\| `(QA_[A-Z0-9_]+)`", readme, re.M)}
    assert settings <= table, f"settings missing from the README's table: {sorted(settings - table)}"
    assert readme.count("\n") <= 250


def test_no_document_points_outside_the_repository_or_tells_history():
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        name = path.relative_to(ROOT)
        assert "../shared" not in text and "/work/" not in text, name
        assert not re.search(r"\b[Ii]ssue \d+|second pass|[Bb]efore issue", text), name


def test_linked_documents_exist():
    for path in DOCS:
        for target in re.findall(r"\]\(((?:docs/)?[\w./-]+\.md)(?:#[\w-]+)?\)", path.read_text(encoding="utf-8")):
            assert (path.parent / target).exists() or (ROOT / target).exists(), f"{path.name} links to {target}"
