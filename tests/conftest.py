"""Shared fixtures: the real model, loaded once; a real index over a copy of seeds/."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "releases"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
ONNX_VERIFY = 200  # texts an ONNX export is verified on: the default 1,000 is for real use; 200 keeps the suite fast
os.environ.setdefault("QA_ONNX_VERIFY_TEXTS", str(ONNX_VERIFY))  # for the CLI and the app run as subprocesses
sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def encoder():
    """The real model on the default backend (what users run); tests of other backends make their own."""
    from qa.embedding import make_encoder

    enc = make_encoder()
    assert enc.dim == 384  # load now, once
    return enc


@pytest.fixture(scope="session")
def torch_encoder():
    """sentence-transformers itself: the reference the ONNX backends are checked against."""
    from qa.embedding import TorchEncoder

    enc = TorchEncoder()
    assert enc.dim == 384  # load now, once
    return enc


@pytest.fixture(scope="session")
def seed_corpus(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("seeds")
    for f in SEEDS.iterdir():
        shutil.copy(f, folder / f.name)
    return folder


@pytest.fixture(scope="session")
def seed_qa(seed_corpus, tmp_path_factory, encoder):
    """A QA session over the seed releases with a freshly built index (the model is shared)."""
    from qa import QA

    session = QA(seed_corpus, tmp_path_factory.mktemp("index"))
    session.encoder = encoder
    session.ensure_index()
    return session


def run_cli(*args: str, cwd: Path = ROOT, input: str | None = None, timeout: int = 180, env: dict[str, str] | None = None):
    import subprocess

    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "qa", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env, input=input
    )


class FakeEncoder:
    """Unit vectors from a hash of the text: deterministic and instant. Only for unit tests of build, staleness and
    fusion logic, where what matters is which texts get embedded and how scores combine, not what they mean."""

    def __init__(self, name: str = "fake-model", backend: str | None = None, dim: int = 32) -> None:
        from qa.config import DEFAULT_BACKEND

        backend = backend or DEFAULT_BACKEND  # stands in for the default encoder
        self.name, self.backend, self.dim, self.max_tokens = name, backend, dim, 256
        self.encoded: list[str] = []  # every text ever embedded, in order

    def count_tokens(self, text: str) -> int:
        from qa.chunking import approx_tokens

        return approx_tokens(text)

    def encode(self, texts, progress: bool = False):  # type: ignore[no-untyped-def]
        from qa.embedding import hash_vectors

        self.encoded.extend(texts)
        return hash_vectors(texts, self.dim)

    def encode_query(self, text: str):  # type: ignore[no-untyped-def]
        return self.encode([text])[0]

    def token_states(self, texts):  # type: ignore[no-untyped-def]
        """Pieces = words and marks (first 250), each piece's vector a hash of it: offsets are real, meaning is not."""
        import re

        import numpy as np

        from qa.embedding import hash_vectors
        from qa.pooling import TokenStates

        self.encoded.extend(texts)
        out = []
        for text in texts:
            found = [(m.group(0), m.start(), m.end()) for m in re.finditer(r"\w+|[^\w\s]", text)][:250]
            pieces = ["[CLS]", *(p for p, _, _ in found), "[SEP]"]
            offsets = np.array([(0, 0), *((a, b) for _, a, b in found), (0, 0)], dtype=np.int32)
            special = np.array([True] + [False] * len(found) + [True])
            out.append(TokenStates(pieces, offsets, special, hash_vectors(pieces, self.dim)))
        return out

    def token_vectors(self, texts):  # type: ignore[no-untyped-def]
        raise AssertionError("the fake encoder has no token vectors: use the real model for coverage tests")

    def prepare(self, sample) -> None:  # type: ignore[no-untyped-def]
        pass


@pytest.fixture
def fake_encoder() -> FakeEncoder:
    return FakeEncoder()


@pytest.fixture
def small_corpus(tmp_path) -> Path:
    """The seed releases in a folder of their own."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    for f in sorted(SEEDS.iterdir()):
        shutil.copy(f, folder / f.name)
    return folder


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(url: str, deadline: float, log_path: Path) -> None:
    """The page is served before the index is loaded: wait until `/ask` answers rather than "still loading"."""
    import json
    import time
    import urllib.request

    body = json.dumps({"data": ["Who co-chaired the meeting?", 1, [], "", "", ""]}).encode()
    while time.time() < deadline:
        request = urllib.request.Request(f"{url}gradio_api/call/ask", body, {"Content-Type": "application/json"})
        try:
            event = json.loads(urllib.request.urlopen(request, timeout=30).read())["event_id"]
            stream = urllib.request.urlopen(f"{url}gradio_api/call/ask/{event}", timeout=60).read().decode()
        except OSError:
            stream = "still loading"
        if "still loading" not in stream:
            return
        time.sleep(0.5)
    pytest.fail(f"the chat did not finish loading: {log_path.read_text()[-2000:]}")


@contextlib.contextmanager
def running_app(root: Path, corpus: Path, data: Path, ready: bool = True):
    """Start app.py over ``corpus`` as a user would (a subprocess on a free loopback port); yields its URL once the
    page is served and, with ``ready``, once the index has loaded behind it."""
    import subprocess
    import time
    import urllib.request

    env = {
        **os.environ,
        "QA_CORPUS": str(corpus),
        "QA_INDEX": str(root / "index"),
        "QA_DATA": str(data),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": str(ROOT),
    }
    log_path = root / "app.log"
    url = f"http://127.0.0.1:{free_port()}/"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "app.py", "--port", url.rsplit(":", 1)[1].strip("/")],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.time() + 240
        while time.time() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"app exited: {log_path.read_text()[-2000:]}")
            try:
                if urllib.request.urlopen(url, timeout=2).status == 200:
                    break
            except OSError:
                time.sleep(1)
        else:
            pytest.fail(f"app did not start: {log_path.read_text()[-2000:]}")
        if ready:
            _wait_ready(url, deadline, log_path)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
