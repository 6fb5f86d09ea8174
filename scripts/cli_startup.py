"""How long `tinyslm --help` and `tinyslm VERB --help` take against `python -c "import torch"`, measured in one run
(median of interleaved repeats), so the ratio holds on a quiet and on a loaded machine alike.

    python scripts/cli_startup.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repeats per command (default 5)")
    args = parser.parse_args()
    script = str(Path(sys.executable).with_name("tinyslm")) if Path(sys.executable).with_name("tinyslm").exists() \
        else shutil.which("tinyslm")
    commands = {
        'python -c "import torch"': [sys.executable, "-c", "import torch"],
        "tinyslm --help": [script, "--help"],
        "tinyslm train --help": [script, "train", "--help"],
        "tinyslm excel train --help": [script, "excel", "train", "--help"],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.repeats):
        for name, command in commands.items():
            times[name].append(timed(command))
    reference = statistics.median(times['python -c "import torch"'])
    print("| command | median s | vs import torch |\n|---|---|---|")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| `{name}` | {median:.3f} | {median / reference:.2f}x |")


if __name__ == "__main__":
    main()
