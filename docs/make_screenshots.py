"""Write the README's screenshots (docs/screenshot-*.png): the chat over the seed releases, desktop and phone,
light and dark, in Debian chromium. Run with `make screenshots`; the tests never write into docs/.

    python docs/make_screenshots.py [--out docs]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
QUESTION = "Who co-chaired the 2nd ROK-UNCMS Defense Ministerial Meeting?"


def _serve(work: Path, port: int) -> subprocess.Popen[bytes]:
    shutil.copytree(ROOT / "seeds", work / "corpus")
    cmd = [sys.executable, "app.py", "--port", str(port), "--corpus", str(work / "corpus"), "--index", str(work / "index")]
    app = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).status == 200:
                return app
        except (OSError, urllib.error.HTTPError):
            time.sleep(1)
    app.kill()
    raise SystemExit("the chat did not start within 300 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    parser.add_argument("--port", type=int, default=7899)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app = _serve(Path(tmp), args.port)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox"])
                for scheme in ("light", "dark"):
                    for name, size in SIZES.items():
                        page = browser.new_context(viewport=size, color_scheme=scheme).new_page()
                        page.goto(f"http://127.0.0.1:{args.port}/")
                        page.wait_for_function(
                            "(document.querySelector('#app-head')?.innerText || '').includes('passages indexed')", timeout=120_000
                        )
                        page.fill("#question textarea", QUESTION)
                        page.press("#question textarea", "Enter")
                        page.wait_for_selector("#sources .qa-card", timeout=60_000)
                        page.wait_for_timeout(500)
                        path = args.out / f"screenshot-{scheme}-{name}.png"
                        page.screenshot(path=str(path))
                        print(path)
                        page.context.close()
                browser.close()
        finally:
            app.terminate()
            app.wait(timeout=30)


if __name__ == "__main__":
    main()
