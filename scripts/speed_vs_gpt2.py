"""Eager forward+backward speed of TinySLM (seed) vs transformers' GPT2LMHeadModel at identical dims.

Prints per-step times and the ratio, measured in one run with interleaved repeats. Usage:
    python scripts/speed_vs_gpt2.py [--vocab 8192 --hidden 256 --layers 8 --heads 4 --seq 256 --batch 8 --repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from transformers import GPT2Config, GPT2LMHeadModel

from tinyslm_hf import TinySLMConfig, TinySLMForCausalLM


def step_time(model: torch.nn.Module, ids: torch.Tensor, steps: int) -> float:
    model.train()
    model(ids, labels=ids).loss.backward()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        model.zero_grad(set_to_none=True)
        model(ids, labels=ids).loss.backward()
    return (time.perf_counter() - start) / steps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--vocab", type=int, default=8192)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--seq", type=int, default=256)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--attn", default="eager", choices=["eager", "sdpa"])
    args = p.parse_args()

    torch.manual_seed(0)
    ours = TinySLMForCausalLM(
        TinySLMConfig(vocab_size=args.vocab, hidden_size=args.hidden, num_hidden_layers=args.layers,
                      num_attention_heads=args.heads, max_position_embeddings=args.seq, hidden_act="gelu_new"),
    )
    ours.config._attn_implementation = args.attn
    ref = GPT2LMHeadModel(
        GPT2Config(vocab_size=args.vocab, n_embd=args.hidden, n_layer=args.layers, n_head=args.heads,
                   n_positions=args.seq, resid_pdrop=0, embd_pdrop=0, attn_pdrop=0,
                   bos_token_id=None, eos_token_id=None, activation_function="gelu_new")
    )
    ref.config._attn_implementation = args.attn
    ids = torch.randint(0, args.vocab, (args.batch, args.seq))
    times: dict[str, list[float]] = {"tinyslm": [], "gpt2": []}
    for _ in range(args.repeats):  # interleaved so drift in machine load hits both equally
        times["tinyslm"].append(step_time(ours, ids, args.steps))
        times["gpt2"].append(step_time(ref, ids, args.steps))
    tokens = args.batch * args.seq
    print(f"threads={torch.get_num_threads()} attn={args.attn} batch={args.batch} seq={args.seq} "
          f"params tinyslm={sum(p.numel() for p in ours.parameters())/1e6:.2f}M "
          f"gpt2={sum(p.numel() for p in ref.parameters())/1e6:.2f}M")
    for name, values in times.items():
        med = statistics.median(values)
        print(f"{name:8s} fwd+bwd median {med*1e3:8.1f} ms  ({tokens/med:8.0f} tok/s)  "
              f"spread {min(values)*1e3:.1f}-{max(values)*1e3:.1f} ms")
    ratio = statistics.median(times["gpt2"]) / statistics.median(times["tinyslm"])
    print(f"speed ratio tinyslm/gpt2 (higher is faster): {ratio:.2f}x")


if __name__ == "__main__":
    main()
