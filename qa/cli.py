"""Stage 8: the command line -- a thin shell that turns library errors into one-line messages.

    python -m qa index [--corpus DIR] [--index DIR] [--model NAME_OR_PATH] [--rebuild]
    python -m qa ask "QUESTION" [--k 5] [--history "earlier question"]... [--json]
    python -m qa ask --batch FILE.jsonl [--k 5]
    python -m qa eval {all,gold,squad,beir,calibrate} ...
    python -m qa parse FILE_OR_FOLDER... [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import stat
import sys
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

from .answer import validate_k, validate_query
from .build import build_index
from .config import BACKENDS, FUSION_METHODS, INDEX_TYPES, FusionConfig, Settings
from .embedding import make_encoder
from .errors import QAError, QueryError
from .evaluation import METHODS, RetrievalEvaluator, calibrate, load_beir, load_gold, load_listed, load_squad, summary_table
from .session import QA

EXIT_USAGE = 2


def _printable(text: str) -> str:
    """A message quoting a user's text may hold a lone surrogate: print it escaped rather than fail."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not argparse's usage dump
        self.exit(EXIT_USAGE, f"error: {message} (see `python -m qa {self.prog.split()[-1]} --help`)\n")


def _positive_int(text: str) -> int:
    """--k through the library's own check, so the CLI, the Python API and the chat accept the same values."""
    try:
        return validate_k(text)
    except QueryError as exc:
        raise argparse.ArgumentTypeError(f"--{exc}") from None


def _common(p: argparse.ArgumentParser, settings: Settings) -> None:
    p.add_argument("--corpus", type=Path, default=settings.corpus, help="folder of release files (default: seeds/)")
    p.add_argument("--index", type=Path, default=settings.index, help="index folder (default: embeddings/)")
    _model(p)


def _model(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, help="sentence-transformers model name or folder (default: all-MiniLM-L6-v2)")
    p.add_argument("--backend", choices=BACKENDS, default=None,
                   help="encoder: sentence-transformers (torch, default) or onnxruntime (onnx, onnx-int8); env QA_BACKEND")


def _chosen(settings: Settings, args: argparse.Namespace, corpus: Path | None = None, index: Path | None = None) -> Settings:
    """The environment's settings with this command's --corpus/--index/--model/--backend on top."""
    return replace(settings, corpus=corpus or args.corpus, index=index or args.index,
                   model=args.model or settings.model, backend=args.backend or settings.backend)


def build_parser(settings: Settings | None = None) -> argparse.ArgumentParser:
    settings = settings or Settings()
    parser = _Parser(prog="qa", description="Question answering over press releases, with cited passages.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("index", help="build or update the index incrementally")
    _common(p, settings)
    p.add_argument("--rebuild", action="store_true", help="ignore the existing index and embed everything")
    p.add_argument("--skip-bad", action="store_true", help="index the readable files and list the others, instead of stopping")
    p.add_argument("--index-type", choices=INDEX_TYPES, default="auto",
                   help="FAISS index: flat (exact) up to 50,000 vectors, ivf above (auto), or forced")
    p.add_argument("--json", action="store_true", help="print the report as JSON")

    p = sub.add_parser("ask", help="answer a question (or a batch of them) from the releases")
    _common(p, settings)
    p.add_argument("question", nargs="?", help="the question, in quotes")
    p.add_argument("--k", type=_positive_int, default=5, help="number of passages (1-50, default 5)")
    p.add_argument("--history", action="append", default=[], metavar="Q",
                   help="an earlier question in the conversation (repeat for several: --history A --history B)")
    p.add_argument("--batch", type=Path, help="JSONL file of {\"id\", \"question\", \"history\"?}; prints JSONL")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--since", help="only releases dated on or after (YYYY-MM-DD, YYYY-MM or YYYY)")
    p.add_argument("--until", help="only releases dated on or before")
    p.add_argument("--source", help="only releases whose organisation, section or file path contains this")

    p = sub.add_parser("parse", help="show what would be indexed from each release file (title, date, paragraphs)")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help="release files or folders of them")
    p.add_argument("--json", action="store_true", help="one JSON object per file, in argument order")

    _add_eval_parser(sub, settings)
    return parser


def _print_human(answer: Any) -> None:
    width = min(100, max(60, os.get_terminal_size(sys.stdout.fileno()).columns if sys.stdout.isatty() else 100))
    if answer.no_answer:
        print(f"Not in the releases: {answer.message}\n" if answer.passages else f"{answer.message}\n")
    else:
        print(textwrap.fill(f"Answer: {answer.answer}", width) + "\n")
    for p in answer.passages:
        cite = f"[{p.rank}] {p.title} — {p.date or 'undated'} — {p.source}, paragraph {p.paragraph}  (score {p.score:.3f})"
        print(cite)
        text = p.text
        if p.answer_start is not None and p.answer_end is not None:
            text = f"{text[:p.answer_start]}»{text[p.answer_start:p.answer_end]}«{text[p.answer_end:]}"
        print(textwrap.indent(textwrap.fill(text, width - 4), "    ") + "\n")


def _run_parse(paths: Sequence[Path], as_json: bool) -> int:
    """Print what the corpus stage extracts from each file; a file that fails is reported and the rest go on."""
    from .corpus import SUPPORTED_SUFFIXES, corpus_files, read_release

    files: list[Path] = []
    for path in paths:
        files.extend(corpus_files(path) if path.is_dir() else [path])
    failures = 0
    for path in files:
        try:
            if not path.exists():
                raise QAError(f"{path} does not exist: check the path")
            if path.suffix.lower() not in SUPPORTED_SUFFIXES:
                raise QAError(f"{path}: unsupported file type {path.suffix or '(none)'!r}; supported: {', '.join(SUPPORTED_SUFFIXES)}")
            release = read_release(path)
        except QAError as exc:
            failures += 1
            if as_json:
                print(json.dumps({"source": str(path), "error": str(exc)}, ensure_ascii=False), flush=True)
            else:
                print(f"{path}\n  error: {exc}\n", flush=True)
            continue
        record = {"source": str(path), "title": release.title, "date": release.date, "paragraphs": list(release.paragraphs),
                  "organisation": release.organisation, "language": release.language, "section": release.section,
                  **release.meta, "doc_id": release.doc_id, "sha256": release.sha256}
        if as_json:
            print(json.dumps(record, ensure_ascii=False), flush=True)
            continue
        width = 100
        title_from, date_from = release.meta.get("title_from"), release.meta.get("date_from")
        print(f"{path}\n  title:        {release.title}  ({title_from})\n"
              f"  date:         {release.date or 'not found'}" + (f"  ({date_from})" if date_from else ""))
        for key in ("organisation", "language", "section", "place", "url"):
            if record.get(key):
                print(f"  {key + ':':<14}{record[key]}")
        print(f"  paragraphs:   {len(release.paragraphs)}")
        for number, para in enumerate(release.paragraphs, start=1):
            print(textwrap.fill(para, width, initial_indent=f"  {number:>3}. ", subsequent_indent=" " * 7))
        print(flush=True)
    return 1 if failures else 0


def _batch_lines(path: Path) -> list[str]:
    """The batch file's lines; a folder, FIFO or device is refused before it is opened (a FIFO would block)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise QAError(f"batch file {path} does not exist") from None
    except OSError as exc:
        raise QAError(f"cannot read batch file {path} ({exc.strerror})") from None
    if not stat.S_ISREG(mode):
        raise QAError(f"batch file {path} is not a regular file: give a .jsonl file with one JSON object per line")
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise QAError(f"batch file {path} is not UTF-8 JSONL: one JSON object per line") from None
    except OSError as exc:
        raise QAError(f"cannot read batch file {path} ({exc.strerror})") from None


def _run_batch(session: Any, lines: list[str], k: int) -> int:
    failures = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        ident: Any = None
        try:
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise QueryError(f"line {number} is not valid JSON ({exc.msg}): write one object per line") from None
            except (ValueError, RecursionError):  # a number of thousands of digits, nesting thousands deep
                raise QueryError(f"line {number} holds a number or nesting too large to read: "
                                 'write one flat object like {"id": 1, "question": "..."}') from None
            if not isinstance(item, dict):
                raise QueryError(f'line {number} must be a JSON object like {{"id": 1, "question": "..."}}')
            ident = item.get("id") if isinstance(item.get("id"), (str, int, float, type(None))) else None
            try:
                query = validate_query(item.get("question"), item.get("k", k), item.get("history"), item.get("since"),
                                       item.get("until"), item.get("source"))
            except QueryError as exc:
                raise QueryError(f"line {number}: {exc}") from None
            answer = session.ask(query.question, query.k, query.history, since=query.since, until=query.until,
                                 source=query.source)
            answer.id = ident
            out = json.dumps(answer.to_dict(), ensure_ascii=False)
        except QAError as exc:
            failures += 1
            out = json.dumps({"id": _safe_id(ident), "error": str(exc), "line": number}, ensure_ascii=False)
        print(out, flush=True)
    return 1 if failures and failures == sum(1 for ln in lines if ln.strip()) else 0


def _safe_id(ident: Any) -> Any:
    """An id echoed into an error object must itself be printable JSON."""
    try:
        json.dumps(ident).encode("utf-8")
        return ident
    except (ValueError, TypeError, UnicodeEncodeError):
        return None


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        settings = Settings.from_env()
    except QAError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    args = build_parser(settings).parse_args(argv)
    try:
        return _dispatch(args, settings)
    except QAError as exc:
        print(f"error: {_printable(str(exc))}", file=sys.stderr)
        return 1
    except OSError as exc:  # a file the checks above could not foresee (removed, unreadable, disk full)
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}: check the path and its permissions, then try again", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `qa ask ... | head`: the reader left, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "index":
        chosen = _chosen(settings, args)
        encoder = make_encoder(chosen.model, chosen.backend, cache=chosen.cache, verify_texts=chosen.onnx_verify_texts)
        report = build_index(args.corpus, args.index, encoder, rebuild=args.rebuild, skip_bad=args.skip_bad,
                             index_type=args.index_type)
        print(json.dumps(report.to_dict()) if args.json else report.summary())
        return 0
    if args.command == "ask":
        if args.batch is None:  # fail fast, before loading anything
            validate_query(args.question, args.k, args.history, args.since, args.until, args.source)
        elif args.question:
            raise QueryError("give either a QUESTION or --batch FILE, not both")
        lines = _batch_lines(args.batch) if args.batch is not None else []
        session = QA.from_settings(_chosen(settings, args))
        if args.batch is not None:
            return _run_batch(session, lines, args.k)
        answer = session.ask(args.question, args.k, args.history, since=args.since, until=args.until, source=args.source)
        if args.json:
            print(json.dumps(answer.to_dict(), ensure_ascii=False))
        else:
            _print_human(answer)
        return 0
    if args.command == "parse":
        return _run_parse(args.files, args.json)
    if args.command == "eval":
        return int(args.run(args, settings) or 0)
    return EXIT_USAGE


# ----------------------------------------------------------------------- eval


def _add_eval_parser(sub: Any, settings: Settings) -> None:
    p = sub.add_parser("eval", help="evaluate retrieval and answers against peers")
    esub = p.add_subparsers(dest="format", required=True, parser_class=type(p))

    def common(q: argparse.ArgumentParser, default_out: str) -> None:
        q.add_argument("--index", type=Path, default=None, help="index folder (default: a cache folder per dataset)")
        _model(q)
        q.add_argument("--k", type=int, default=10)
        q.add_argument("--limit", type=int, default=None, help="evaluate only the first N questions")
        q.add_argument("--no-peers", action="store_true", help="skip the BM25/dense/RRF peers")
        q.add_argument("--weights", default=None, metavar="P,S,B", help="fusion weights: paragraph, sentence, BM25 (default: the tuned ones)")
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
    a = esub.add_parser("all", help="every evaluation set in one run, peers beside release-qa (README: Retrieval quality)")
    a.add_argument("data", type=Path, help="folder with seed_paraphrase_dev.jsonl, senate_dev_qa.jsonl + senate_dev_files.txt, "
                   "squad-dev-v1.1-part-a.json (a missing one is skipped)")
    a.add_argument("--seeds", type=Path, default=None, help="the paraphrase set's releases (default: DATA/../seeds)")
    a.add_argument("--senate-corpus", type=Path, default=None,
                   help="folder the Senate files list is relative to (default: DATA/../corpora/senate-press-releases/raw)")
    a.add_argument("--regression", type=Path, default=Path("eval/seed_qa.jsonl"), help="the project's own set, run last")
    a.add_argument("--no-txtai", action="store_true", help="skip the txtai hybrid peer (it needs the eval extra)")
    common(a, "all")
    a.set_defaults(run=_run_all)
    c = esub.add_parser("calibrate", help="abstention threshold from the held-out split")
    c.add_argument("data", type=Path, nargs="?", default=Path("eval/seed_qa.jsonl"))
    c.add_argument("--corpus", type=Path, default=settings.corpus)
    c.add_argument("--index", type=Path, default=None)
    _model(c)
    c.add_argument("--split", default="dev")
    c.set_defaults(run=_run_calibrate)


def _eval_session(args: argparse.Namespace, settings: Settings, corpus: Path, name: str) -> QA:
    fusion = FusionConfig()
    if args.weights or args.fusion:
        try:
            p, s, b = (float(x) for x in args.weights.split(",")) if args.weights else (fusion.paragraph, fusion.sentence, fusion.bm25)
        except ValueError:
            raise QAError(f"--weights takes three numbers like 0.3,0.4,0.3, got {args.weights!r}") from None
        fusion = FusionConfig(method=args.fusion or fusion.method, paragraph=p, sentence=s, bm25=b)
    cache = settings.cache / "eval"
    folder = args.index or (corpus.parent / "index" if str(corpus).startswith(str(cache)) else cache / f"{name}-index")
    return QA.from_settings(_chosen(settings, args, corpus, folder), fusion=fusion)


def _evaluate(evaluator: RetrievalEvaluator, session: QA, out: Path) -> int:
    metrics = evaluator(session)
    run = evaluator.run
    assert run is not None
    results = {"dataset": run.dataset, "queries": run.queries, "chunks": run.chunks,
               "methods": {METHODS[m]: values for m, values in run.methods.items()}, "misses": run.misses,
               "primary_metric": "mrr@10", "primary": metrics.get(evaluator.primary_metric, 0.0)}
    print(write_report(results, out))
    if results["misses"]:
        print(f"{len(results['misses'])} misses (first 10):")
        for miss in results["misses"][:10]:
            print(f"  - [{miss['id']}] {miss['question']} -> {str(miss['got'])[:100]!r}")
    print(f"\nwrote {out}/results.md, results.json, results.png")
    return 0


def _gold_queries(args: argparse.Namespace) -> list[Any]:
    return [q for q in load_gold(args.data) if args.split == "all" or q.split == args.split]


def _run_gold(args: argparse.Namespace, settings: Settings) -> int:
    queries = _gold_queries(args)
    if not queries:
        raise QAError(f"no questions with split {args.split!r} in {args.data}")
    evaluator = RetrievalEvaluator(queries[: args.limit] if args.limit else queries, f"{args.data.name} [{args.split}]",
                                   args.k, not args.no_peers, ks=(1, 3, 5, 10))
    return _evaluate(evaluator, _eval_session(args, settings, args.corpus, "gold"), args.out)


def _run_squad(args: argparse.Namespace, settings: Settings) -> int:
    corpus, queries = load_squad(args.data, args.limit, settings.cache)
    evaluator = RetrievalEvaluator(queries, f"SQuAD {args.data.name}", args.k, not args.no_peers, ks=(1, 5, 10))
    return _evaluate(evaluator, _eval_session(args, settings, corpus, "squad"), args.out)


def _run_beir(args: argparse.Namespace, settings: Settings) -> int:
    corpus, queries = load_beir(args.data, args.split, args.limit, settings.cache)
    evaluator = RetrievalEvaluator(queries, f"BEIR {args.data.name}", args.k, not args.no_peers, ks=(1, 5, 10))
    return _evaluate(evaluator, _eval_session(args, settings, corpus, "beir"), args.out)


def _all_sets(args: argparse.Namespace, settings: Settings) -> list[tuple[str, Path, list[Any], str]]:
    """(name, corpus, questions, index name) of every set found, independent sets first, the regression set last."""
    data = args.data
    if not data.is_dir():
        raise QAError(f"{data} is not a folder: pass the folder holding the evaluation files (e.g. ../shared/eval)")
    seeds = args.seeds or data.parent / "seeds"
    senate_root = args.senate_corpus or data.parent / "corpora" / "senate-press-releases" / "raw"
    sets: list[tuple[str, Path, list[Any], str]] = []
    if (data / "seed_paraphrase_dev.jsonl").exists():
        sets.append(("seed paraphrase", seeds, load_gold(data / "seed_paraphrase_dev.jsonl"), "seeds"))
    if (data / "senate_dev_qa.jsonl").exists() and (data / "senate_dev_files.txt").exists():
        corpus, queries = load_listed(data / "senate_dev_qa.jsonl", data / "senate_dev_files.txt", senate_root, settings.cache)
        sets.append(("Senate dev", corpus, queries, "senate"))
    if (data / "squad-dev-v1.1-part-a.json").exists():
        corpus, queries = load_squad(data / "squad-dev-v1.1-part-a.json", None, settings.cache)
        sets.append(("SQuAD part A", corpus, queries, "squad"))
    if not sets:
        raise QAError(f"no evaluation files in {data}: expected seed_paraphrase_dev.jsonl, senate_dev_qa.jsonl + "
                      "senate_dev_files.txt or squad-dev-v1.1-part-a.json")
    if args.regression.is_file():
        sets.append((f"regression: {args.regression.name}", seeds, load_gold(args.regression), "seeds"))
    for name, corpus, _, _ in sets:
        if not corpus.is_dir():
            raise QAError(f"the releases for {name} are not at {corpus}: pass --seeds or --senate-corpus")
    return sets


def _run_all(args: argparse.Namespace, settings: Settings) -> int:
    rows: list[tuple[str, dict[str, dict[str, float]]]] = []
    for name, corpus, queries, index_name in _all_sets(args, settings):
        queries = queries[: args.limit] if args.limit else queries
        print(f"== {name}: {len(queries)} questions over {corpus}", flush=True)
        evaluator = RetrievalEvaluator(queries, name, args.k, not args.no_peers, ks=(1, 3, 5, 10), txtai=not args.no_txtai)
        session = _eval_session(args, settings, corpus, f"all-{index_name}")
        _evaluate(evaluator, session, args.out / re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-"))
        assert evaluator.run is not None
        rows.append((name, evaluator.run.methods))
    print(summary_table(rows, METHODS))
    return 0


def _run_calibrate(args: argparse.Namespace, settings: Settings) -> int:
    session = QA.from_settings(_chosen(settings, args, args.corpus, args.index or settings.cache / "eval" / "gold-index"))
    result = calibrate(session, _gold_queries(args))
    print(json.dumps(result, indent=1))
    print(f"put these values in AbstainPolicy's defaults in qa/config.py, or try them with {result['set']}")
    return 0


# -------------------------------------------------------------------- reports

REPORT_COLUMNS = ("hit@1", "hit@3", "hit@5", "hit@10", "mrr@10", "ndcg@10", "p50_ms", "p95_ms", "retrieval_p50_ms",
                  "abstain_precision", "abstain_recall", "false_abstain", "followup_hit@1")


def write_report(results: dict[str, Any], out: Path) -> str:
    """Markdown table + JSON + bar chart PNG in ``out``; returns the Markdown."""
    out.mkdir(parents=True, exist_ok=True)
    cols = [c for c in REPORT_COLUMNS if any(c in m for m in results["methods"].values())]
    lines = [f"**{results['dataset']}** — {results['queries']} queries over {results['chunks']} chunks", "",
             "| method | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
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
