"""Ingestion checked file by file on real releases, beside plain trafilatura and plain pypdf.

    python benchmarks/ingest_real.py REAL_RELEASES --senate SENATE_RAW

Expectations (title, date, strings that must not survive, paragraph counts) are in
benchmarks/ingest_real_expected.json, written by reading each original (the Senate releases are
the first 20 of the Senate dev set's files list, senate_dev_files.txt);
paragraph ranges are +-20% around counts checked against each original's layout. A title matches when it
equals the expected one after case folding and NFKC; a date when it is the expected ISO date
(``null`` where the release states none). "Mid-sentence" counts paragraphs that end without
closing punctuation while the next one starts in lower case: a line break taken for a paragraph.

Copies of one release in two formats ("same_release_as") are compared by the word 3-shingle
Jaccard similarity the index uses to merge near-duplicates.

Baselines: HTML through trafilatura.extract with its defaults (title and date from its
metadata); PDF through pypdf's extract_text (plain and layout mode, blank lines as paragraph
breaks; title from the metadata, else the first line); Markdown and text read as they are
(first line as title, blank lines as paragraph breaks). Baseline dates are the first full date
in the text (metadata date for HTML).
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import re
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from qa import QAError
from qa.corpus import read_release
from qa.metadata import find_date

EXPECTED = Path(__file__).with_name("ingest_real_expected.json")
FORMATS = {".html": "HTML", ".htm": "HTML", ".md": "Markdown", ".pdf": "PDF", ".txt": "Senate text"}


@dataclass
class Parsed:
    title: str | None
    date: str | None
    paragraphs: list[str] = field(default_factory=list)
    error: str | None = None


def fold(text: str | None) -> str:
    text = unicodedata.normalize("NFKC", text or "").casefold()
    text = re.sub(r"[‘’`]", "'", re.sub(r"[“”]", '"', re.sub(r"[–—]", "-", text)))
    return " ".join(text.split())


def ours(path: Path) -> Parsed:
    try:
        r = read_release(path)
    except QAError as exc:
        return Parsed(None, None, [], str(exc))
    return Parsed(r.title, r.date, list(r.paragraphs))


def _blank_line_paragraphs(text: str) -> list[str]:
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip()]


def plain(path: Path, layout: bool = False) -> Parsed:
    data = path.read_bytes()
    suffix = path.suffix.lower()
    try:
        if suffix in (".html", ".htm"):
            import trafilatura

            found = trafilatura.extract(data.decode("utf-8", "replace"), output_format="json", with_metadata=True)
            doc = json.loads(found) if found else {}
            return Parsed(
                doc.get("title"), find_date(doc.get("date") or ""), [p for p in (doc.get("text") or "").split("\n") if p.strip()]
            )
        if suffix == ".pdf":
            from pypdf import PdfReader

            reader = PdfReader(io.BytesIO(data))
            pages = [p.extract_text(extraction_mode="layout") if layout else p.extract_text() for p in reader.pages]
            text = "\n\n".join(pg or "" for pg in pages)
            paras = _blank_line_paragraphs(text) if layout else [ln.strip() for ln in text.splitlines() if ln.strip()]
            meta_title = str((reader.metadata or {}).get("/Title") or "").strip() or None
            return Parsed(meta_title or (paras[0] if paras else None), find_date(text), paras)
        text = data.decode("utf-8", "replace")
        paras = _blank_line_paragraphs(text)
        return Parsed(paras[0].lstrip("# ") if paras else None, find_date(text), paras)
    except Exception as exc:
        return Parsed(None, None, [], f"{type(exc).__name__}: {exc}")


def mid_sentence(paragraphs: list[str]) -> int:
    return sum(
        1
        for a, b in itertools.pairwise(paragraphs)
        if not re.search(r"[.!?:;\"”’)\]]$", a) and re.match(r"[a-z]{2,}\b(?![.)])", b)
    )


def check(parsed: Parsed, exp: dict) -> dict[str, object]:
    titles = [exp["title"], *exp.get("title_also", [])]
    dates = [exp.get("date"), *exp.get("date_also", [])]
    text = "\n".join(parsed.paragraphs)
    left = [s for s in exp.get("absent", []) if s.lower() in text.lower()]
    left += [p for p in exp.get("not_a_paragraph", []) if any(fold(x) == fold(p) for x in parsed.paragraphs)]
    lo, hi = exp.get("paragraphs", [0, 10**6])
    return {
        "title": fold(parsed.title) in {fold(t) for t in titles},
        "date": parsed.date in dates,
        "boilerplate": left,
        "count": lo <= len(parsed.paragraphs) <= hi,
        "mid": mid_sentence(parsed.paragraphs),
        "error": parsed.error,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", type=Path, help="the real-releases folder")
    ap.add_argument("--senate", type=Path, help="folder of raw Senate releases")
    ap.add_argument("--expected", type=Path, default=EXPECTED)
    ap.add_argument("--details", action="store_true", help="print every miss, file by file")
    args = ap.parse_args(argv)
    expected = json.loads(args.expected.read_text(encoding="utf-8"))
    files: list[tuple[str, Path]] = []
    for key in sorted(expected):
        if key.startswith("senate:"):
            if args.senate:
                files.append((key, args.senate / key.split(":", 1)[1]))
        else:
            files.append((key, args.folder / key))
    missing = [str(p) for _, p in files if not p.exists()]
    if missing:
        print(f"error: {len(missing)} expected files not found, e.g. {missing[0]}", file=sys.stderr)
        return 1
    on_disk = {p.relative_to(args.folder).as_posix() for p in args.folder.rglob("*") if p.suffix.lower() in FORMATS}
    unexpected = sorted(on_disk - set(expected))
    if unexpected:
        print(f"note: {len(unexpected)} files have no expectations: {', '.join(unexpected[:5])}", file=sys.stderr)

    methods = {"ours": ours, "plain": plain, "pypdf layout": lambda p: plain(p, layout=True)}
    rows: dict[tuple[str, str], list[dict]] = {}
    for key, path in files:
        fmt = FORMATS[path.suffix.lower()]
        for name, fn in methods.items():
            if name == "pypdf layout" and fmt != "PDF":
                continue
            result = check(fn(path), expected[key])
            rows.setdefault((fmt, name), []).append(result)
            if args.details and name == "ours":
                misses = [k for k in ("title", "date", "count") if not result[k]]
                if misses or result["boilerplate"] or result["mid"] or result["error"]:
                    got = fn(path)
                    print(
                        f"{key}: misses {misses} boilerplate {result['boilerplate']} mid {result['mid']} "
                        f"| got title={got.title!r} date={got.date} paragraphs={len(got.paragraphs)} {result['error'] or ''}"
                    )
    plain_name = {"HTML": "trafilatura", "PDF": "pypdf", "Markdown": "raw text", "Senate text": "raw text"}
    print(
        f"\n{'format':<12} {'method':<13} {'files':>5} {'titles':>7} {'dates':>6} {'boilerplate left':>17} "
        f"{'para count ok':>14} {'mid-sentence':>13}"
    )
    order = ["HTML", "Markdown", "PDF", "Senate text"]
    totals: dict[str, list[int]] = {}
    for fmt in order:
        for name in methods:
            res = rows.get((fmt, name))
            if not res:
                continue
            label = "ours" if name == "ours" else (plain_name[fmt] if name == "plain" else name)
            n = len(res)
            t, d = sum(r["title"] for r in res), sum(r["date"] for r in res)
            b = sum(bool(r["boilerplate"]) for r in res)
            c, m = sum(r["count"] for r in res), sum(r["mid"] for r in res)
            print(f"{fmt:<12} {label:<13} {n:>5} {t:>4}/{n:<2} {d:>3}/{n:<2} {b:>10} files {c:>8}/{n:<2} {m:>10}")
            if name != "pypdf layout":
                tot = totals.setdefault(name, [0, 0, 0, 0, 0, 0])
                for i, v in enumerate((n, t, d, b, c, m)):
                    tot[i] += v
    for name, (n, t, d, b, c, m) in totals.items():
        print(
            f"{'all':<12} {'ours' if name == 'ours' else 'plain':<13} {n:>5} {t:>4}/{n:<2} {d:>3}/{n:<2} "
            f"{b:>10} files {c:>8}/{n:<2} {m:>10}"
        )

    def shingles(paragraphs: list[str]) -> set[str]:
        words = re.findall(r"\w+", " ".join(paragraphs).lower())
        return {" ".join(words[i : i + 3]) for i in range(len(words) - 2)}

    pairs = [(k, e["same_release_as"]) for k, e in expected.items() if e.get("same_release_as")]
    if pairs:
        print("\ncopies of one release (word 3-shingle Jaccard; near-duplicate merging needs >= 0.7):")
        for a, b in pairs:
            pa, pb = args.folder / a, args.folder / b
            j = {
                name: (lambda x, y: len(x & y) / max(1, len(x | y)))(shingles(fn(pa).paragraphs), shingles(fn(pb).paragraphs))
                for name, fn in (("ours", ours), ("plain", plain))
            }
            print(f"  {a[:48]:<48} ~ {b[:40]:<40} ours {j['ours']:.2f}  plain {j['plain']:.2f}")
    shared = [r for (fmt, name), res in rows.items() if name == "ours" and fmt != "Senate text" for r in res]
    print(
        f"\nshared real releases: titles right {sum(r['title'] for r in shared)}/{len(shared)}, "
        f"dates right {sum(r['date'] for r in shared)}/{len(shared)}, files with boilerplate left "
        f"{sum(bool(r['boilerplate']) for r in shared)}, PDF mid-sentence breaks "
        f"{sum(r['mid'] for r in rows.get(('PDF', 'ours'), []))}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
