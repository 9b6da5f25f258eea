"""release-qa chat: `python app.py [--host 127.0.0.1] [--port 7860] [--corpus seeds] [--index embeddings]`.

The same as `python -m qa chat` (everything lives in :mod:`qa.web.app`), with one
addition: loading the web framework and the model takes seconds, so a
standard-library page answers on the port at once and says the chat is
starting; it reloads itself into the chat as soon as the chat is up.
"""

import argparse
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STARTING = b"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>release-qa: starting</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px system-ui,sans-serif;margin:3em auto;max-width:36em;padding:0 1em;color:#111827;background:#fff}
@media (prefers-color-scheme: dark){body{color:#f3f4f6;background:#111827}}</style></head>
<body><h1>release-qa</h1><p id="qa-starting" role="status">Starting the chat&hellip; this page opens it by itself in a few
seconds.</p><script>
const poll = () => fetch(location.href, {cache: 'no-store'}).then(r => r.text()).then(t => {
  if (!t.includes('qa-starting')) location.reload(); else setTimeout(poll, 500);
}).catch(() => setTimeout(poll, 500));
setTimeout(poll, 500);
</script></body></html>"""


class _Starting(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(503)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Retry-After", "1")
        self.send_header("Content-Length", str(len(STARTING)))
        self.end_headers()
        self.wfile.write(STARTING)

    def log_message(self, *args: object) -> None:
        pass


def _placeholder(argv: list[str]) -> ThreadingHTTPServer | None:
    """Serve the "starting" page on the chat's address until the chat itself is ready to take the port."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--host", default=os.environ.get("QA_HOST") or "127.0.0.1")
    p.add_argument("--port", default=os.environ.get("QA_PORT") or "7860")
    known, _ = p.parse_known_args(argv)
    user, _, password = (os.environ.get("QA_AUTH") or "").partition(":")
    if known.host not in ("127.0.0.1", "localhost", "::1") and not (user.strip() and password.strip()):
        return None  # binding wider needs a login: the chat itself says so
    try:
        server = ThreadingHTTPServer((known.host, int(known.port)), _Starting)
    except (OSError, ValueError):
        return None  # the chat itself will report a busy port or a bad value
    threading.Thread(target=server.serve_forever, name="starting-page", daemon=True).start()
    return server


def _stop(server: ThreadingHTTPServer | None) -> None:
    if server is not None:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    args = sys.argv[1:]
    page = None if {"-h", "--help"} & set(args) else _placeholder(args)
    try:
        from qa.web.app import main

        code = main(args, before_launch=lambda: _stop(page))
    finally:
        _stop(page)
    sys.exit(code)
