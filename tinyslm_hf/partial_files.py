"""Temporary siblings of an output being written, named after the writing process, so a later run can tell the
leftovers of a killed writer (`kill -9`, a crash, a full disk) from a write still in progress, and remove them.

Every output is written beside its final path under `.<name>.partial-<pid>-<random>` and renamed into place when
complete; a reader never sees half an output, and no run leaves hidden folders behind for good.
"""

from __future__ import annotations

import glob
import os
import shutil
from pathlib import Path


def partial_prefix(path: Path) -> str:
    """The prefix of this process's temporary siblings of `path`."""
    return f".{path.name}.partial-{os.getpid()}-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_partials(path: Path) -> list[Path]:
    """Delete temporary siblings of `path` whose writer no longer runs; returns what was removed."""
    removed = []
    if not path.parent.is_dir():
        return removed
    prefix = f".{path.name}.partial-"
    for entry in path.parent.glob(glob.escape(prefix) + "*"):
        if not entry.name.startswith(prefix):
            continue
        pid = entry.name[len(prefix):].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


__all__ = ["partial_prefix", "remove_stale_partials"]
