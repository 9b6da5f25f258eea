"""The command line (`release-qa`, or `python -m qa` in a checkout): a thin shell over the library.

Library errors become one-line messages here, with their remedy worded as the command to run
(:func:`qa.errors.cli_message`). Every subcommand and option is listed in docs/cli.md, generated from `--help`.
The `eval` subcommands and their reports live in :mod:`qa.cli_eval`.
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

from .build import build_index
from .cli_eval import add_eval_parser, add_model_args, chosen
from .cli_train import add_train_parser
from .config import INDEX_TYPES, ParseLimits, Settings
from .embedding import OnnxEncoder, make_encoder
from .errors import QAError, QueryError, cli_message
from .query.validate import validate_k, validate_query
from .session import QA

EXIT_USAGE = 2
PROG = "release-qa"


def _printable(text: str) -> str:
    """A message quoting a user's text may hold a lone surrogate: print it escaped rather than fail."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not argparse's usage dump
        where = " ".join(self.prog.split()[1:])
        self.exit(EXIT_USAGE, f"error: {message} (see `{PROG} {where + ' ' if where else ''}--help`)\n")


def _positive_int(text: str) -> int:
    """--k through the library's own check, so the CLI, the Python API and the chat accept the same values."""
    try:
        return validate_k(text)
    except QueryError as exc:
        raise argparse.ArgumentTypeError(cli_message(exc)) from None


def _common(p: argparse.ArgumentParser, settings: Settings) -> None:
    p.add_argument(
        "--corpus",
        type=Path,
        default=settings.corpus,
        help="folder of release files (default: QA_CORPUS; seeds/ in a checkout, else releases/ in the data folder)",
    )
    p.add_argument(
        "--index",
        type=Path,
        default=settings.index,
        help="index folder (default: QA_INDEX; embeddings/ in a checkout, else index/ in the data folder)",
    )
    add_model_args(p)


def build_parser(settings: Settings | None = None) -> argparse.ArgumentParser:
    settings = settings or Settings()
    parser = _Parser(prog=PROG, description="Question answering over press releases, with cited passages.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("index", help="build or update the index incrementally")
    _common(p, settings)
    p.add_argument("--rebuild", action="store_true", help="ignore the existing index and embed everything")
    p.add_argument("--skip-bad", action="store_true", help="index the readable files and list the others, instead of stopping")
    p.add_argument(
        "--index-type",
        choices=INDEX_TYPES,
        default="auto",
        help="FAISS index: flat (exact) up to 50,000 vectors, ivf above (auto), or forced",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="embed on a Ray cluster (needs the cluster extra): a local one without ADDRESS, else the cluster's address",
    )
    p.add_argument("--ray-workers", type=int, metavar="N", help="encoder processes on Ray (default: one per CPU)")

    p = sub.add_parser("ask", help="answer a question (or a batch of them) from the releases")
    _common(p, settings)
    p.add_argument("question", nargs="?", help="the question, in quotes")
    p.add_argument("--k", type=_positive_int, default=5, help="number of passages (1-50, default 5)")
    p.add_argument(
        "--history",
        action="append",
        default=[],
        metavar="Q",
        help="an earlier question in the conversation (repeat for several: --history A --history B)",
    )
    p.add_argument("--batch", type=Path, help='JSONL file of {"id", "question", "history"?}; prints JSONL')
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--since", help="only releases dated on or after (YYYY-MM-DD, YYYY-MM or YYYY)")
    p.add_argument("--until", help="only releases dated on or before")
    p.add_argument("--source", help="only releases whose organisation, section or file path contains this")

    p = sub.add_parser("parse", help="show what would be indexed from each release file (title, date, paragraphs)")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help="release files or folders of them")
    p.add_argument("--json", action="store_true", help="one JSON object per file, in argument order")

    p = sub.add_parser("chat", help="serve the chat in the browser (the index loads behind the page)")
    _common(p, settings)
    p.add_argument("--host", default=settings.host, help="address to serve on (default 127.0.0.1; wider needs QA_AUTH)")
    p.add_argument("--port", type=int, default=settings.port, help="port (default 7860)")

    p = sub.add_parser("export", help="export and verify the ONNX model once, so the first index or question does not")
    p.add_argument("--model", default=None, help="sentence-transformers model name or folder (default: all-MiniLM-L6-v2)")

    add_eval_parser(sub, settings)
    add_train_parser(sub, settings)
    return parser


def _print_human(answer: Any) -> None:
    width = min(100, max(60, os.get_terminal_size(sys.stdout.fileno()).columns if sys.stdout.isatty() else 100))
    if answer.no_answer:
        print(f"Not in the releases: {answer.message}\n" if answer.passages else f"{answer.message}\n")
    elif answer.answer is None:  # "closest": the passage is shown, no sentence is given as the answer
        print(textwrap.fill(f"Closest passage: {answer.message}", width) + "\n")
    else:
        print(textwrap.fill(f"Answer: {answer.answer}", width) + "\n")
    for p in answer.passages:
        cite = f"[{p.rank}] {p.title} — {p.date or 'undated'} — {p.source}, paragraph {p.paragraph}  (score {p.score:.3f})"
        print(cite)
        text = p.text
        if p.answer_start is not None and p.answer_end is not None:
            text = f"{text[: p.answer_start]}»{text[p.answer_start : p.answer_end]}«{text[p.answer_end :]}"
        print(textwrap.indent(textwrap.fill(text, width - 4), "    ") + "\n")


def _run_parse(paths: Sequence[Path], as_json: bool, limits: ParseLimits | None = None) -> int:
    """Print what the corpus stage extracts from each file; a file that fails is reported and the rest go on."""
    from .corpus import SUPPORTED_SUFFIXES, corpus_files
    from .sandbox import read_file  # a hostile file costs at most the parse limits, then the next one is read

    files: list[Path] = []
    for path in paths:
        files.extend(corpus_files(path) if path.is_dir() else [path])
    failures = 0
    for path in files:
        try:
            if not path.exists():
                raise QAError(f"{path} does not exist: check the path")
            if path.suffix.lower() not in SUPPORTED_SUFFIXES:
                raise QAError(
                    f"{path}: unsupported file type {path.suffix or '(none)'!r}; supported: {', '.join(SUPPORTED_SUFFIXES)}"
                )
            release = read_file(path, limits)
        except QAError as exc:
            failures += 1
            if as_json:
                print(json.dumps({"source": str(path), "error": cli_message(exc)}, ensure_ascii=False), flush=True)
            else:
                print(f"{path}\n  error: {cli_message(exc)}\n", flush=True)
            continue
        record = {
            "source": str(path),
            "title": release.title,
            "date": release.date,
            "paragraphs": list(release.paragraphs),
            "organisation": release.organisation,
            "language": release.language,
            "section": release.section,
            **release.meta,
            "doc_id": release.doc_id,
            "sha256": release.sha256,
        }
        if as_json:
            print(json.dumps(record, ensure_ascii=False), flush=True)
            continue
        width = 100
        title_from, date_from = release.meta.get("title_from"), release.meta.get("date_from")
        print(
            f"{path}\n  title:        {release.title}  ({title_from})\n"
            f"  date:         {release.date or 'not found'}" + (f"  ({date_from})" if date_from else "")
        )
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
                raise QueryError(
                    f"line {number} holds a number or nesting too large to read: "
                    'write one flat object like {"id": 1, "question": "..."}'
                ) from None
            if not isinstance(item, dict):
                raise QueryError(f'line {number} must be a JSON object like {{"id": 1, "question": "..."}}')
            ident = item.get("id") if isinstance(item.get("id"), (str, int, float, type(None))) else None
            try:
                query = validate_query(
                    item.get("question"),
                    item.get("k", k),
                    item.get("history"),
                    item.get("since"),
                    item.get("until"),
                    item.get("source"),
                )
            except QueryError as exc:
                raise QueryError(f"line {number}: {exc.message}", remedy=exc.remedy, fields=exc.fields, **exc.context) from None
            answer = session.ask(
                query.question, query.k, query.history, since=query.since, until=query.until, source=query.source
            )
            answer.id = ident
            out = json.dumps(answer.to_dict(), ensure_ascii=False)
        except QAError as exc:
            failures += 1
            out = json.dumps({"id": _safe_id(ident), "error": cli_message(exc), "line": number}, ensure_ascii=False)
        print(out, flush=True)
    return 1 if failures and failures == sum(1 for ln in lines if ln.strip()) else 0


def _run_export(settings: Settings) -> int:
    """The ONNX export the ONNX backends run on, made now (``make setup``) rather than by the first index."""
    encoder = OnnxEncoder(settings.model, "onnx-int8", cache=settings.cache, verify_count=settings.onnx_verify_texts)
    if encoder.exported:
        print(f"the ONNX export of {encoder.name} is ready in {encoder.folder}")
        return 0
    meta = encoder.export()
    print(
        f"exported {encoder.name} to {encoder.folder}: agrees with sentence-transformers at cosine "
        f"{meta['cosine_onnx']:.4f} (onnx) and {meta['cosine_onnx-int8']:.4f} (onnx-int8) on {meta['verified_on']} texts"
    )
    return 0


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
        print(f"error: {_printable(cli_message(exc))}", file=sys.stderr)
        return 1
    args = build_parser(settings).parse_args(argv)
    try:
        return _dispatch(args, settings)
    except QAError as exc:
        print(f"error: {_printable(cli_message(exc))}", file=sys.stderr)
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
    if args.command == "chat":
        from .web.app import main as chat

        return chat([], replace(chosen(settings, args), host=args.host, port=args.port))
    if args.command == "index":
        mine = chosen(settings, args)
        encoder = make_encoder(mine.model, mine.backend, cache=mine.cache, verify_texts=mine.onnx_verify_texts)
        engine = None
        if args.ray is not None:
            from .distributed import RayEngine

            engine = RayEngine(args.ray or None, args.ray_workers)
        report = build_index(
            args.corpus,
            args.index,
            encoder,
            rebuild=args.rebuild,
            skip_bad=args.skip_bad,
            index_type=args.index_type,
            limits=settings.parse,
            engine=engine,
        )
        print(json.dumps(report.to_dict(cli_message)) if args.json else report.summary())
        return 0
    if args.command == "ask":
        if args.batch is None:  # fail fast, before loading anything
            validate_query(args.question, args.k, args.history, args.since, args.until, args.source)
        elif args.question:
            raise QueryError("give either a QUESTION or --batch FILE, not both")
        lines = _batch_lines(args.batch) if args.batch is not None else []
        session = QA.from_settings(chosen(settings, args))
        if args.batch is not None:
            return _run_batch(session, lines, args.k)
        answer = session.ask(args.question, args.k, args.history, since=args.since, until=args.until, source=args.source)
        if args.json:
            print(json.dumps(answer.to_dict(), ensure_ascii=False))
        else:
            _print_human(answer)
        return 0
    if args.command == "parse":
        return _run_parse(args.files, args.json, settings.parse)
    if args.command == "export":
        return _run_export(replace(settings, model=args.model or settings.model))
    if args.command in ("eval", "train"):
        return int(args.run(args, settings) or 0)
    return EXIT_USAGE
