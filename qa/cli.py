"""Stage 8: the command line -- a thin shell that turns library errors into one-line messages.

    python -m qa index [--corpus DIR] [--index DIR] [--model NAME_OR_PATH] [--rebuild]
    python -m qa ask "QUESTION" [--k 5] [--history "earlier question" ...] [--json]
    python -m qa ask --batch FILE.jsonl [--k 5]
    python -m qa eval {gold,squad,beir,calibrate} ...
    python -m qa parse FILE_OR_FOLDER... [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from pathlib import Path
from typing import Any, Sequence

from .errors import QAError, QueryError

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not argparse's usage dump
        self.exit(EXIT_USAGE, f"error: {message} (see `python -m qa {self.prog.split()[-1]} --help`)\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--k must be a whole number from 1 to 50, got {text!r}") from None
    if not 1 <= value <= 50:
        raise argparse.ArgumentTypeError(f"--k must be from 1 to 50, got {value}")
    return value


def _common(p: argparse.ArgumentParser) -> None:
    from .answer import DEFAULT_CORPUS, DEFAULT_INDEX

    p.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="folder of release files (default: seeds/)")
    p.add_argument("--index", type=Path, default=DEFAULT_INDEX, help="index folder (default: embeddings/)")
    p.add_argument("--model", default=None, help="sentence-transformers model name or folder (default: all-MiniLM-L6-v2)")
    p.add_argument("--backend", choices=["torch", "onnx", "onnx-int8"], default=None,
                   help="encoder: sentence-transformers (torch, default) or onnxruntime (onnx, onnx-int8); env QA_BACKEND")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="qa", description="Question answering over press releases, with cited passages.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("index", help="build or update the index incrementally")
    _common(p)
    p.add_argument("--rebuild", action="store_true", help="ignore the existing index and embed everything")
    p.add_argument("--skip-bad", action="store_true", help="index the readable files and list the others, instead of stopping")
    p.add_argument("--index-type", choices=["auto", "flat", "ivf", "hnsw"], default="auto",
                   help="FAISS index: flat (exact) up to 50,000 vectors, ivf above (auto), or forced")
    p.add_argument("--json", action="store_true", help="print the report as JSON")

    p = sub.add_parser("ask", help="answer a question (or a batch of them) from the releases")
    _common(p)
    p.add_argument("question", nargs="?", help="the question, in quotes")
    p.add_argument("--k", type=_positive_int, default=5, help="number of passages (1-50, default 5)")
    p.add_argument("--history", nargs="*", default=[], metavar="Q", help="earlier questions in the conversation")
    p.add_argument("--batch", type=Path, help="JSONL file of {\"id\", \"question\", \"history\"?}; prints JSONL")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--since", help="only releases dated on or after (YYYY-MM-DD, YYYY-MM or YYYY)")
    p.add_argument("--until", help="only releases dated on or before")
    p.add_argument("--source", help="only releases whose organisation, section or file path contains this")

    p = sub.add_parser("parse", help="show what would be indexed from each release file (title, date, paragraphs)")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help="release files or folders of them")
    p.add_argument("--json", action="store_true", help="one JSON object per file, in argument order")

    from .evaluation import add_eval_parser

    add_eval_parser(sub)
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


def _run_batch(session: Any, path: Path, k: int) -> int:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise QAError(f"batch file {path} does not exist") from None
    except UnicodeDecodeError:
        raise QAError(f"batch file {path} is not UTF-8 JSONL: one JSON object per line") from None
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
            if not isinstance(item, dict):
                raise QueryError(f'line {number} must be a JSON object like {{"id": 1, "question": "..."}}')
            ident = item.get("id")
            history = item.get("history") or []
            if not isinstance(history, list) or not all(isinstance(h, str) for h in history):
                raise QueryError(f"line {number}: history must be a list of earlier questions (strings)")
            answer = session.ask(item.get("question"), item.get("k", k), history, since=item.get("since"),
                                 until=item.get("until"), source=item.get("source"))
            answer.id = ident
            print(json.dumps(answer.to_dict(), ensure_ascii=False), flush=True)
        except QAError as exc:
            failures += 1
            print(json.dumps({"id": ident, "error": str(exc), "line": number}, ensure_ascii=False), flush=True)
    return 1 if failures and failures == sum(1 for ln in lines if ln.strip()) else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        if args.command == "index":
            from .store import build_index

            report = build_index(args.corpus, args.index, model=args.model, backend=args.backend, rebuild=args.rebuild, skip_bad=args.skip_bad,
                                 index_type=args.index_type)
            print(json.dumps(report.to_dict()) if args.json else report.summary())
            return 0
        if args.command == "ask":
            from .answer import QA, validate_question

            if args.batch is None:
                validate_question(args.question, args.k)  # fail fast, before loading anything
            elif args.question:
                raise QueryError("give either a QUESTION or --batch FILE, not both")
            session = QA(args.corpus, args.index, args.model, backend=args.backend)
            if args.batch is not None:
                return _run_batch(session, args.batch, args.k)
            answer = session.ask(args.question, args.k, args.history, since=args.since, until=args.until, source=args.source)
            if args.json:
                print(json.dumps(answer.to_dict(), ensure_ascii=False))
            else:
                _print_human(answer)
            return 0
        if args.command == "parse":
            return _run_parse(args.files, args.json)
        if args.command == "eval":
            return int(args.run(args) or 0)
    except QAError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `qa ask ... | head`: the reader left, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return EXIT_USAGE
