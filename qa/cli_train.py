"""`python -m qa train`: rebuild the answer-sentence model from the shared sets and print its held-out figures."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from .config import Settings
from .errors import QAError, Remedy

__all__ = ["add_train_parser", "held_out_table"]


def add_train_parser(sub: Any, settings: Settings) -> None:
    p = sub.add_parser("train", help="rebuild the answer-sentence ranker from the shared question sets (grouped k-fold)")
    p.add_argument("--squad", type=Path, default=None, help="SQuAD v1.1 JSON (the shared part A)")
    p.add_argument("--squad-every", type=int, default=2, help="use every N-th SQuAD question (default 2)")
    p.add_argument(
        "--senate",
        type=Path,
        nargs=3,
        default=None,
        metavar=("QA", "FILES", "ROOT"),
        help="Senate questions, files list, releases root",
    )
    p.add_argument(
        "--paraphrase", type=Path, nargs=2, default=None, metavar=("QA", "SEEDS"), help="paraphrase questions, seed releases"
    )
    p.add_argument("--archive", type=Path, default=None, help="an archive folder with qa.jsonl and corpus/ (archive-dev)")
    p.add_argument(
        "--learner", choices=("lambdarank", "hgb", "logistic"), default="lambdarank", help="model (default: LightGBM lambdarank)"
    )
    p.add_argument("--compare", action="store_true", help="print every learner's held-out figures, write nothing")
    p.add_argument("--without", default="", help="comma-separated features to leave out (ablation)")
    p.add_argument(
        "--partitions",
        type=int,
        default=1,
        help="average the held-out figures over N fold partitions (with --seeds: what docs/training.md reports), write nothing",
    )
    p.add_argument("--seeds", type=int, default=1, help="average over N LightGBM seeds as well, write nothing")
    p.add_argument("--out", type=Path, default=None, help="model file (default: the package's qa/models/sentence_ranker.pkl)")
    p.add_argument(
        "--folds-out",
        type=Path,
        default=None,
        help="also write the fold models here (`qa eval all --held-out` answers each question with the one that never saw it)",
    )
    p.set_defaults(run=_run_train)


COLUMNS = (
    ("sentence_right", "answer sentence right"),
    ("release_first", "right release first"),
    ("passage_hit@1", "passage hit@1"),
    ("passage_mrr@10", "passage MRR@10"),
    ("retrieval_hit@1", "retrieval's passage hit@1"),
    ("answerable_none", "answerable refused"),
    ("answerable_closest", "answerable → closest"),
    ("unanswerable_closest", "unanswerable → closest"),
    ("unanswerable_none", "unanswerable → none"),
    ("followups_right", "follow-ups right"),
)


def held_out_table(summary: dict[str, dict[str, float]]) -> str:
    lines = ["| set | questions | " + " | ".join(name for _, name in COLUMNS) + " |", "|---|---:|" + "---:|" * len(COLUMNS)]
    for name, m in summary.items():
        cells = [f"{m[key]:.3f}" if key in m else "–" for key, _ in COLUMNS]
        lines.append(f"| {name} | {m['questions']:.0f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


TRAINING_PACKAGES = ("lightgbm", "sklearn", "onnxmltools", "skl2onnx")


def _run_train(args: argparse.Namespace, settings: Settings) -> int:
    import importlib.util

    missing = [name for name in TRAINING_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise QAError(f"training needs {', '.join(missing)}, not installed here", remedy=Remedy.INSTALL_EXTRA, extra="train")
    from .ranking.dataset import shared_sets, tables
    from .ranking.features import FEATURES
    from .ranking.model import DEFAULT_MODEL, save_fold_rankers, save_ranker
    from .ranking.train import FOLDS, averaged, fit_ranker
    from .ranking.views import summarise

    if not (args.squad or args.senate or args.paraphrase or args.archive):
        raise QAError("give at least one training set: --squad, --senate, --paraphrase or --archive (docs/training.md)")
    senate = tuple(args.senate) if args.senate else None
    paraphrase = tuple(args.paraphrase) if args.paraphrase else None
    specs = shared_sets(settings, args.squad, senate, paraphrase, args.archive, args.squad_every)
    t = time.perf_counter()
    data = tables(specs, settings)
    left_out = {f.strip() for f in args.without.split(",") if f.strip()}
    unknown = left_out - set(FEATURES)
    if unknown:
        raise QAError(f"unknown feature(s) {', '.join(sorted(unknown))}: choose from {', '.join(FEATURES)}")
    columns = [f for f in FEATURES if f not in left_out]
    if args.partitions < 1 or args.seeds < 1:
        raise QAError(f"--partitions and --seeds must be 1 or more, got {args.partitions} and {args.seeds}")
    if args.partitions > 1 or args.seeds > 1:
        summary = averaged(data, args.learner, columns, args.partitions, args.seeds)
        how = f"{args.partitions} fold partitions × {args.seeds} seeds"
        print(f"\n{args.learner}: held-out figures averaged over {how} ({FOLDS}-fold, grouped by release / article / fact)\n")
        print(held_out_table(summary))
        return 0
    for learner in ("lambdarank", "hgb", "logistic") if args.compare else (args.learner,):
        trained = fit_ranker(data, learner, columns)
        summary = summarise(trained.views, trained.levels)
        print(f"\n{learner}: held-out figures ({FOLDS}-fold, grouped by release / article / fact)\n")
        print(held_out_table(summary))
    if args.compare:
        return 0
    ranker = trained.ranker
    ranker.summary = {
        "learner": args.learner,
        "folds": FOLDS,
        "sets": {s.name: len(s.items) for s in specs},
        "squad_every": args.squad_every if args.squad else None,
        "features": columns,
        "held_out": summary,
        "answer_at": ranker.answer_at,
        "closest_at": ranker.closest_at,
    }
    out = args.out or DEFAULT_MODEL
    version = save_ranker(ranker, out)
    manifest = {"file": out.name, "version": version, "bytes": out.stat().st_size, **ranker.summary}
    out.with_suffix(".json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")  # what the file holds
    if args.folds_out:
        save_fold_rankers(trained.folds, args.folds_out)
        print(f"wrote the {len(trained.folds)} fold models to {args.folds_out}")
    size = out.stat().st_size / 1e6
    took = time.perf_counter() - t
    print(f"wrote {out} (version {version}, {size:.2f} MB) and its manifest {out.with_suffix('.json').name} in {took:.0f} s")
    return 0
