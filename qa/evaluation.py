"""Stage 7: evaluation -- is the right passage first, and against what a user would use instead?

Each evaluator is a callable returning a dict of metrics with one primary
metric (the sentence-transformers convention). Every run scores, in the same
process and on the same chunks, the peers a user might pick instead of this
project: BM25 alone (bm25s), dense alone (plain sentence-transformers + FAISS
flat), reciprocal-rank fusion of the two, and this project's full pipeline
through the same ``QA.ask`` the chat and the CLI use.

Formats:
  gold   JSONL {"id", "question", "history"?, "gold": [substring, ...]}; gold [] = unanswerable
  squad  SQuAD v1.1 JSON: every paragraph a document, its questions' gold is that paragraph
  beir   folder with corpus.jsonl, queries.jsonl, qrels/<split>.tsv
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .answer import QA, AbstainPolicy
from .errors import QAError
from .retrieval import FusionConfig
from .store import bm25_tokenize

__all__ = ["EvalQuery", "GoldQAEvaluator", "RetrievalEvaluator", "load_gold", "load_squad", "load_beir", "metrics_at", "calibrate"]

CACHE = Path(os.environ.get("QA_CACHE", Path(__file__).resolve().parent.parent / ".cache")) / "eval"


# ------------------------------------------------------------------ metrics


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def metrics_at(rankings: Sequence[Sequence[bool]], ks: Sequence[int] = (1, 3, 5, 10), gains: Sequence[Sequence[float]] | None = None,
               n_relevant: Sequence[int] | None = None) -> dict[str, float]:
    """hit@k, MRR@10 and nDCG@10 from per-query relevance lists (rank order)."""
    n = len(rankings)
    if n == 0:
        return {}
    out: dict[str, float] = {}
    for k in ks:
        out[f"hit@{k}"] = sum(any(r[:k]) for r in rankings) / n
    out["mrr@10"] = sum(next((1 / (i + 1) for i, rel in enumerate(r[:10]) if rel), 0.0) for r in rankings) / n
    ndcg = 0.0
    for qi, r in enumerate(rankings):
        g = gains[qi] if gains else [1.0 if rel else 0.0 for rel in r]
        dcg = sum(gi / math.log2(i + 2) for i, gi in enumerate(g[:10]))
        ideal_n = n_relevant[qi] if n_relevant else sum(1 for x in r if x)
        ideal = sorted(g, reverse=True)[:10] if gains else [1.0] * min(10, max(ideal_n, 1 if any(r) else 0))
        idcg = sum(gi / math.log2(i + 2) for i, gi in enumerate(ideal))
        ndcg += dcg / idcg if idcg > 0 else 0.0
    out["ndcg@10"] = ndcg / n
    return out


def percentiles(ms: Sequence[float]) -> dict[str, float]:
    if not ms:
        return {"p50_ms": 0.0, "p95_ms": 0.0}
    return {"p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95))}


# ------------------------------------------------------------------ datasets


@dataclass
class EvalQuery:
    id: str
    question: str
    history: list[str] = field(default_factory=list)
    gold: list[str] = field(default_factory=list)  # gold substrings (gold format)
    relevant: dict[str, float] = field(default_factory=dict)  # source file -> gain (squad/beir)
    split: str = "test"

    @property
    def answerable(self) -> bool:
        return bool(self.gold or self.relevant)


def load_gold(path: Path) -> list[EvalQuery]:
    queries = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            queries.append(EvalQuery(str(item["id"]), item["question"], list(item.get("history") or []),
                                     list(item.get("gold") or []), split=item.get("split", "test")))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise QAError(f"{path} line {number} is not a gold QA record ({exc}): expected {{\"id\", \"question\", \"gold\": [...]}}") from None
    return queries


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:80]


def _write_docs(docs: list[tuple[str, str, str]], name: str) -> Path:
    """Write (id, title, text) documents as Markdown releases in a cached corpus folder; returns the folder."""
    digest = hashlib.sha256(json.dumps(docs).encode()).hexdigest()[:10]
    folder = CACHE / f"{name}-{digest}" / "corpus"
    if not folder.exists():
        tmp = folder.with_name("corpus.tmp")
        tmp.mkdir(parents=True, exist_ok=True)
        for doc_id, title, text in docs:
            (tmp / f"{doc_id}.md").write_text(f"# {title}\n\n{text}\n", encoding="utf-8")
        tmp.rename(folder)
    return folder


def load_squad(path: Path, limit: int | None = None) -> tuple[Path, list[EvalQuery]]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    docs: list[tuple[str, str, str]] = []
    queries: list[EvalQuery] = []
    for a_i, article in enumerate(data["data"]):
        title = article["title"].replace("_", " ")
        for p_i, para in enumerate(article["paragraphs"]):
            doc_id = f"a{a_i:03d}p{p_i:03d}"
            docs.append((doc_id, title, para["context"]))
            for qa in para["qas"]:
                queries.append(EvalQuery(qa["id"], qa["question"], relevant={f"{doc_id}.md": 1.0}))
    if limit:
        queries = queries[:limit]
    return _write_docs(docs, "squad"), queries


def load_beir(folder: Path, split: str = "test", limit: int | None = None) -> tuple[Path, list[EvalQuery]]:
    folder = Path(folder)
    for need in ("corpus.jsonl", "queries.jsonl", f"qrels/{split}.tsv"):
        if not (folder / need).exists():
            raise QAError(f"{folder} is not a BEIR folder: {need} is missing")
    docs, names = [], {}
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
    return _write_docs(docs, "beir-" + folder.name), queries[:limit] if limit else queries


# --------------------------------------------------------------------- peers


class _Peers:
    """BM25-only and dense-only baselines built from the raw libraries over the same chunk texts."""

    def __init__(self, session: QA) -> None:
        import bm25s
        import faiss

        index = session.ensure_index()
        texts = [c.text for c in index.chunks]
        self.bm25 = bm25s.BM25()
        self.bm25.index(bm25_tokenize(texts), show_progress=False)
        from .embedding import Encoder

        # The plain SentenceTransformer: the session's own when it runs torch, loaded once otherwise.
        reference = session.encoder if isinstance(session.encoder, Encoder) else Encoder(session.encoder.name)
        self.model = reference.model
        cache = session.folder / f"peer-dense-{hashlib.sha256(''.join(texts).encode()).hexdigest()[:12]}.npy"
        if cache.exists():
            vectors = np.load(cache)
        else:
            vectors = self.model.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True,
                                        show_progress_bar=len(texts) > 200).astype(np.float32)
            np.save(cache, vectors)
        self.flat = faiss.IndexFlatIP(vectors.shape[1])
        self.flat.add(vectors)
        self.n = len(texts)

    def bm25_rows(self, question: str, k: int) -> list[int]:
        tokens = bm25_tokenize([question])[0]
        if not tokens:
            return []
        scores = self.bm25.get_scores(tokens)
        top = np.argsort(-scores, kind="stable")[:k]
        return [int(i) for i in top if scores[i] > 0]

    def dense_rows(self, question: str, k: int) -> list[int]:
        q = self.model.encode([question], normalize_embeddings=True, convert_to_numpy=True).astype(np.float32)
        _, rows = self.flat.search(q, k)
        return [int(r) for r in rows[0] if r >= 0]

    def rrf_rows(self, question: str, k: int, c: int = 60) -> list[int]:
        score: dict[int, float] = {}
        for rows in (self.bm25_rows(question, 100), self.dense_rows(question, 100)):
            for rank, row in enumerate(rows, start=1):
                score[row] = score.get(row, 0.0) + 1 / (c + rank)
        return sorted(score, key=lambda r: -score[r])[:k]


# ------------------------------------------------------------------ evaluators


Judge = Callable[[EvalQuery, Any], bool]  # (query, chunk) -> relevant?


def _judge(query: EvalQuery, chunk: Any) -> bool:
    if query.relevant:
        return chunk.source in query.relevant
    text = _norm(chunk.text)
    return any(_norm(g) in text for g in query.gold)


class RetrievalEvaluator:
    """Ranks every query with each method; returns metrics per method and the misses of the full pipeline."""

    primary_metric = "mrr@10"

    def __init__(self, queries: list[EvalQuery], name: str = "eval", k: int = 10, peers: bool = True,
                 ks: Sequence[int] = (1, 3, 5, 10)) -> None:
        self.queries = queries
        self.name = name
        self.k = k
        self.peers = peers
        self.ks = ks

    def __call__(self, session: QA) -> dict[str, Any]:
        index = session.ensure_index()
        chunks = index.chunks
        methods: dict[str, Callable[[EvalQuery], tuple[list[int], Any]]] = {}
        if self.peers:
            peers = _Peers(session)
            methods["bm25 (bm25s)"] = lambda q: (peers.bm25_rows(q.question, self.k), None)
            methods["dense (sentence-transformers + FAISS flat)"] = lambda q: (peers.dense_rows(q.question, self.k), None)
            methods["rrf hybrid (bm25s + dense)"] = lambda q: (peers.rrf_rows(q.question, self.k), None)
        row_of = {(c.source, c.paragraph, c.part): i for i, c in enumerate(chunks)}

        def full(q: EvalQuery) -> tuple[list[int], Any]:
            answer = session.ask(q.question, self.k, q.history)
            rows = [row_of[(p.source, p.paragraph, p.part)] for p in answer.passages]
            return rows, answer

        methods["release-qa (hybrid + follow-ups)"] = full
        results: dict[str, Any] = {"dataset": self.name, "queries": len(self.queries), "chunks": len(chunks), "methods": {}}
        for name, run in methods.items():
            run(self.queries[0]) if self.queries else None  # warm-up, not timed
            rankings, gains, latencies, answers = [], [], [], []
            for q in self.queries:
                t = time.perf_counter()
                rows, answer = run(q)
                latencies.append((time.perf_counter() - t) * 1000)
                rel = [_judge(q, chunks[r]) for r in rows]
                rankings.append(rel)
                gains.append([q.relevant.get(chunks[r].source, 0.0) if q.relevant else float(x) for r, x in zip(rows, rel)])
                answers.append(answer)
            answerable = [i for i, q in enumerate(self.queries) if q.answerable]
            m = metrics_at([rankings[i] for i in answerable], self.ks, [gains[i] for i in answerable],
                           [max(1, len(self.queries[i].relevant)) for i in answerable])
            m.update(percentiles(latencies))
            if answers[0] is not None:
                stages = [a.timings for a in answers]
                m["retrieval_p50_ms"] = float(np.percentile([s["encode_ms"] + s["dense_ms"] + s["bm25_ms"] + s["fusion_ms"] for s in stages], 50))
                m.update(_answer_metrics(self.queries, rankings, answers))
            results["methods"][name] = m
            if name.startswith("release-qa"):
                results["misses"] = [
                    {"id": q.id, "question": q.question, "history": q.history, "gold": q.gold or sorted(q.relevant),
                     "got": chunks[r[0]].text[:160] if (r := rows_) else None, "no_answer": a.no_answer}
                    for q, rel, rows_, a in zip(self.queries, rankings, [[row_of[(p.source, p.paragraph, p.part)] for p in a.passages] for a in answers], answers)
                    if (q.answerable and not (rel and rel[0])) or (q.answerable == a.no_answer)
                ][:200]
        results["primary_metric"] = self.primary_metric
        results["primary"] = results["methods"]["release-qa (hybrid + follow-ups)"].get(self.primary_metric, 0.0)
        return results


def _answer_metrics(queries: list[EvalQuery], rankings: list[list[bool]], answers: list[Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    unans = [i for i, q in enumerate(queries) if not q.answerable]
    ans = [i for i, q in enumerate(queries) if q.answerable]
    abstained = [i for i, a in enumerate(answers) if a.no_answer]
    if unans:
        out["abstain_recall"] = sum(1 for i in unans if answers[i].no_answer) / len(unans)
        out["abstain_precision"] = (sum(1 for i in abstained if not queries[i].answerable) / len(abstained)) if abstained else 0.0
    if ans:
        out["false_abstain"] = sum(1 for i in ans if answers[i].no_answer) / len(ans)
    follow = [i for i in ans if queries[i].history]
    if follow:
        out["followup_hit@1"] = sum(1 for i in follow if rankings[i] and rankings[i][0]) / len(follow)
    return out


GoldQAEvaluator = RetrievalEvaluator  # gold substrings are judged by the same evaluator


def calibrate(session: QA, queries: list[EvalQuery], max_false_abstain: float = 0.03) -> dict[str, Any]:
    """The abstention policy that abstains on the most unanswerable questions while wrongly abstaining on at most
    ``max_false_abstain`` of the answerable ones.

    Every question gets its confidence and its coverage check, then a grid over
    the four :class:`AbstainPolicy` values is scored at once. Ties go to the
    policy that abstains least and checks fewest questions (lowest values), so
    nothing is tuned beyond what the split shows.
    """
    conf, cov, worst, answerable = [], [], [], []
    kept, session.abstain = session.abstain, AbstainPolicy(-math.inf, math.inf, 0.0, 0.0)  # check every question
    try:
        for q in queries:
            a = session.ask(q.question, 5, q.history)
            conf.append(a.confidence)
            cov.append(1.0 if a.coverage is None else a.coverage)
            worst.append(min((share for _, share in a.coverage_words), default=1.0))
            answerable.append(q.answerable)
    finally:
        session.abstain = kept
    if not any(answerable):
        raise QAError("calibration needs answerable questions in the split")
    c, v, w, ans = (np.array(x)[:, None] for x in (conf, cov, worst, answerable))
    allowed = int(math.floor(max_false_abstain * int(ans.sum())))
    best: tuple[Any, ...] | None = None
    grid = [(cv, wd) for cv in np.round(np.arange(0.30, 0.801, 0.02), 2)
            for wd in np.round(np.concatenate([[0.0], np.arange(0.15, 0.301, 0.01)]), 2)]
    cvs = np.array([g[0] for g in grid])[None, :]
    wds = np.array([g[1] for g in grid])[None, :]
    for floor in np.round(np.arange(0.0, 0.301, 0.01), 2):
        for check_below in np.round(np.arange(0.30, 0.801, 0.02), 2):
            abstain = (c < floor) | ((c < check_below) & ((v < cvs) | (w < wds)))  # questions x policies
            false = (abstain & ans).sum(axis=0)
            caught = (abstain & ~ans).sum(axis=0)
            for j in np.flatnonzero(false <= allowed):
                key = (-int(caught[j]), int(false[j]), check_below, floor, grid[j][0], grid[j][1])
                if best is None or key < best:
                    best = key
    if best is None:
        raise QAError(f"no policy keeps false abstentions at or under {max_false_abstain:.0%} on this split: "
                      "check that its answerable questions have gold passages in the corpus")
    check_below, floor, coverage, word = (float(x) for x in best[2:])
    policy = AbstainPolicy(floor=floor, check_below=check_below, coverage=coverage, word=word)
    n_ans, n_unans = int(ans.sum()), int((~ans).sum())
    return {"policy": asdict(policy), "abstain_recall": -best[0] / n_unans if n_unans else 0.0,
            "false_abstain": best[1] / n_ans, "answerable": n_ans, "unanswerable": n_unans,
            "set": f"QA_ABSTAIN={policy.floor},{policy.check_below},{policy.coverage},{policy.word}"}


# ------------------------------------------------------------------ reports


def write_report(results: dict[str, Any], out: Path) -> str:
    """Markdown table + JSON + bar chart PNG in ``out``; returns the Markdown."""
    out.mkdir(parents=True, exist_ok=True)
    cols = [c for c in ("hit@1", "hit@3", "hit@5", "hit@10", "mrr@10", "ndcg@10", "p50_ms", "p95_ms", "retrieval_p50_ms",
                        "abstain_precision", "abstain_recall", "false_abstain", "followup_hit@1")
            if any(c in m for m in results["methods"].values())]
    lines = [f"**{results['dataset']}** — {results['queries']} queries over {results['chunks']} chunks", "",
             "| method | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    for name, m in results["methods"].items():
        cells = [(f"{m[c]:.1f}" if c.endswith("_ms") else f"{m[c]:.3f}") if c in m else "" for c in cols]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    md = "\n".join(lines) + "\n"
    (out / "results.md").write_text(md, encoding="utf-8")
    (out / "results.json").write_text(json.dumps(results, indent=1, ensure_ascii=False), encoding="utf-8")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        metrics = [c for c in ("hit@1", "mrr@10", "ndcg@10") if c in cols]
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
        fig.savefig(out / "results.png", dpi=120)
        plt.close(fig)
    except ImportError:
        pass
    return md


# ------------------------------------------------------------------------ CLI


def add_eval_parser(sub: Any) -> None:
    from .answer import DEFAULT_CORPUS

    p = sub.add_parser("eval", help="evaluate retrieval and answers against peers")
    esub = p.add_subparsers(dest="format", required=True, parser_class=type(p))

    def common(q: argparse.ArgumentParser, default_out: str) -> None:
        q.add_argument("--index", type=Path, default=None, help="index folder (default: a cache folder per dataset)")
        q.add_argument("--model", default=None)
        q.add_argument("--backend", choices=["torch", "onnx", "onnx-int8"], default=None)
        q.add_argument("--k", type=int, default=10)
        q.add_argument("--limit", type=int, default=None, help="evaluate only the first N questions")
        q.add_argument("--no-peers", action="store_true", help="skip the BM25/dense/RRF peers")
        q.add_argument("--weights", default=None, metavar="P,S,B", help="fusion weights: paragraph, sentence, BM25 (default: the tuned ones)")
        q.add_argument("--fusion", choices=["convex", "rrf", "dense", "bm25"], default=None)
        q.add_argument("--out", type=Path, default=Path("eval/results") / default_out)

    g = esub.add_parser("gold", help="gold-substring QA (JSONL)")
    g.add_argument("data", type=Path, nargs="?", default=Path("eval/seed_qa.jsonl"))
    g.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
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

    c = esub.add_parser("calibrate", help="abstention threshold from the held-out split")
    c.add_argument("data", type=Path, nargs="?", default=Path("eval/seed_qa.jsonl"))
    c.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    c.add_argument("--index", type=Path, default=None)
    c.add_argument("--model", default=None)
    c.add_argument("--split", default="dev")
    c.set_defaults(run=_run_calibrate)


def _session(args: argparse.Namespace, corpus: Path, name: str) -> QA:
    fusion = FusionConfig()
    if args.weights or args.fusion:
        try:
            p, s, b = (float(x) for x in args.weights.split(",")) if args.weights else (fusion.paragraph, fusion.sentence, fusion.bm25)
        except ValueError:
            raise QAError(f"--weights takes three numbers like 0.3,0.4,0.3, got {args.weights!r}") from None
        fusion = FusionConfig(method=args.fusion or fusion.method, paragraph=p, sentence=s, bm25=b)
    folder = args.index or (corpus.parent / "index" if str(corpus).startswith(str(CACHE)) else CACHE / f"{name}-index")
    return QA(corpus, folder, args.model, backend=args.backend, fusion=fusion)


def _finish(results: dict[str, Any], out: Path) -> int:
    print(write_report(results, out))
    if results.get("misses"):
        print(f"{len(results['misses'])} misses (first 10):")
        for miss in results["misses"][:10]:
            print(f"  - [{miss['id']}] {miss['question']} -> {str(miss['got'])[:100]!r}")
    print(f"\nwrote {out}/results.md, results.json, results.png")
    return 0


def _run_gold(args: argparse.Namespace) -> int:
    queries = [q for q in load_gold(args.data) if args.split == "all" or q.split == args.split]
    if not queries:
        raise QAError(f"no questions with split {args.split!r} in {args.data}")
    session = _session(args, args.corpus, "gold")
    return _finish(RetrievalEvaluator(queries[: args.limit] if args.limit else queries, f"{args.data.name} [{args.split}]",
                                      args.k, not args.no_peers, ks=(1, 3, 5, 10))(session), args.out)


def _run_squad(args: argparse.Namespace) -> int:
    corpus, queries = load_squad(args.data, args.limit)
    return _finish(RetrievalEvaluator(queries, f"SQuAD {args.data.name}", args.k, not args.no_peers, ks=(1, 5, 10))(
        _session(args, corpus, "squad")), args.out)


def _run_beir(args: argparse.Namespace) -> int:
    corpus, queries = load_beir(args.data, args.split, args.limit)
    return _finish(RetrievalEvaluator(queries, f"BEIR {args.data.name}", args.k, not args.no_peers, ks=(1, 5, 10))(
        _session(args, corpus, "beir")), args.out)


def _run_calibrate(args: argparse.Namespace) -> int:
    queries = [q for q in load_gold(args.data) if args.split == "all" or q.split == args.split]
    session = QA(args.corpus, args.index or CACHE / "gold-index", args.model)
    result = calibrate(session, queries)
    print(json.dumps(result, indent=1))
    print(f"put these values in AbstainPolicy's defaults in qa/answer.py, or try them with {result['set']}")
    return 0
