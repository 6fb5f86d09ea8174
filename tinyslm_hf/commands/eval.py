"""`tinyslm eval`: loss, perplexity and bits per byte of a model folder on a text file."""

from __future__ import annotations

import argparse
import json

HELP = "Evaluate a model folder on UTF-8 text: loss (nats/token), perplexity, bits per byte."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model folder")
    parser.add_argument("--data", required=True, help="UTF-8 text file to score")
    parser.add_argument("--block-size", type=int, default=None, help="window (default: model context)")
    parser.add_argument("--stride", type=int, default=None, help="window stride (default: half a window)")
    parser.add_argument("--batch-size", type=int, default=8, help="scoring windows per forward pass (default 8)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, mps or auto (default: auto)")
    parser.add_argument("--dtype", default=None, choices=["float32", "bfloat16", "float16"],
                        help="weights dtype (default: as saved)")
    parser.add_argument("--int8", action="store_true", help="dynamic int8 quantization of Linear layers (CPU)")
    parser.add_argument("--json", action="store_true", help="print JSON only")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..data import check_text_file
    from ..evaluation import evaluate_text
    from ..modelio import load_model_and_tokenizer

    path = Path(args.data)
    if not path.is_file():
        raise FileNotFoundError(f"data file not found: {path}")
    check_text_file(path)
    model, tokenizer = load_model_and_tokenizer(args.model, device=args.device, dtype=args.dtype, int8=args.int8)
    metrics = evaluate_text(model, tokenizer, path.read_text(encoding="utf-8"), args.block_size, args.stride,
                            args.batch_size)
    if args.json:
        print(json.dumps(metrics))
    else:
        for key, value in metrics.items():
            print(f"{key:14s} {value:.4f}" if isinstance(value, float) else f"{key:14s} {value}")
    return 0
