"""Load test: concurrent chat sessions against the running app, on loopback only.

    python benchmarks/load_test.py [--sessions 20] [--seconds 60]            # starts the app on a free port
    python benchmarks/load_test.py --url http://127.0.0.1:7860/ --pid PID    # or targets one already running

Each session is its own gradio_client Client asking the seed questions (with
their history) through `/ask`, one after another, until the time is up; the
loop is bounded in time and in count. Reports requests, errors, latency p50/p95
and the app's resident memory over the run.
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np

from qa.environment import child_environment

ROOT = Path(__file__).resolve().parent.parent
MAX_REQUESTS = 20_000


def _answers(url: str) -> bool:
    from gradio_client import Client

    try:
        Client(url, verbose=False).predict("Who co-chaired the meeting?", 1, [], api_name="/ask")
    except Exception:
        return False
    return True


def start_app() -> tuple[str, subprocess.Popen]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tmp = Path(tempfile.mkdtemp(prefix="qa-load-"))
    env = child_environment(QA_INDEX=str(tmp / "index"), QA_DATA=str(tmp / "data"), GRADIO_ANALYTICS_ENABLED="False")
    proc = subprocess.Popen(
        [sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}/"
    for _ in range(300):
        try:
            urllib.request.urlopen(url, timeout=2)
            if _answers(url):  # the page comes first; the index loads behind it
                return url, proc
        except OSError:
            pass
        time.sleep(1)
    proc.kill()
    raise SystemExit("app did not start")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url")
    ap.add_argument("--pid", type=int)
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=60)
    args = ap.parse_args()
    import psutil
    from gradio_client import Client

    proc = None
    if args.url:
        host = urllib.parse.urlparse(args.url).hostname or ""
        if not (host == "localhost" or host.startswith("127.") or host == "::1"):
            raise SystemExit(f"refusing to load {host}: this script only targets loopback addresses")
        url = args.url
    else:
        url, proc = start_app()
    app = psutil.Process(args.pid or proc.pid) if (args.pid or proc) else None
    questions = [json.loads(line) for line in (ROOT / "eval" / "seed_qa.jsonl").read_text().splitlines()]
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.time() + args.seconds
    rss: list[float] = []

    def session(seed: int) -> None:
        rng = random.Random(seed)
        client = Client(url, verbose=False)
        while time.time() < deadline and len(latencies) + len(errors) < MAX_REQUESTS:
            q = rng.choice(questions)
            t = time.perf_counter()
            try:
                result = client.predict(q["question"], 5, q.get("history", []), api_name="/ask")
                assert result["passages"], "no passages"
                with lock:
                    latencies.append((time.perf_counter() - t) * 1000)
            except Exception as exc:
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}"[:200])

    def sample_memory() -> None:
        while time.time() < deadline and app:
            rss.append(app.memory_info().rss / 2**20)
            time.sleep(2)

    threads = [threading.Thread(target=session, args=(i,)) for i in range(args.sessions)]
    threading.Thread(target=sample_memory, daemon=True).start()
    t0 = time.time()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.time() - t0
    if proc:
        proc.terminate()
    p50, p95 = np.percentile(latencies, [50, 95]) if latencies else (0, 0)
    print("| sessions | seconds | requests | errors | req/s | p50 ms | p95 ms | RSS start MiB | RSS end MiB | RSS max MiB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {args.sessions} | {elapsed:.0f} | {len(latencies)} | {len(errors)} | {len(latencies) / elapsed:.1f} "
        f"| {p50:.0f} | {p95:.0f} | "
        f"{rss[0] if rss else 0:.0f} | {rss[-1] if rss else 0:.0f} | {max(rss) if rss else 0:.0f} |"
    )
    for e in sorted(set(errors))[:5]:
        print("error:", e)
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
