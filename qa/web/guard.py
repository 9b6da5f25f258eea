"""What stands in front of the chat's web server: the Host check, login throttling, request size, idle sessions.

:class:`Guard` is plain ASGI middleware (Gradio's FastAPI app takes it through
``app_kwargs``):

- a request whose ``Host`` is not a name the chat is served under is refused
  (421): a page on another site cannot reach the chat through DNS rebinding.
  IP literals, the bound host, the loopback names and the names listed in the
  ``allowed_hosts`` setting pass; a request whose ``Origin`` is neither an
  allowed name nor the request's own host is refused (403), addresses included;
- logins: the user name is compared exactly (no trimming), and a client with
  :data:`MAX_FAILED_LOGINS` failures in :data:`LOGIN_WINDOW` seconds waits
  until the window has passed (429);
- a request body over :data:`MAX_BODY_BYTES` (uploads excepted, they have their
  own limit) is refused (413), so a huge history never reaches the server's memory.

:func:`expire_idle_sessions` drops Gradio's per-session state after an hour unused.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["LOGIN_WINDOW", "MAX_BODY_BYTES", "MAX_FAILED_LOGINS", "Guard", "allowed_hosts", "expire_idle_sessions"]

MAX_FAILED_LOGINS = 5
LOGIN_WINDOW = 300.0  # seconds
MAX_BODY_BYTES = 1_000_000
LOOPBACK = ("127.0.0.1", "localhost", "::1")
WILDCARD = ("0.0.0.0", "::", "")
SESSION_IDLE_SECONDS = 3600

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def allowed_hosts(bound: str, listed: Iterable[str] = ()) -> frozenset[str]:
    """Host names (lower case, no port) the chat answers under: the bound host, loopback names, the listed names."""
    names = {bound.lower(), *LOOPBACK, *(n.strip().lower() for n in listed if n.strip())}
    if bound in WILDCARD:
        names |= {socket.gethostname().lower(), socket.getfqdn().lower()}
    return frozenset(n for n in names if n)


def _host_name(value: str) -> str:
    value = value.strip().lower()
    if value.startswith("["):  # [::1]:7860
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class _Logins:
    """Failed logins per client within the window."""

    def __init__(self) -> None:
        self._failed: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait(self, client: str) -> float:
        """Seconds this client must wait before trying again (0: may try)."""
        now = time.monotonic()
        with self._lock:
            times = self._failed.get(client, deque())
            while times and now - times[0] > LOGIN_WINDOW:
                times.popleft()
            return LOGIN_WINDOW - (now - times[0]) if len(times) >= MAX_FAILED_LOGINS else 0.0

    def failed(self, client: str) -> None:
        with self._lock:
            if len(self._failed) > 10_000:  # forget the oldest clients rather than grow without bound
                self._failed.pop(next(iter(self._failed)))
            self._failed.setdefault(client, deque(maxlen=MAX_FAILED_LOGINS * 2)).append(time.monotonic())

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failed.pop(client, None)


class Guard:
    """ASGI middleware: Host and Origin check, exact and throttled logins, request size limit."""

    def __init__(self, app: Any, hosts: frozenset[str] = frozenset(LOOPBACK), user: str | None = None) -> None:
        self.app, self.hosts, self.user = app, hosts, user
        self.logins = _Logins()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if not self._known(_host_name(headers.get("host", ""))):
            await _reply(send, 421, "This chat is not served under that host name. Use the address it was started with.")
            return
        origin = headers.get("origin", "")
        if origin and origin != "null" and not self._same_site(urlsplit(origin).netloc, headers.get("host", "")):
            await _reply(send, 403, "Requests from pages of other sites are refused.")
            return
        path = scope.get("path", "")
        if scope["type"] == "http" and scope.get("method") == "POST" and path.rstrip("/").endswith("/login"):
            await self._login(scope, receive, send)
            return
        if scope["type"] == "http" and "upload" not in path:
            length = headers.get("content-length", "")
            if length.isdigit() and int(length) > MAX_BODY_BYTES:
                await _reply(send, 413, f"The request is larger than {MAX_BODY_BYTES // 1_000_000} MB: send less.")
                return
            receive = _capped(receive)
        await self.app(scope, receive, send)

    def _known(self, name: str) -> bool:
        return name in self.hosts or _is_ip(name)

    def _same_site(self, origin: str, host: str) -> bool:
        """A page's origin may talk to the chat only under an allowed name or the request's own host (no address pass)."""
        return _host_name(origin) in self.hosts or origin.strip().lower() == host.strip().lower()

    async def _login(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = (scope.get("client") or ("?", 0))[0]
        wait = self.logins.wait(client)
        if wait > 0:
            await _reply(send, 429, f"Too many failed logins: wait {int(wait) + 1} seconds, then try again.")
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > 10_000:
                await _reply(send, 413, "The login form is too large.")
                return
            if not message.get("more_body"):
                break
        form = parse_qs(body.decode("utf-8", "replace"))
        if self.user is not None and form.get("username", [""])[0] != self.user:
            self.logins.failed(client)
            await _reply(send, 400, "Incorrect credentials.")
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                (self.logins.succeeded if message["status"] < 400 else self.logins.failed)(client)
            await send(message)

        await self.app(scope, replay, watch)


def _capped(receive: Receive) -> Receive:
    seen = 0

    async def capped() -> Message:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > MAX_BODY_BYTES:
            raise ValueError(f"request body over {MAX_BODY_BYTES} bytes")
        return message

    return capped


async def _reply(send: Send, status: int, text: str) -> None:
    body = json.dumps({"detail": text}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def expire_idle_sessions(demo: Any, idle: float = SESSION_IDLE_SECONDS, every: float = 60.0) -> threading.Thread:
    """Drop the state of sessions unused for ``idle`` seconds (Gradio keeps it until its session cap otherwise)."""

    def sweep() -> None:
        while True:
            time.sleep(every)
            holder = getattr(demo, "state_holder", None)
            if holder is None:
                continue
            cutoff = time.time() - idle
            with holder.lock:
                for sid, last in list(holder.time_last_used.items()):
                    if last.timestamp() < cutoff:
                        holder.session_data.pop(sid, None)
                        holder.time_last_used.pop(sid, None)

    thread = threading.Thread(target=sweep, name="idle-sessions", daemon=True)
    thread.start()
    return thread
