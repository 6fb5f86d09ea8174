"""Thin script over `tinyslm bench` (same flags): python scripts/benchmark.py --repeats 5 --out bench_results

It builds only the bench verb's parser, so it runs where the training extras (datasets) are not installed, such as a
GPU image with just torch, transformers and accelerate (see scripts/gpu_bench.sh).
"""

import argparse
import sys

from tinyslm_hf.commands import bench

if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="benchmark.py", description=bench.HELP)
    bench.add_arguments(parser)
    sys.exit(bench.run(parser.parse_args()))
