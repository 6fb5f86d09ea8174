"""`tinyslm --help` and every `tinyslm VERB --help` are built without torch, transformers or datasets.

Each help screen runs the installed console script in a fresh interpreter whose import system refuses those
packages, so a module-level heavy import anywhere on the help path fails the test with the importer's traceback.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

HEAVY = ("torch", "transformers", "datasets", "tokenizers", "accelerate", "peft", "numpy")

_BLOCKED_RUN = textwrap.dedent("""
    import importlib.abc, runpy, sys

    HEAVY = {heavy!r}

    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in HEAVY:
                raise ImportError(f"heavy import on the help path: {{name}}")
            return None

    sys.meta_path.insert(0, Refuse())
    sys.argv = [{script!r}, *{argv!r}]
    try:
        runpy.run_path({script!r}, run_name="__main__")
    except SystemExit as exc:
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)
        assert not loaded, loaded
        raise
""")


def console_script() -> str:
    """The `tinyslm` script pip wrote beside this interpreter (or on PATH)."""
    beside = Path(sys.executable).with_name("tinyslm")
    found = str(beside) if beside.exists() else shutil.which("tinyslm")
    assert found, "the tinyslm console script is not installed (pip install -e .)"
    return found


def run_help(*argv: str) -> subprocess.CompletedProcess:
    code = _BLOCKED_RUN.format(heavy=HEAVY, script=console_script(), argv=list(argv))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONSTARTUP"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)


def help_screens() -> list[tuple[str, ...]]:
    from tinyslm_hf.commands import COMMANDS

    screens = [("--help",)] + [(verb, "--help") for verb in COMMANDS]
    screens += [("excel", sub, "--help") for sub in ("generate-data", "train", "eval", "ask")]
    return screens


@pytest.mark.parametrize("argv", help_screens(), ids=lambda a: " ".join(a))
def test_help_imports_no_heavy_package(argv):
    done = run_help(*argv)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "usage: tinyslm" in done.stdout


def test_the_blocker_catches_a_heavy_import():
    """The check itself: a verb that runs (not --help) must load torch, and the blocked run then fails."""
    done = run_help("generate", "--model", "no-such-folder", "hello")
    assert done.returncode != 0 and "heavy import on the help path" in done.stderr


def test_a_verb_still_registers_the_auto_classes(tmp_path):
    """The command defers registration while parsing; a verb that saves a model still writes `auto_map`."""
    code = textwrap.dedent(f"""
        import runpy, sys
        sys.argv = [{console_script()!r}, "--help"]
        try:
            runpy.run_path({console_script()!r}, run_name="__main__")
        except SystemExit:
            pass
        from transformers import AutoConfig
        from transformers.models.auto.configuration_auto import CONFIG_MAPPING
        assert "tinyslm" not in CONFIG_MAPPING, "registered while only parsing"
        from tinyslm_hf.cli import main
        main(["eval", "--model", {str(tmp_path / "missing")!r}, "--data", {str(tmp_path / "missing.txt")!r}])
        assert "tinyslm" in CONFIG_MAPPING
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
