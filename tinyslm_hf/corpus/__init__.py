"""The embedded corpus: Tiny Shakespeare, shipped inside the package (public domain; see README.md here).

Its own module, with no dependencies, so that anything needing the file (training, the Excel task's value pools, the
lm-eval tasks) finds it without importing the data pipeline."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def embedded_corpus_path() -> Path:
    """Tiny Shakespeare, shipped inside the package (public domain; see corpus/README.md for attribution)."""
    return Path(str(resources.files(__name__) / "tinyshakespeare.txt"))


__all__ = ["embedded_corpus_path"]
