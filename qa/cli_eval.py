"""Stage 8b: `python -m qa eval` -- evaluation subcommands and the reports they write (Markdown, JSON, chart).

Kept apart from :mod:`qa.cli` so the everyday commands (index, ask, parse) read on one screen.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .config import BACKENDS, DEFAULT_BACKEND, FUSION_METHODS, FusionConfig, Settings
from .errors import QAError
from .eval_data import index_folder, load_beir, load_corpus, load_gold, load_listed, load_squad
from .evaluation import METHODS, RetrievalEvaluator, calibrate, summary_table
from .session import QA

__all__ = ["add_eval_parser", "add_model_args", "chosen", "write_report"]


def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, help="sentence-transformers model name or folder (default: all-MiniLM-L6-v2)")
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        default=None,
        help=f"encoder: onnxruntime (onnx, onnx-int8) or sentence-transformers (torch); default {DEFAULT_BACKEND} "
        "or env QA_BACKEND; an index embedded with another backend is re-embedded",
    )


def chosen(settings: Settings, args: argparse.Namespace, corpus: Path | None = None, index: Path | None = None) -> Settings:
    """The environment's settings with this command's --corpus/--index/--model/--backend on top."""
    return replace(
        settings,
        corpus=corpus or args.corpus,
        index=index or args.index,
        model=args.model or settings.model,
        backend=args.backend or settings.backend,
    )


# ----------------------------------------------------------------------- eval


def add_eval_parser(sub: Any, settings: Settings) -> None:
    p = sub.add_parser("eval", help="evaluate retrieval and answers against peers")
    esub = p.add_subparsers(dest="format", required=True, parser_class=type(p))

    def common(q: argparse.ArgumentParser, default_out: str) -> None:
        q.add_argument("--index", type=Path, default=None, help="index folder (default: a cache folder per dataset)")
        add_model_args(q)
        q.add_argument("--k", type=int, default=10)
        q.add_argument("--limit", type=int, default=None, help="evaluate only the first N questions")
        q.add_argument("--no-peers", action="store_true", help="skip the BM25/dense/RRF peers")
        q.add_argument(
            "--weights", default=None, metavar="P,S,B", help="fusion weights: paragraph, sentence, BM25 (default: the tuned ones)"
        )
        q.add_argument("--fusion", choices=FUSION_METHODS, default=None)
        q.add_argument("--out", type=Path, default=Path("eval/results") / default_out)

    g = esub.add_parser("gold", help="gold-substring QA (JSONL)")
    g.add_argument("data", type=Path, nargs="?", default=Path("eval/seed_qa.jsonl"))
    g.add_argument("--corpus", type=Path, default=settings.corpus)
    g.add_argument("--split", default="test", help="which split to report (default test; 'all' for every question)")
    common(g, "seed")
    g.set_defaults(run=_run_gold)
    s = esub.add_parser("squad", help="SQuAD v1.1 paragraph retrieval")
    s.add_argument("data", type=Path)
    common(s, "squad")
    s.set_defaults(run=_run_squad)
    b = esub.add_parser("beir", help="a BEIR dataset folder")
    b.add_argument("data", type=Path)
    b.add_argument("--split", default="test")
    common(b, "beir")
    b.set_defaults(run=_run_beir)
    cp = esub.add_parser("corpus", help="a question file (gold JSONL with `file`) over any folder of releases")
    cp.add_argument("data", type=Path, help='JSONL: {"id", "question", "gold": [substrings], "file", "history"?}')
    cp.add_argument("corpus", type=Path, help="the folder of releases the questions were written on")
    cp.add_argument("--no-txtai", action="store_true", help="skip the txtai hybrid peer (it needs the eval extra)")
    common(cp, "corpus")
    cp.set_defaults(run=_run_corpus)
    a = esub.add_parser("all", help="every evaluation set in one run, peers beside release-qa (docs/evaluation.md)")
    a.add_argument(
        "data",
        type=Path,
        help="folder with seed_paraphrase_dev.jsonl, senate_dev_qa.jsonl + senate_dev_files.txt, "
        "archive-dev/ (qa.jsonl + corpus/), squad-dev-v1.1-part-a.json (a missing one is skipped)",
    )
    a.add_argument("--seeds", type=Path, default=None, help="the paraphrase set's releases (default: DATA/../seeds)")
    a.add_argument(
        "--senate-corpus",
        type=Path,
        default=None,
        help="folder the Senate files list is relative to (default: DATA/../corpora/senate-press-releases/raw)",
    )
    a.add_argument("--regression", type=Path, default=Path("eval/seed_qa.jsonl"), help="the project's own set, run last")
    a.add_argument("--no-txtai", action="store_true", help="skip the txtai hybrid peer (it needs the eval extra)")
    a.add_argument(
        "--held-out",
        type=Path,
        default=None,
        metavar="FOLDS",
        help="fold models from `qa train --folds-out`: each shared question is answered by the model that never saw it "
        "(without it, release-qa's figures on the sets the shipped model was trained on are in-sample)",
    )
    common(a, "all")
    a.set_defaults(run=_run_all)
    c = esub.add_parser("calibrate", help="abstention threshold from the held-out split")
    c.add_argument("data", type=Path, nargs="?", default=Path("eval/seed_qa.jsonl"))
    c.add_argument("--corpus", type=Path, default=settings.corpus)
    c.add_argument("--index", type=Path, default=None)
    add_model_args(c)
    c.add_argument("--split", default="dev")
    c.set_defaults(run=_run_calibrate)


def _eval_session(args: argparse.Namespace, settings: Settings, corpus: Path, name: str) -> QA:
    fusion = FusionConfig()
    if args.weights or args.fusion:
        try:
            p, s, b = (
                (float(x) for x in args.weights.split(",")) if args.weights else (fusion.paragraph, fusion.sentence, fusion.bm25)
            )
        except ValueError:
            raise QAError(f"--weights takes three numbers like 0.3,0.4,0.3, got {args.weights!r}") from None
        fusion = FusionConfig(method=args.fusion or fusion.method, paragraph=p, sentence=s, bm25=b)
    backend = args.backend or settings.backend  # one cached index per backend: switching never re-embeds a set
    folder = args.index or index_folder(settings.cache, backend, corpus, name)
    return QA.from_settings(chosen(settings, args, corpus, folder), fusion=fusion)


def _evaluate(evaluator: RetrievalEvaluator, session: QA, out: Path, note: str = "") -> int:
    metrics = evaluator(session)
    run = evaluator.run
    assert run is not None
    results: dict[str, Any] = {
        "dataset": run.dataset,
        "note": note,
        "queries": run.queries,
        "chunks": run.chunks,
        "methods": {METHODS[m]: values for m, values in run.methods.items()},
        "misses": run.misses,
        "primary_metric": "sentence_right",
        "primary": metrics.get("release-qa_sentence_right", 0.0),
    }
    print(write_report(results, out))
    if run.misses:
        print(f"{len(run.misses)} misses (first 10):")
        for miss in run.misses[:10]:
            print(f"  - [{miss['id']}] {miss['question']} -> {str(miss['got'])[:100]!r} ({miss['level']})")
    print(f"\nwrote {out}/results.md, results.json, results.png")
    return 0


def _gold_queries(args: argparse.Namespace) -> list[Any]:
    return [q for q in load_gold(args.data) if args.split == "all" or q.split == args.split]


def _run_gold(args: argparse.Namespace, settings: Settings) -> int:
    queries = _gold_queries(args)
    if not queries:
        raise QAError(f"no questions with split {args.split!r} in {args.data}")
    evaluator = RetrievalEvaluator(
        queries[: args.limit] if args.limit else queries,
        f"{args.data.name} [{args.split}]",
        args.k,
        not args.no_peers,
        ks=(1, 3, 5, 10),
    )
    return _evaluate(evaluator, _eval_session(args, settings, args.corpus, "gold"), args.out)


def _run_squad(args: argparse.Namespace, settings: Settings) -> int:
    corpus, queries = load_squad(args.data, args.limit, settings.cache)
    evaluator = RetrievalEvaluator(queries, f"SQuAD {args.data.name}", args.k, not args.no_peers, ks=(1, 5, 10))
    return _evaluate(evaluator, _eval_session(args, settings, corpus, "squad"), args.out)


def _run_beir(args: argparse.Namespace, settings: Settings) -> int:
    corpus, queries = load_beir(args.data, args.split, args.limit, settings.cache)
    evaluator = RetrievalEvaluator(queries, f"BEIR {args.data.name}", args.k, not args.no_peers, ks=(1, 5, 10))
    return _evaluate(evaluator, _eval_session(args, settings, corpus, "beir"), args.out)


def _run_corpus(args: argparse.Namespace, settings: Settings) -> int:
    corpus, queries = load_corpus(args.data, args.corpus)
    queries = queries[: args.limit] if args.limit else queries
    evaluator = RetrievalEvaluator(
        queries, f"{args.data.name} over {corpus.name}", args.k, not args.no_peers, txtai=not args.no_txtai, windows=True
    )
    name = "corpus-" + re.sub(r"[^A-Za-z0-9]+", "-", str(corpus.resolve())).strip("-")[-60:]
    return _evaluate(evaluator, _eval_session(args, settings, corpus, name), args.out)


@dataclass(frozen=True)
class EvalSet:
    name: str
    corpus: Path
    queries: list[Any]
    index_name: str
    trained_as: str | None = None  # its name among the ranker's training sets (qa.ranking.dataset), None if not one


def _all_sets(args: argparse.Namespace, settings: Settings) -> list[EvalSet]:
    """Every set found, independent sets first, the regression set last."""
    data = args.data
    if not data.is_dir():
        raise QAError(f"{data} is not a folder: pass the folder holding the evaluation files (e.g. ../shared/eval)")
    seeds = args.seeds or data.parent / "seeds"
    senate_root = args.senate_corpus or data.parent / "corpora" / "senate-press-releases" / "raw"
    sets: list[EvalSet] = []
    if (data / "seed_paraphrase_dev.jsonl").exists():
        sets.append(EvalSet("seed paraphrase", seeds, load_gold(data / "seed_paraphrase_dev.jsonl"), "seeds", "paraphrase"))
    if (data / "senate_dev_qa.jsonl").exists() and (data / "senate_dev_files.txt").exists():
        corpus, queries = load_listed(data / "senate_dev_qa.jsonl", data / "senate_dev_files.txt", senate_root, settings.cache)
        sets.append(EvalSet("Senate dev", corpus, queries, "senate", "senate"))
    if (data / "archive-dev" / "qa.jsonl").exists():
        corpus, queries = load_corpus(data / "archive-dev" / "qa.jsonl", data / "archive-dev" / "corpus")
        sets.append(EvalSet("archive-dev", corpus, queries, "archive", "archive"))
    if (data / "squad-dev-v1.1-part-a.json").exists():
        corpus, queries = load_squad(data / "squad-dev-v1.1-part-a.json", None, settings.cache)
        sets.append(EvalSet("SQuAD part A", corpus, queries, "squad", "squad"))
    if not sets:
        raise QAError(
            f"no evaluation files in {data}: expected seed_paraphrase_dev.jsonl, senate_dev_qa.jsonl + "
            "senate_dev_files.txt, archive-dev/ or squad-dev-v1.1-part-a.json"
        )
    if args.regression.is_file():
        sets.append(EvalSet(f"regression: {args.regression.name}", seeds, load_gold(args.regression), "seeds"))
    for found in sets:
        if not found.corpus.is_dir():
            raise QAError(f"the releases for {found.name} are not at {found.corpus}: pass --seeds or --senate-corpus")
    return sets


def _held_out_rankers(folds: Any, trained_as: str | None) -> Callable[[Any], Any] | None:
    """Each question's fold model (the one trained without its group), or None for the session's shipped model."""
    if folds is None or trained_as is None:
        return None
    from .ranking.dataset import group_of

    return lambda q: folds.for_group(group_of(trained_as, q))


def _run_all(args: argparse.Namespace, settings: Settings) -> int:
    rows: list[tuple[str, str, dict[str, dict[str, float]]]] = []
    folds = None
    if args.held_out:
        from .ranking.model import load_fold_rankers

        folds = load_fold_rankers(args.held_out)  # read before any set is run: a wrong file fails at once
    for found in _all_sets(args, settings):
        queries = found.queries[: args.limit] if args.limit else found.queries
        print(f"== {found.name}: {len(queries)} questions over {found.corpus}", flush=True)
        ranker_of = _held_out_rankers(folds, found.trained_as)
        note = ""
        if found.trained_as:
            note = (
                "release-qa held out: each question answered by the fold model that never saw it"
                if ranker_of
                else "release-qa in-sample: its answer-sentence model was trained on this set (--held-out gives held-out figures)"
            )
        evaluator = RetrievalEvaluator(
            queries,
            found.name,
            args.k,
            not args.no_peers,
            ks=(1, 3, 5, 10),
            txtai=not args.no_txtai,
            windows=found.index_name != "squad",
            ranker_of=ranker_of,
        )
        session = _eval_session(args, settings, found.corpus, f"all-{found.index_name}")
        _evaluate(evaluator, session, args.out / re.sub(r"[^a-z0-9]+", "-", found.name.lower()).strip("-"), note)
        assert evaluator.run is not None
        rows.append((found.name, note, evaluator.run.methods))
    print(summary_table(rows, METHODS))
    return 0


def _run_calibrate(args: argparse.Namespace, settings: Settings) -> int:
    session = QA.from_settings(chosen(settings, args, args.corpus, args.index or settings.cache / "eval" / "gold-index"))
    result = calibrate(session, _gold_queries(args))
    print(json.dumps(result, indent=1))
    print(f"put these values in AbstainPolicy's defaults in qa/config.py, or try them with {result['set']}")
    return 0


# -------------------------------------------------------------------- reports

REPORT_COLUMNS = (
    "sentence_right",
    "release_first",
    "hit@1",
    "hit@3",
    "hit@5",
    "hit@10",
    "mrr@10",
    "ndcg@10",
    "p50_ms",
    "p95_ms",
    "retrieval_p50_ms",
    "abstain_precision",
    "abstain_recall",
    "false_abstain",
    "followup_hit@1",
    "followup_sentence_right",
    "unanswerable_flagged",
    "unanswerable_closest",
    "unanswerable_none",
    "answerable_closest",
    "answerable_none",
)


def write_report(results: dict[str, Any], out: Path) -> str:
    """Markdown table + JSON + bar chart PNG in ``out``; returns the Markdown."""
    out.mkdir(parents=True, exist_ok=True)
    cols = [c for c in REPORT_COLUMNS if any(c in m for m in results["methods"].values())]
    lines = [
        f"**{results['dataset']}** — {results['queries']} queries over {results['chunks']} chunks",
        "",
        *([f"_{results['note']}_", ""] if results.get("note") else []),
        "| method | " + " | ".join(cols) + " |",
        "|---|" + "---:|" * len(cols),
    ]
    for name, m in results["methods"].items():
        cells = [(f"{m[c]:.1f}" if c.endswith("_ms") else f"{m[c]:.3f}") if c in m else "" for c in cols]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    md = "\n".join(lines) + "\n"
    (out / "results.md").write_text(md, encoding="utf-8")
    (out / "results.json").write_text(json.dumps(results, indent=1, ensure_ascii=False), encoding="utf-8")
    _write_chart(results, [c for c in ("hit@1", "mrr@10", "ndcg@10") if c in cols], out / "results.png")
    return md


def _write_chart(results: dict[str, Any], metrics: list[str], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    names = list(results["methods"])
    fig, ax = plt.subplots(figsize=(8, 3.6))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        vals = [results["methods"][name].get(c, 0) for c in metrics]
        bars = ax.bar([x + i * width for x in range(len(metrics))], vals, width, label=name)
        ax.bar_label(bars, fmt="%.3f", fontsize=7)
    ax.set_xticks([x + width * (len(names) - 1) / 2 for x in range(len(metrics))], metrics)
    ax.set_ylim(0, 1.05)
    ax.set_title(f"{results['dataset']}: {results['queries']} queries")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
