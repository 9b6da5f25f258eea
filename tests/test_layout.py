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


def test_environment_is_touched_only_by_config_environment_cli_and_app():
    allowed = {"qa/config.py", "qa/environment.py", "qa/cli.py", "app.py"}
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


# ---------------------------------------------------------------- who owns what

PACKAGE = ROOT / "qa"
STORE = PACKAGE / "store"
STORE_LIBRARIES = ("faiss", "bm25s")
# Calls that create, replace or delete files; outside qa/store none of them may name the index folder.
WRITE_CALLS = {"write_atomic", "write_manifest", "save", "savez", "write_text", "write_bytes", "mkdir", "unlink", "rmtree"}
# How the index folder reaches code outside the store (a session's, job's or index's folder, the settings' index),
# and the names of what is inside it.
INDEX_FOLDER = re.compile(r"\b(?:job|session|index|target|qa)\.folder\b|\bsettings\.index\b")
INDEX_NAMES = re.compile(r"\b(?:MANIFEST|PARTIAL)\b|\blive\[")
INDEX_WORDS = re.compile(f"{INDEX_FOLDER.pattern}|{INDEX_NAMES.pattern}")


def _module_name(path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path):
    """(module imported from, name) of every ``from ... import name`` in a file, relative imports resolved."""
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            for alias in node.names:
                yield node, module, alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield node, alias.name, None


def _defined(path) -> set[str]:
    """Names a module defines at its top level (functions, classes, assignments), not the ones it imports."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def _offered(path) -> set[str]:
    """Names a package's ``__init__`` imports from its own modules (its public face); none for a plain module."""
    if path.name != "__init__.py":
        return set()
    package = _module_name(path)
    return {name for _, module, name in _imports(path) if name and module.startswith(f"{package}.")}


def _code_files():
    return [p for p in SOURCES if p.is_relative_to(PACKAGE)] + [ROOT / "app.py"]


def _outside_the_store():
    """(path, source text, every AST node) of each code file outside qa/store."""
    for path in _code_files():
        if not path.is_relative_to(STORE):
            text = path.read_text(encoding="utf-8")
            yield path, text, list(ast.walk(ast.parse(text)))


def test_only_the_store_imports_faiss_and_bm25s():
    offenders = [
        f"{p.relative_to(ROOT)}: {module or name}"
        for p in _code_files()
        if not p.is_relative_to(STORE)
        for _, module, name in _imports(p)
        if (module or "").split(".")[0] in STORE_LIBRARIES
    ]
    assert not offenders, offenders


def test_no_path_inside_the_index_folder_is_built_outside_the_store():
    """``folder / name`` into an index folder is the store's: nothing else reads, writes or names its files."""
    offenders = []
    for path, text, nodes in _outside_the_store():
        for node in nodes:
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
                left, right = (ast.get_source_segment(text, side) or "" for side in (node.left, node.right))
                if INDEX_FOLDER.search(left) or INDEX_NAMES.search(right):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {ast.get_source_segment(text, node)[:80]}")
    assert not offenders, offenders


def test_only_the_store_writes_into_the_index_folder():
    """Outside qa/store no write call names the index folder, and no module but the store writes the manifest."""
    offenders = []
    for path, text, nodes in _outside_the_store():
        for node in nodes:
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in WRITE_CALLS and INDEX_WORDS.search(ast.get_source_segment(text, node) or ""):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {ast.get_source_segment(text, node)[:80]}")
        for _, module, name in _imports(path):
            if module == "qa.store.manifest" and name == "write_manifest":
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not offenders, offenders


def test_no_module_re_exports_a_name_it_does_not_own():
    """``from qa.x import name`` must name something qa.x defines; a package may offer its own modules' names (``qa``
    lists the library's API, ``qa.loaders`` its loaders). ``__all__`` lists only a module's own names."""
    modules = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
    importers = _code_files() + sorted((ROOT / "tests").glob("*.py")) + sorted((ROOT / "benchmarks").glob("*.py"))
    foreign = []
    for path in importers:
        for _, module, name in _imports(path):
            if name is None or module not in modules or f"{module}.{name}" in modules:
                continue
            if name not in _defined(modules[module]) | _offered(modules[module]):
                foreign.append(f"{path.relative_to(ROOT)}: {name} from {module}")
    for module, path in modules.items():
        listed = next(
            (
                ast.literal_eval(node.value)
                for node in ast.parse(path.read_text(encoding="utf-8")).body
                if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
            ),
            [],
        )
        foreign += [f"{module}.__all__ lists {name}" for name in listed if name not in _defined(path) | _offered(path)]
    assert not foreign, foreign


def test_architecture_doc_names_every_module_and_only_real_ones():
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`(qa/[\w/]+\.py|app\.py)`", text))
    assert named and all((ROOT / path).is_file() for path in named), sorted(p for p in named if not (ROOT / p).is_file())
    modules = [p for p in sorted(PACKAGE.rglob("*.py")) if p.name not in ("__init__.py", "__main__.py")]
    missing = [
        str(p.relative_to(ROOT))
        for p in modules
        if not any(
            f"`{form}`" in text for form in (p.relative_to(ROOT).as_posix(), p.relative_to(PACKAGE).as_posix(), p.name, p.stem)
        )
    ]
    assert not missing, missing
