"""Shared fixtures: the real model, loaded once; a real index over a copy of seeds/."""

from __future__ import annotations

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
os.environ.setdefault("QA_ONNX_VERIFY_TEXTS", "200")  # the default 1,000 is for real use; 200 keeps the suite fast
sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def encoder():
    from qa.embedding import Encoder

    enc = Encoder()
    enc.dim  # load now, once
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


def run_cli(*args: str, cwd: Path = ROOT, input: str | None = None, timeout: int = 180):
    import subprocess

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "qa", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env, input=input)
