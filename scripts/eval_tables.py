"""Put the tables of the last `release-qa eval all` run (its results under eval/results/all/) into README.md and
docs/evaluation.md, between the markers that say so (tests/test_docs.py fails when they drift).

python scripts/eval_tables.py          # rewrite the tables from eval/results/all/*/results.json
python scripts/eval_tables.py --check  # exit 1 if a document's tables differ from the results
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "eval" / "results" / "all"
TARGETS = (ROOT / "README.md", ROOT / "docs" / "evaluation.md")
COMMAND = (
    "release-qa eval all EVAL_DIR --seeds SEEDS --senate-corpus SENATE --held-out FOLDS --out eval/results/all"
    "   # FOLDS: python -m qa train ... --folds-out FOLDS (docs/training.md)"
)
BEGIN = "<!-- BEGIN eval all: generated from eval/results/all by `python scripts/eval_tables.py`; do not edit by hand -->"
END = "<!-- END eval all -->"
ORDER = ("seed-paraphrase", "senate-dev", "archive-dev", "squad-part-a")  # the shared sets, as `eval all` runs them


def tables() -> str:
    from qa.evaluation import METHODS, summary_table

    rows = []
    for name in ORDER:
        results = json.loads((RESULTS / name / "results.json").read_text(encoding="utf-8"))
        title = f"{results['dataset']} ({results['queries']:,} questions over {results['chunks']:,} passages)"
        rows.append((title, results.get("note", ""), results["methods"]))
    names = {name: name for name in METHODS.values()}  # results.json keys the methods by their report names
    return f"```bash\n{COMMAND}\n```\n\n{summary_table(rows, names)}"


def rewritten(text: str) -> str:
    block = f"{BEGIN}\n\n{tables()}\n{END}"
    return re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda _: block, text, flags=re.DOTALL)


def main() -> int:
    stale = []
    for path in TARGETS:
        text = path.read_text(encoding="utf-8")
        if BEGIN not in text:
            print(f"{path.relative_to(ROOT)} has no eval-all markers", file=sys.stderr)
            return 1
        new = rewritten(text)
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
