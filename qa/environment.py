"""The process environment beyond the settings: what a model library must see before it loads, and what a child
process inherits. Reading the ``QA_*`` settings is :meth:`qa.config.Settings.from_env`."""

from __future__ import annotations

import os

__all__ = ["child_environment", "offline_model_environment", "offline_ray_environment", "python_path_with"]


def offline_model_environment() -> None:
    """Before sentence-transformers loads: never reach the network, no tokenizer threads fighting the encoder."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def offline_ray_environment() -> None:
    """Before Ray starts: no usage report sent anywhere."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def child_environment(**extra: str) -> dict[str, str]:
    """The environment for a child process (a benchmark's app or CLI run), with ``extra`` on top."""
    return {**os.environ, **extra}


def python_path_with(folder: str) -> str:
    """PYTHONPATH for a child process that imports from ``folder`` first, then what this process was given."""
    return os.pathsep.join(filter(None, [folder, os.environ.get("PYTHONPATH")]))
