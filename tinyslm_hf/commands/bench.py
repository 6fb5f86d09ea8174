"""`tinyslm bench`: TinySLM vs GPT2LMHeadModel / LlamaForCausalLM at identical dims, in one run."""

from __future__ import annotations

import argparse

HELP = "Benchmark TinySLM presets against transformers' GPT-2 and Llama at identical dims (table, JSON, PNG)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--size", default="small", choices=["small", "125m"],
                        help="model and batch shape: small (vocab 8192, hidden 256, 8 layers, 4 heads, MLP 1024, "
                             "seq 256, batch 8) or 125m (GPT-2 small: vocab 50257, hidden 768, 12 layers, 12 heads, "
                             "MLP 3072, seq 1024, batch 16); the flags below override single fields")
    for flag, what in (("--vocab-size", "vocabulary"), ("--hidden-size", "hidden width"), ("--num-layers", "blocks"),
                       ("--num-heads", "attention heads"), ("--intermediate-size", "MLP width"),
                       ("--seq-len", "training sequence length"), ("--batch-size", "training batch")):
        parser.add_argument(flag, type=int, default=None, help=f"{what} (default: from --size)")
    parser.add_argument("--train-steps", type=int, default=3, help="timed training steps per repeat (default 3)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="interleaved repeats; medians are reported (default 3)")
    parser.add_argument("--new-tokens", type=int, default=128,
                        help="tokens generated per timed generate() (default 128)")
    parser.add_argument("--generate-batches", default="1,8", help="comma-separated; empty string skips generate")
    parser.add_argument("--dtypes", default="float32,bfloat16",
                        help="comma-separated training dtypes (default: float32,bfloat16)")
    parser.add_argument("--models", default="tinyslm-seed,tinyslm-modern,gpt2,llama",
                        help="comma-separated models (default: tinyslm-seed,tinyslm-modern,gpt2,llama)")
    parser.add_argument("--attn", default="sdpa", choices=["sdpa", "eager"],
                        help="attention implementation (default: sdpa)")
    parser.add_argument("--compile", action="store_true",
                        help="also measure every model compiled: torch.compile for training, static cache + "
                             "transformers' auto-compile in generate (extra *_compiled rows and ratios)")
    parser.add_argument("--compile-mode", default="default",
                        help="torch.compile mode; reduce-overhead (CUDA graphs) equals default on CPU")
    parser.add_argument("--compile-dynamic", default="false", choices=["false", "true", "auto"],
                        help="dynamic shapes; auto lets torch decide after a recompile")
    parser.add_argument("--compile-backend", default="inductor", help="eager / aot_eager only check tracing")
    parser.add_argument("--trainer", action="store_true",
                        help="also time training through transformers' Trainer (trainer_tok_s_* rows, MFU too)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads; on a shared machine use fewer than the free cores")
    parser.add_argument("--out", default="bench_results", help="folder for benchmark.{json,md,png}")


def run(args: argparse.Namespace) -> int:
    from ..bench.speed import SIZES, BenchSettings, markdown_table, run_benchmark, save_results

    shape = {name: value if getattr(args, name) is None else getattr(args, name)
             for name, value in SIZES[args.size].items()}
    settings = BenchSettings(
        **shape, train_steps=args.train_steps, repeats=args.repeats, new_tokens=args.new_tokens,
        generate_batches=tuple(int(b) for b in args.generate_batches.split(",") if b.strip()),
        dtypes=tuple(args.dtypes.split(",")), models=tuple(args.models.split(",")),
        attn_implementation=args.attn, compile=args.compile, compile_mode=args.compile_mode,
        compile_dynamic={"false": False, "true": True, "auto": None}[args.compile_dynamic],
        compile_backend=args.compile_backend, device=args.device,
        threads=args.threads, trainer=args.trainer)
    results = run_benchmark(settings)
    print(markdown_table(results))
    for kind, path in save_results(results, args.out).items():
        print(f"{kind}: {path}")
    return 0
