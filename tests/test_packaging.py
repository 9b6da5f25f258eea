"""`pip install .` outside the checkout gives a working `release-qa` that keeps its files in its own data folder.

The wheel is built from this checkout and installed into a new virtualenv. The packages it depends on are not
downloaded again: the virtualenv sees this environment's packages through a path file added after the wheel is
installed, and the test checks that every core requirement of the wheel is among them and that answering a
question imports none of the extras (torch, sentence-transformers, gradio, matplotlib, txtai, psutil, onnx, LightGBM,
scikit-learn).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest
from conftest import ROOT, SEEDS

QUESTION = "Who co-chaired the 2nd ROK-UNCMS Defense Ministerial Meeting?"
# The answer-sentence model is trained with LightGBM and scikit-learn (the train extra) and answers on onnxruntime.
EXTRAS_ONLY = ["torch", "sentence_transformers", "transformers", "gradio", "matplotlib", "txtai", "onnx", "lightgbm", "sklearn"]

CHECK = f"""
import importlib.metadata as md, json, re, sys
from packaging.requirements import Requirement
from qa import QA, Settings
import qa

missing = []
for line in md.requires("release-qa") or []:
    req = Requirement(line)
    if req.marker is None or req.marker.evaluate({{"extra": ""}}):
        try:
            md.version(req.name)
        except md.PackageNotFoundError:
            missing.append(req.name)
answer = QA.from_settings(Settings.from_env()).ask({QUESTION!r})
print(json.dumps({{
    "qa": qa.__file__, "missing": missing, "answer": answer.answer,
    "extras_imported": [m for m in {EXTRAS_ONLY!r} if m in sys.modules],
}}))
"""


def _run(*args: str | Path, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], env=env, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{args}: {result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_virtualenv_and_answers(tmp_path):
    work = tmp_path / "elsewhere"  # not the checkout: nothing may come from the source tree
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_") and k != "PYTHONPATH"}
    env.update(QA_HOME=str(tmp_path / "home"), QA_ONNX_VERIFY_TEXTS=os.environ.get("QA_ONNX_VERIFY_TEXTS", "200"))

    source = tmp_path / "source"  # a copy: building writes build/ and *.egg-info beside the sources
    shutil.copytree(ROOT / "qa", source / "qa", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", tmp_path / "dist", source,
         env=env, cwd=work)  # fmt: skip
    wheel = next((tmp_path / "dist").glob("release_qa-*.whl"))
    venv.create(tmp_path / "venv", with_pip=True)
    python = tmp_path / "venv" / "bin" / "python"
    _run(python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel, env=env, cwd=work)
    site = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", env=env, cwd=work).stdout.strip())
    (site / "machine_packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # after the install: pip never sees them

    # The user's data folder: releases to read, and the ONNX export made once with the export extra.
    home = tmp_path / "home"
    shutil.copytree(SEEDS, home / "releases")
    (home / "cache").mkdir()
    (home / "cache" / "onnx").symlink_to((ROOT / ".cache" / "onnx").resolve())

    script = tmp_path / "venv" / "bin" / "release-qa"
    out = _run(script, "index", env=env, cwd=work)
    assert "19 chunks from 2 files" in out.stdout
    assert (home / "index" / "manifest.json").is_file()
    out = _run(script, "ask", QUESTION, "--json", env=env, cwd=work)
    assert "co-chaired by Kim Yong Hyun" in json.loads(out.stdout)["answer"]

    report = json.loads(_run(python, "-c", CHECK, env=env, cwd=work).stdout.strip().splitlines()[-1])
    assert Path(report["qa"]).is_relative_to(tmp_path / "venv"), report["qa"]  # the installed package, not the checkout
    assert report["missing"] == [], f"core requirements not installed: {report['missing']}"
    assert report["extras_imported"] == [], f"answering imported optional packages: {report['extras_imported']}"
    assert "co-chaired by Kim Yong Hyun" in report["answer"]
