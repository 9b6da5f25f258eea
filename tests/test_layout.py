"""Issue 11's limits, kept: a newcomer reads each module in one sitting and each function on one screen."""

from __future__ import annotations

import ast
import re

from conftest import ROOT

SOURCES = [*sorted((ROOT / "qa").rglob("*.py")), ROOT / "app.py"]


def test_no_module_over_500_lines_and_no_function_over_80():
    too_long = []
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > 500:  # lines as ruff format lays them out
            too_long.append(f"{path.relative_to(ROOT)}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 80:
                too_long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {node.end_lineno - node.lineno + 1} lines")
    assert not too_long, too_long


def test_environment_is_read_only_by_config_cli_and_app():
    allowed = {"qa/config.py", "qa/cli.py", "app.py"}
    readers = [
        str(p.relative_to(ROOT))
        for p in SOURCES + sorted((ROOT / "benchmarks").glob("*.py"))
        if "os.environ" in p.read_text(encoding="utf-8") and str(p.relative_to(ROOT)) not in allowed
    ]
    assert not readers, readers


def test_no_private_name_is_imported_across_modules():
    pattern = re.compile(r"^\s*from (?:\.|qa)[\w.]* import ([^\n(]+|\([^)]*\))", re.M)
    private = [
        (str(p.relative_to(ROOT)), name.strip())
        for p in SOURCES + sorted((ROOT / "benchmarks").glob("*.py"))
        for group in pattern.findall(p.read_text(encoding="utf-8"))
        for name in group.strip("()").replace("\n", " ").split(",")
        if name.strip().startswith("_")
    ]
    assert not private, private
