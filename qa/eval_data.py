"""Evaluation data: question sets and the corpora they are asked of, in the forms the shared sets come in.

Kept apart from :mod:`qa.evaluation` because reading a format and writing its corpus into the cache is one job,
scoring rankings is another. Each loader returns (corpus folder, queries); a corpus is written once per content
hash, so a rerun reuses it.

Formats:
  gold   JSONL {"id", "question", "history"?, "gold": [substring, ...]}; gold [] = unanswerable
  squad  SQuAD v1.1 JSON: every paragraph a document, its questions' gold is that paragraph
  beir   folder with corpus.jsonl, queries.jsonl, qrels/<split>.tsv
  listed gold JSONL over exactly the releases a files list names
  corpus gold JSONL (with "file" per question) over any folder of releases
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .config import DEFAULT_CACHE
from .errors import QAError

__all__ = ["EvalQuery", "index_folder", "load_beir", "load_corpus", "load_gold", "load_listed", "load_squad"]


@dataclass
class EvalQuery:
    id: str
    question: str
    history: list[str] = field(default_factory=list)
    gold: list[str] = field(default_factory=list)  # gold substrings (gold format)
    relevant: dict[str, float] = field(default_factory=dict)  # source file -> gain (squad/beir)
    split: str = "test"
    style: str | None = None  # how a paraphrase set words it (formal, casual, keyword, inverted)
    fact: str | None = None  # questions sharing a fact ask the same thing
    file: str | None = None  # the release the question was written from (relative to the corpus folder)

    @property
    def answerable(self) -> bool:
        return bool(self.gold or self.relevant)


def index_folder(cache: Path, backend: str, corpus: Path, name: str) -> Path:
    """Where an evaluation set's index is cached: beside a corpus written into the cache, else by the set's name.

    Evaluation and training (``qa train``) share it, so a set is embedded once.
    """
    root = Path(cache) / "eval"
    return corpus.parent / f"index-{backend}" if str(corpus).startswith(str(root)) else root / f"{name}-{backend}-index"


def load_gold(path: Path) -> list[EvalQuery]:
    queries = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            queries.append(
                EvalQuery(
                    str(item["id"]),
                    item["question"],
                    list(item.get("history") or []),
                    list(item.get("gold") or []),
                    split=item.get("split", "test"),
                    style=item.get("style"),
                    fact=item.get("fact"),
                    file=item.get("file"),
                )
            )
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise QAError(
                f'{path} line {number} is not a gold QA record ({exc}): expected {{"id", "question", "gold": [...]}}'
            ) from None
    return queries


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:80]


def _write_docs(docs: list[tuple[str, str, str]], name: str, cache: Path) -> Path:
    """Write (id, title, text) documents as Markdown releases in a cached corpus folder; returns the folder."""
    digest = hashlib.sha256(json.dumps(docs).encode()).hexdigest()[:10]
    folder = Path(cache) / "eval" / f"{name}-{digest}" / "corpus"
    if not folder.exists():
        tmp = folder.with_name("corpus.tmp")
        tmp.mkdir(parents=True, exist_ok=True)
        for doc_id, title, text in docs:
            (tmp / f"{doc_id}.md").write_text(f"# {title}\n\n{text}\n", encoding="utf-8")
        tmp.rename(folder)
    return folder


def load_squad(path: Path, limit: int | None = None, cache: Path = DEFAULT_CACHE) -> tuple[Path, list[EvalQuery]]:
    """Every SQuAD paragraph becomes a release (written under ``cache``); its questions' gold is that paragraph."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    docs: list[tuple[str, str, str]] = []
    queries: list[EvalQuery] = []
    for a_i, article in enumerate(data["data"]):
        title = article["title"].replace("_", " ")
        for p_i, para in enumerate(article["paragraphs"]):
            doc_id = f"a{a_i:03d}p{p_i:03d}"
            docs.append((doc_id, title, para["context"]))
            for qa in para["qas"]:
                answers = sorted({a["text"] for a in qa.get("answers", [])})
                queries.append(EvalQuery(qa["id"], qa["question"], gold=answers, relevant={f"{doc_id}.md": 1.0}))
    if limit:
        queries = queries[:limit]
    return _write_docs(docs, "squad", cache), queries


def load_listed(questions: Path, files: Path, root: Path, cache: Path = DEFAULT_CACHE) -> tuple[Path, list[EvalQuery]]:
    """Gold questions over exactly the releases a files list names (paths relative to ``root``), copied under ``cache``.

    The Senate dev set's form: the listed releases, targets and distractors alike, are the whole corpus.
    """
    names = [line.strip() for line in Path(files).read_text(encoding="utf-8").splitlines() if line.strip()]
    missing = [n for n in names if not (Path(root) / n).is_file()]
    if missing:
        raise QAError(
            f"{len(missing)} of the {len(names)} files listed in {files} are not under {root} (first: {missing[0]}): "
            "pass the folder they are relative to"
        )
    digest = hashlib.sha256("\n".join(names).encode()).hexdigest()[:10]
    folder = Path(cache) / "eval" / f"{Path(files).stem}-{digest}" / "corpus"
    if not folder.exists():
        tmp = folder.with_name("corpus.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        for name in names:
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(root) / name, tmp / name)
        tmp.rename(folder)
    return folder, load_gold(questions)


def load_corpus(questions: Path, folder: Path) -> tuple[Path, list[EvalQuery]]:
    """A question file in the gold format over any folder of releases; each question's ``file`` must be in it."""
    folder, questions = Path(folder), Path(questions)
    if not folder.is_dir():
        raise QAError(f"{folder} is not a folder of releases: pass the folder the questions were written on")
    if not questions.is_file():
        raise QAError(f"{questions} is not a file: pass a JSONL question file (id, question, gold, file, history)")
    queries = load_gold(questions)
    missing = sorted({q.file for q in queries if q.file and not (folder / q.file).is_file()})
    if missing:
        raise QAError(
            f"{len(missing)} release files the questions name are not under {folder} (first: {missing[0]}): "
            "pass the folder their `file` paths are relative to"
        )
    return folder, queries


def load_beir(
    folder: Path, split: str = "test", limit: int | None = None, cache: Path = DEFAULT_CACHE
) -> tuple[Path, list[EvalQuery]]:
    folder = Path(folder)
    for need in ("corpus.jsonl", "queries.jsonl", f"qrels/{split}.tsv"):
        if not (folder / need).exists():
            raise QAError(f"{folder} is not a BEIR folder: {need} is missing")
    docs: list[tuple[str, str, str]] = []
    names: dict[str, str] = {}
    for line in (folder / "corpus.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            d = json.loads(line)
            names[str(d["_id"])] = name = f"{len(names):06d}_{_safe_name(str(d['_id']))}"
            docs.append((name, d.get("title") or str(d["_id"]), d["text"]))
    qrels: dict[str, dict[str, float]] = {}
    for line in (folder / f"qrels/{split}.tsv").read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and parts[2].strip().lstrip("-").isdigit() and int(parts[2]) > 0 and parts[1] in names:
            qrels.setdefault(parts[0], {})[f"{names[parts[1]]}.md"] = float(parts[2])
    queries = []
    for line in (folder / "queries.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            q = json.loads(line)
            if str(q["_id"]) in qrels:
                queries.append(EvalQuery(str(q["_id"]), q["text"], relevant=qrels[str(q["_id"])]))
    return _write_docs(docs, "beir-" + folder.name, cache), queries[:limit] if limit else queries
