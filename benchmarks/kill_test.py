"""Kill `python -m qa index` with SIGKILL at random moments; the previous index must load and answer every time.

    python benchmarks/kill_test.py [--kills 20] [--releases 60] [--seed 0]
    python benchmarks/kill_test.py --race 12 [--releases 30] [--seed 0]

With ``--race N``: N rounds of the removal/upload race instead. In each round another writer holds the
index lock for a random time; one process removes a release while another uploads a different file
under the same name, each waiting a random time for the index; either may be killed at a random
moment. After every round no release may be lost (its bytes are in the corpus or in the trash of
removed releases) and no file may have been written over. Prints a table; exits non-zero on any loss.

Builds a baseline index over a generated corpus (paragraphs of the seed and
fixture releases, shuffled into distinct releases). Then, again and again: when
the index is up to date, a batch of new releases is added, so every `qa index`
has real embedding and writing to do; `qa index` is started and killed at a
random moment of that build. After each kill the index in place must load, pass
its consistency checks and answer a question; at the end one uninterrupted
`qa index` must finish the job. Prints a table; exits non-zero on any failure.
"""

from __future__ import annotations

import argparse
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from qa import QA, IndexStatus, index_status, load_index
from qa.corpus import read_corpus
from qa.environment import child_environment

ROOT = Path(__file__).resolve().parent.parent


def make_corpus(folder: Path, n: int, rng: random.Random, first: int = 0) -> None:
    paragraphs = [
        p for src in (ROOT / "seeds", ROOT / "tests" / "fixtures" / "releases") for r in read_corpus(src) for p in r.paragraphs
    ]
    for i in range(first, first + n):
        body = rng.sample(paragraphs, k=min(6, len(paragraphs)))
        text = f"Release Number {i} On Regional Cooperation And Security\n\nPublished {1 + i % 28} March 2024\n\n"
        text += f"This is release {i}, issued by office {rng.randint(1, 999)} for the record.\n\n" + "\n\n".join(body)
        (folder / f"release_{i:04d}.txt").write_text(text, encoding="utf-8")


def qa_index(corpus: Path, index: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "qa", "index", "--corpus", str(corpus), "--index", str(index)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=child_environment(PYTHONPATH=str(ROOT)),
    )


REMOVE = """
import sys
from qa import QA, QAError
from qa.library import remove_release
s = QA(sys.argv[1], sys.argv[2], auto_build=False)
s.update = lambda **kw: QA.update(s, lock_wait=float(sys.argv[4]), **kw)
try:
    remove_release(s, sys.argv[3])
    print("removed")
except QAError as exc:
    print("refused:", exc)
"""
UPLOAD = """
import sys
from qa import QA
s = QA(sys.argv[1], sys.argv[2], auto_build=False)
s.update = lambda **kw: QA.update(s, lock_wait=float(sys.argv[5]), **kw)
r = s.add_releases([sys.argv[4]], [sys.argv[3]])[0]
print(r.status, r.reason)
"""
HOLD = """
import sys, time
from filelock import FileLock
with FileLock(sys.argv[1] + "/.lock"):
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def child(code: str, *args: object) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code, *map(str, args)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=child_environment(PYTHONPATH=str(ROOT)),
    )


def last_line(process: subprocess.Popen) -> str:
    """The child's last line of output ("" if it was killed before it said anything)."""
    lines = (process.communicate()[0] or "").strip().splitlines()
    return lines[-1] if lines else ""


def holders_of(data: bytes, folders: list[Path]) -> list[Path]:
    return [p for folder in folders if folder.exists() for p in folder.rglob("*.txt") if p.read_bytes() == data]


def race(args: argparse.Namespace, rng: random.Random, work: Path) -> int:
    """Removal and same-name upload with the index lock held elsewhere, with kills: nothing may be lost."""
    corpus, index = work / "corpus", work / "index"
    assert qa_index(corpus, index).wait() == 0
    trash = corpus.parent / f".{corpus.name}-removed"
    counts = {"kills": 0, "removed": 0, "removal refused": 0, "added": 0, "upload rejected": 0, "lost": 0, "overwritten": 0}
    for n in range(args.race):
        name = f"release_{n:04d}.txt"
        original = (corpus / name).read_bytes()
        upload = work / f"upload-{n}"
        upload.write_bytes(f"Harbour Notice {n}\n\nBerth {n} closes for {n + 2} weeks of repairs from 3 June 2024.\n".encode())
        holder = child(HOLD, index, rng.uniform(0.5, 6.0))
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        remover = child(REMOVE, corpus, index, name, rng.uniform(0.5, 4.0))
        uploader = child(UPLOAD, corpus, index, name, upload, rng.uniform(0.5, 4.0))
        if rng.random() < 0.6:  # kill one of them part way
            time.sleep(rng.uniform(0.5, 8.0))
            victim = rng.choice([remover, uploader])
            if victim.poll() is None:
                victim.send_signal(signal.SIGKILL)
                counts["kills"] += 1
        outs = [last_line(p) for p in (remover, uploader)]
        holder.wait()
        counts["removed" if outs[0].startswith("removed") else "removal refused"] += 1
        counts["added" if outs[1].startswith("added") else "upload rejected"] += 1
        kept = holders_of(original, [corpus, trash])
        mine = holders_of(upload.read_bytes(), [corpus, trash])
        lost = not kept
        overwritten = any(p.parent == corpus and p.name != name for p in mine) or (
            (corpus / name).exists() and (corpus / name).read_bytes() not in (original, upload.read_bytes())
        )
        counts["lost"] += lost
        counts["overwritten"] += overwritten
        print(
            f"round {n + 1:2d}: removal {outs[0][:60]!r}, upload {outs[1][:60]!r}: original in {len(kept)} place(s)", flush=True
        )
    print()
    print("| rounds | " + " | ".join(counts) + " |")
    print("|---:|" + "---:|" * len(counts))
    print(f"| {args.race} | " + " | ".join(str(v) for v in counts.values()) + " |")
    return 0 if counts["lost"] == 0 and counts["overwritten"] == 0 else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--releases", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--race", type=int, default=0, help="rounds of the removal/upload race instead of killing `qa index`")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    if args.race:
        work = Path(tempfile.mkdtemp(prefix="qa-race-"))
        (work / "corpus").mkdir()
        make_corpus(work / "corpus", max(args.releases, args.race + 2), rng)
        try:
            return race(args, rng, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    work = Path(tempfile.mkdtemp(prefix="qa-kill-"))
    corpus, index = work / "corpus", work / "index"
    corpus.mkdir()
    make_corpus(corpus, args.releases, rng)
    t = time.perf_counter()
    assert qa_index(corpus, index).wait() == 0
    baseline_s = time.perf_counter() - t
    batch = max(4, args.releases // 2)
    make_corpus(corpus, batch, rng, first=10_000)  # time one update (thrown away) to aim the kills inside it
    probe = work / "probe"
    shutil.copytree(index, probe, ignore=shutil.ignore_patterns(".lock"))
    t = time.perf_counter()
    assert qa_index(corpus, probe).wait() == 0
    update_s = time.perf_counter() - t
    shutil.rmtree(probe)

    session = QA(corpus, index, auto_build=False)
    survived, outcomes, added = 0, {"old index": 0, "new index": 0}, 1
    for i in range(args.kills):
        before = len(load_index(index).chunks)
        if index_status(corpus, index) == IndexStatus.FRESH:  # the last build got through: give the next one work
            make_corpus(corpus, batch, rng, first=10_000 * (added + 1))
            added += 1
        proc = qa_index(corpus, index)
        delay = rng.uniform(0.2 * update_s, 1.05 * update_s)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        try:
            loaded = load_index(index)
            answer = session.ask("Which country became the 18th UNC Member State?")
            assert "Germany" in answer.passages[0].text
            survived += 1
            switched = len(loaded.chunks) != before
            outcomes["new index" if switched else "old index"] += 1
            print(
                f"kill {i + 1:2d} at {delay:5.1f}s: {'new' if switched else 'previous'} index loads "
                f"({len(loaded.chunks)} chunks) and answers",
                flush=True,
            )
        except Exception as exc:
            print(f"kill {i + 1:2d} at {delay:5.1f}s: FAILED {type(exc).__name__}: {exc}", flush=True)
    baseline = len(load_index(index).chunks)
    t = time.perf_counter()
    finished = qa_index(corpus, index).wait() == 0
    final = len(load_index(index).chunks) if finished else 0
    print()
    print(
        "| kills | survived (index loads and answers) | old index after kill | new index after kill | "
        "baseline build s | update build s | final `qa index` | final chunks |"
    )
    print("|---:|---:|---:|---:|---:|---:|---|---:|")
    print(
        f"| {args.kills} | {survived} | {outcomes['old index']} | {outcomes['new index']} | {baseline_s:.1f} | {update_s:.1f} | "
        f"{'finished' if finished else 'FAILED'} in {time.perf_counter() - t:.1f}s | {final} |"
    )
    shutil.rmtree(work, ignore_errors=True)
    return (
        0 if survived == args.kills and finished and final >= baseline and index_status(corpus, index) == IndexStatus.FRESH else 1
    )


if __name__ == "__main__":
    raise SystemExit(main())
