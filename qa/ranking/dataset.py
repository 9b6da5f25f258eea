"""Training data for the ranker: the shared question sets, their candidates described and labelled, cached.

A candidate sentence is right when it contains a gold substring, compared in lower case over letters and digits
(SQuAD: a sentence of the paragraph the question was written on that holds one of its answers). Each question
carries a group: questions of one group (a release, a SQuAD article, a paraphrase fact) never straddle folds.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from ..config import ChunkConfig, Settings
from ..errors import QAError
from ..eval_data import EvalQuery, index_folder, load_listed, load_squad
from ..session import QA
from .features import BASE, derive
from .pipeline import gather

__all__ = [
    "FEATURE_VERSION",
    "Item",
    "SetSpec",
    "Table",
    "build_table",
    "gold_items",
    "group_of",
    "load_table",
    "norm",
    "squad_items",
]

INDEX_NAMES = {"paraphrase": "seeds"}  # the index `qa eval all` keeps for the same corpus
WITHHELD = "withheld"
FEATURE_VERSION = "5"  # bump when a feature changes: cached tables are rebuilt
# A table also depends on the code that retrieves and describes candidates: its source is part of the cache key, so
# a table built by other code (an experiment since reverted, an old checkout) is never read back.
_TABLE_CODE = (
    "dataset",
    "features",
    "focus",
    "kinds",
    "dates",
    "candidates",
    "pipeline",
    "../query/retriever",
    "../query/followup",
    "../query/fusion",
    "../store/lexical",
)


def norm(text: str) -> str:
    """The shared sets' gold rule: lower case, alphanumeric runs joined by single spaces."""
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


@dataclass
class Item:
    """One question of a set, with what judges its candidates."""

    id: str
    question: str
    gold: list[str]
    group: str  # questions of one group stay in one fold
    history: list[str] = field(default_factory=list)
    relevant: list[str] = field(default_factory=list)  # SQuAD: the paragraph file the answer must come from
    kind: str = ""  # answerable, followup, unanswerable, withheld (asked with its answer's releases left out)

    @property
    def answerable(self) -> bool:
        return bool(self.gold) and self.kind != WITHHELD


@dataclass
class SetSpec:
    name: str
    corpus: Path
    items: list[Item]
    withheld: bool = False  # every question asked with the releases holding its answer left out of the index

    @property
    def index_name(self) -> str:
        return INDEX_NAMES.get(self.name.removesuffix(f"-{WITHHELD}"), self.name.removesuffix(f"-{WITHHELD}"))


def withheld_twin(spec: SetSpec) -> SetSpec:
    """The set's answerable questions asked of the archive without the releases that answer them: on-topic
    questions the archive cannot answer, many more than any set's written unanswerable ones. Follow-ups are not
    among them: they ask about the release the conversation is reading, which cannot be missing."""
    items = [replace(it, kind=WITHHELD) for it in spec.items if it.answerable and not it.relevant and not it.history]
    return SetSpec(f"{spec.name}-{WITHHELD}", spec.corpus, items, withheld=True)


def gold_items(path: Path, name: str) -> list[Item]:
    """Gold JSONL ({"id","question","gold","file"?,"fact"?,"history"?}); the group is the release (or fact)."""
    items = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        gold = list(row.get("gold") or [])
        history = list(row.get("history") or [])
        kind = "unanswerable" if not gold else "followup" if history else "answerable"
        group = _group(name, row.get("file"), row.get("fact"), str(row["id"]))
        items.append(Item(str(row["id"]), row["question"], gold, group, history, kind=kind))
    return items


def squad_items(path: Path, every: int = 1) -> list[Item]:
    """SQuAD v1.1: each question's gold is its answers, found in the paragraph it was written on (every n-th question)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    items = []
    for a_i, article in enumerate(data["data"]):
        for p_i, para in enumerate(article["paragraphs"]):
            for qa in para["qas"]:
                gold = sorted({a["text"] for a in qa["answers"]})
                items.append(Item(qa["id"], qa["question"], gold, f"squad:{a_i}", relevant=[f"a{a_i:03d}p{p_i:03d}.md"]))
    return items[::every]


def _group(name: str, file: str | None, fact: str | None, qid: str) -> str:
    return f"{name}:{file or fact or qid}"


def group_of(name: str, query: EvalQuery) -> str:
    """The training group of an evaluation question of the shared set ``name`` (as :func:`gold_items` and
    :func:`squad_items` name it), so evaluation can answer it with the fold model that never saw its group."""
    if name == "squad":
        (paragraph,) = query.relevant  # a{article:03d}p{paragraph:03d}.md, as eval_data.load_squad names it
        return f"squad:{int(paragraph[1:4])}"
    return _group(name, query.file, query.fact, query.id)


def shared_sets(
    settings: Settings,
    squad: Path | None = None,
    senate: tuple[Path, Path, Path] | None = None,
    paraphrase: tuple[Path, Path] | None = None,
    archive: Path | None = None,
    squad_every: int = 1,
) -> list[SetSpec]:
    """The shared sets given: SQuAD JSON; Senate (questions, files list, releases root); paraphrase (questions,
    seed releases); an archive folder holding qa.jsonl and corpus/."""
    cache = settings.cache
    sets = []
    if paraphrase:
        sets.append(SetSpec("paraphrase", paraphrase[1], gold_items(paraphrase[0], "paraphrase")))
    if senate:
        corpus, _ = load_listed(senate[0], senate[1], senate[2], cache)
        sets.append(SetSpec("senate", corpus, gold_items(senate[0], "senate")))
    if archive:
        if not (archive / "qa.jsonl").is_file() or not (archive / "corpus").is_dir():
            raise QAError(f"{archive} needs qa.jsonl and a corpus/ folder (the archive-dev layout)")
        sets.append(SetSpec("archive", archive / "corpus", gold_items(archive / "qa.jsonl", "archive")))
    sets.extend([withheld_twin(spec) for spec in sets])
    if squad:
        corpus, _ = load_squad(squad, None, cache)
        sets.append(SetSpec("squad", corpus, squad_items(squad, squad_every)))
    return sets


@dataclass
class Table:
    """Every candidate of every question of one set: features, labels and where it sits."""

    name: str
    items: list[Item]
    features: np.ndarray  # (n, len(FEATURES)); stored on disk as the BASE columns, DERIVED added on loading
    question: np.ndarray  # (n,) index into items
    sentence_right: np.ndarray  # (n,) bool
    passage_right: np.ndarray
    release_right: np.ndarray
    chunk_row: np.ndarray
    release_rank: np.ndarray
    passage_rank: np.ndarray  # retrieval's rank of the candidate's passage, 0 when not retrieved


def _label(item: Item, source: str, sentence: str, passage: str, release: str) -> tuple[bool, bool, bool]:
    golds = [norm(g) for g in item.gold]
    if item.relevant:
        inside = source in item.relevant
        return inside and any(g in norm(sentence) for g in golds), inside, inside
    return tuple(any(g in norm(t) for g in golds) for t in (sentence, passage, release))  # type: ignore[return-value]


def build_table(spec: SetSpec, settings: Settings, log: bool = True) -> Table:
    """Retrieve and describe every question of a set (the index is built or reused under the cache)."""
    folder = index_folder(settings.cache, settings.backend, spec.corpus, f"all-{spec.index_name}")
    session = QA.from_settings(replace(settings, corpus=spec.corpus, index=folder))
    retriever = session.retriever
    index = retriever.index
    sources = index.chunks.column("source")
    release_text: dict[str, str] = {}
    for source, text in zip(sources, index.chunks.column("text"), strict=True):
        release_text[source] = release_text.get(source, "") + " " + text
    normalised = {src: norm(text) for src, text in release_text.items()} if spec.withheld else {}
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("f", "q", "s", "p", "r", "row", "rr", "pr")}
    for i, item in enumerate(spec.items):
        if log and i % 200 == 0:
            print(f"  {spec.name}: {i}/{len(spec.items)} questions", file=sys.stderr, flush=True)
        allowed = _without_answer(item, sources, normalised) if spec.withheld else None
        d = gather(retriever, item.question, item.history, allowed=allowed)
        labels = [
            _label(
                item,
                c.source,
                index.chunks[c.chunk_row].text[c.start : c.end],
                index.chunks[c.chunk_row].text,
                release_text[c.source],
            )
            for c in d.candidates
        ]
        n = len(d.candidates)
        parts["f"].append(d.features[:, : len(BASE)])
        parts["q"].append(np.full(n, i))
        for key, col in zip("spr", range(3), strict=False):
            parts[key].append(np.array([lab[col] for lab in labels], dtype=bool))
        parts["row"].append(np.array([c.chunk_row for c in d.candidates], dtype=np.int64))
        parts["rr"].append(np.array([c.release_rank for c in d.candidates], dtype=np.int64))
        parts["pr"].append(np.array([c.passage_rank or 0 for c in d.candidates], dtype=np.int64))
    cat = {k: np.concatenate(v) if v else np.zeros(0) for k, v in parts.items()}
    return Table(
        spec.name,
        spec.items,
        cat["f"].reshape(-1, len(BASE)),
        cat["q"].astype(np.int64),
        cat["s"].astype(bool),
        cat["p"].astype(bool),
        cat["r"].astype(bool),
        cat["row"].astype(np.int64),
        cat["rr"].astype(np.int64),
        cat["pr"].astype(np.int64),
    )


def _without_answer(item: Item, sources: Sequence[str], normalised: dict[str, str]) -> np.ndarray:
    """Chunk mask leaving out every release that holds one of the item's gold strings (release texts normalised)."""
    golds = [norm(g) for g in item.gold]
    holding = {src for src, text in normalised.items() if any(g in text for g in golds)}
    return np.array([src not in holding for src in sources], dtype=bool)


def _code_digest() -> str:
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for name in _TABLE_CODE:
        digest.update((here / f"{name}.py").read_bytes())
    return digest.hexdigest()


def _key(spec: SetSpec) -> str:
    chunking = asdict(ChunkConfig())  # the index the candidates come from: another chunking, other candidates
    payload = json.dumps([FEATURE_VERSION, _code_digest(), chunking, list(BASE), [asdict(i) for i in spec.items]])
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def load_table(spec: SetSpec, settings: Settings) -> Table:
    """The set's table from the cache, built first when missing."""
    path = settings.cache / "ranker" / f"table-{spec.name}-{settings.backend}-{_key(spec)}.npz"
    if not path.exists():
        t = build_table(spec, settings)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(
            tmp,
            features=t.features,
            question=t.question,
            sentence_right=t.sentence_right,
            passage_right=t.passage_right,
            release_right=t.release_right,
            chunk_row=t.chunk_row,
            release_rank=t.release_rank,
            passage_rank=t.passage_rank,
        )
        tmp.rename(path)
    data = np.load(path)
    table = Table(spec.name, spec.items, *(data[k] for k in Table.__dataclass_fields__ if k not in ("name", "items")))
    return replace(table, features=derive(table.features, table.release_rank, table.question))


def tables(specs: Sequence[SetSpec], settings: Settings) -> list[Table]:
    return [load_table(spec, settings) for spec in specs]
