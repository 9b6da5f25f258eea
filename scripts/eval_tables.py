"""Put the tables of the last `release-qa eval all` run (its results under eval/results/all/) into
docs/evaluation.md (every method) and README.md (release-qa beside the best peer of each set), between the
markers that say so (tests/test_docs.py fails when they drift).

python scripts/eval_tables.py          # rewrite the tables from eval/results/all/*/results.json
python scripts/eval_tables.py --check  # exit 1 if a document's tables differ from the results
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "eval" / "results" / "all"
README, EVALUATION = ROOT / "README.md", ROOT / "docs" / "evaluation.md"
TARGETS = (README, EVALUATION)
COMMAND = (
    "release-qa eval all EVAL_DIR --seeds SEEDS --senate-corpus SENATE --held-out FOLDS --out eval/results/all"
    "   # FOLDS: python -m qa train ... --folds-out FOLDS (docs/training.md)"
)
BEGIN = "<!-- BEGIN eval all: generated from eval/results/all by `python scripts/eval_tables.py`; do not edit by hand -->"
END = "<!-- END eval all -->"
ORDER = ("seed-paraphrase", "senate-dev", "archive-dev", "squad-part-a")  # the shared sets, as `eval all` runs them
OURS = "release-qa (hybrid + follow-ups)"
COLUMNS = (("sentence_right", "answer sentence right"), ("release_first", "right release first"), ("hit@1", "passage hit@1"))


def _results() -> list[dict[str, Any]]:
    return [json.loads((RESULTS / name / "results.json").read_text(encoding="utf-8")) for name in ORDER]


def _title(results: dict[str, Any]) -> str:
    return f"{results['dataset']} ({results['queries']:,} questions over {results['chunks']:,} passages)"


def full_tables() -> str:
    """Every method of every set, as `eval all` prints them."""
    from qa.evaluation import METHODS, summary_table

    rows = [(_title(r), r.get("note", ""), r["methods"]) for r in _results()]
    names = {name: name for name in METHODS.values()}  # results.json keys the methods by their report names
    return f"```bash\n{COMMAND}\n```\n\n{summary_table(rows, names)}"


def short_tables() -> str:
    """Per set, release-qa beside the peer with the most answer sentences right (then passage hit@1)."""
    out = [f"```bash\n{COMMAND}\n```"]
    for results in _results():
        methods = results["methods"]
        peer = max((m for m in methods if m != OURS), key=lambda m: (methods[m]["sentence_right"], methods[m]["hit@1"]))
        lines = [f"**{_title(results)}**", "", "| | " + " | ".join(n for _, n in COLUMNS) + " |", "|---|" + "---:|" * 3]
        for name, label in ((OURS, "release-qa, held out"), (peer, f"best peer: {peer}")):
            lines.append(f"| {label} | " + " | ".join(f"{methods[name][key]:.3f}" for key, _ in COLUMNS) + " |")
        out.append("\n".join(lines))
    return "\n\n".join(out) + "\n"


def rewritten(text: str, tables: str) -> str:
    block = f"{BEGIN}\n\n{tables}\n{END}"
    return re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda _: block, text, flags=re.DOTALL)


def tables_for(path: Path) -> str:
    return short_tables() if path == README else full_tables()


def main() -> int:
    stale = []
    for path in TARGETS:
        text = path.read_text(encoding="utf-8")
        if BEGIN not in text:
            print(f"{path.relative_to(ROOT)} has no eval-all markers", file=sys.stderr)
            return 1
        new = rewritten(text, tables_for(path))
        if new != text:
            stale.append(path)
            if "--check" not in sys.argv:
                path.write_text(new, encoding="utf-8")
    if "--check" in sys.argv and stale:
        print("out of date: " + ", ".join(str(p.relative_to(ROOT)) for p in stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
