"""Eager forward+backward(+AdamW) speed of TinySLM (seed) vs transformers' GPT2LMHeadModel at identical dims.

A thin preset over `tinyslm bench`: fp32, eager attention, no generation; prints the table and the ratio.
Extra flags are passed through, e.g. `python scripts/speed_vs_gpt2.py --repeats 5 --batch-size 4`.
"""

import sys

from tinyslm_hf.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "--models", "tinyslm-seed,gpt2", "--attn", "eager", "--dtypes", "float32",
                   "--generate-batches", "", "--out", "bench_results/speed_vs_gpt2", *sys.argv[1:]]))
