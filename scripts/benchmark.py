"""Thin script over `tinyslm bench` (same flags): python scripts/benchmark.py --repeats 5 --out bench_results"""

import sys

from tinyslm_hf.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
