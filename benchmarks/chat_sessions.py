"""How much memory chat sessions keep: the chat's resident memory before and after N sessions, each a fresh client.

    python benchmarks/chat_sessions.py [--sessions 3000] [--threads 6]

Each session asks one real question through `/ask` under its own session id, which is what makes the server keep
per-session state. The chat keeps
at most a fixed number of sessions and drops idle ones, so the growth must stay small whatever N is; the result
line says whether 3,000 sessions add at most 100 MB.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT_MB = 100.0


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _ask(base: str, question: str) -> bool:
    body = json.dumps({"data": [question, 3, [], "", "", ""], "session_hash": uuid.uuid4().hex}).encode()
    request = urllib.request.Request(f"{base}gradio_api/call/ask", body, {"Content-Type": "application/json"})
    try:
        event = json.loads(urllib.request.urlopen(request, timeout=60).read())["event_id"]
        stream = urllib.request.urlopen(f"{base}gradio_api/call/ask/{event}", timeout=120).read().decode()
    except (OSError, urllib.error.HTTPError, ValueError, KeyError):
        return False
    return "event: complete" in stream


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=6)
    args = parser.parse_args()
    port = _port()
    base = f"http://127.0.0.1:{port}/"
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(ROOT / "seeds", Path(tmp) / "corpus")
        cmd = [sys.executable, "app.py", "--port", str(port), "--corpus", f"{tmp}/corpus", "--index", f"{tmp}/index"]
        app = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 300
            while not _ask(base, "Who co-chaired the 2nd ROK-UNCMS Defense Ministerial Meeting?"):
                if time.time() > deadline or app.poll() is not None:
                    raise SystemExit("the chat did not answer within 300 s")
                time.sleep(1)
            for _ in range(20):  # warm: the first questions load what every later one shares
                _ask(base, "Which country became the 18th UNC Member State?")
            before = _rss_mb(app.pid)
            t0 = time.time()
            asked = ["Which country became the 18th UNC Member State?", "Who co-chaired the meeting?", "When was it first held?"]
            questions = [asked[i % len(asked)] for i in range(args.sessions)]
            with ThreadPoolExecutor(args.threads) as pool:
                done = sum(pool.map(lambda q: _ask(base, q), questions))
            time.sleep(2)
            after = _rss_mb(app.pid)
        finally:
            app.terminate()
            app.wait(timeout=30)
    growth = after - before
    verdict = "pass" if growth <= LIMIT_MB * args.sessions / 3000 else "FAIL"
    print(
        f"{args.sessions} sessions ({done} completed) in {time.time() - t0:.0f} s: resident memory {before:.0f} MB -> "
        f"{after:.0f} MB, +{growth:.0f} MB (limit {LIMIT_MB:.0f} MB per 3,000: {verdict})"
    )


if __name__ == "__main__":
    main()
