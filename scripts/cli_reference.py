"""Write docs/cli.md from the command line's own `--help` texts (tests/test_docs.py fails when it drifts).

python scripts/cli_reference.py          # rewrite docs/cli.md
python scripts/cli_reference.py --check  # exit 1 if docs/cli.md differs from what --help says now
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TARGET = ROOT / "docs" / "cli.md"
WIDTH = 100


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """The parser and every subcommand's parser under it, depth first, in the order they were added."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            seen: set[int] = set()
            for sub in action.choices.values():
                if id(sub) not in seen:  # an alias maps to the same parser
                    seen.add(id(sub))
                    yield from _parsers(sub)


def reference() -> str:
    from qa.cli import build_parser
    from qa.config import Settings

    lines = [
        "# Command-line reference",
        "",
        "<!-- Generated from `release-qa --help` by `python scripts/cli_reference.py`; do not edit by hand. -->",
        "",
        "`release-qa` is installed with the package; in a checkout `python -m qa` is the same command.",
        "Where a folder option has no value, the folder comes from the environment (see the README's settings table).",
        "",
    ]
    for parser in _parsers(build_parser(Settings())):
        parser.formatter_class = functools.partial(argparse.HelpFormatter, width=WIDTH)  # type: ignore[assignment]
        lines += [f"## {parser.prog}", "", "```text", parser.format_help().rstrip(), "```", ""]
    return "\n".join(lines)


def main() -> int:
    text = reference()
    if "--check" in sys.argv[1:]:
        if not TARGET.exists() or TARGET.read_text(encoding="utf-8") != text:
            print(f"{TARGET.relative_to(ROOT)} is out of date: run `python scripts/cli_reference.py`", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
