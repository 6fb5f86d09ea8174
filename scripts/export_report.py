"""Compare runtimes for one model folder: file size, decode speed at batch 1 and bits/byte on held-out text.

    python scripts/export_report.py --model runs/default/final --text data/heldout.txt [--threads 2]

Rows: transformers fp32 / bf16 / int8, ONNX fp32 / int8 (onnxruntime), GGUF f32 / f16 / q8_0 (llama.cpp).
Bits/byte is computed the same way for every runtime: per-token NLL of the (truncated) held-out text, in windows of
the model's context, summed and divided by ln 2 and the text's UTF-8 byte count. Decode speed is
(tokens(N) - tokens(1)) / (time(N) - time(1)) for greedy generation after a fixed prompt, so prefill is excluded.
Prints a markdown table; numbers are timings of this machine, not assertions.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from tinyslm_hf.export.gguf import export_gguf  # noqa: E402
from tinyslm_hf.export.onnx import INT8_FILE, MODEL_FILE, OnnxCausalLM, export_onnx  # noqa: E402
from tinyslm_hf.quantize import quantize_int8  # noqa: E402
from tinyslm_hf.export.runtimes import (  # noqa: E402
    bits_per_byte,
    gguf_generate_ids,
    gguf_token_nll,
    hf_token_nll,
    load_gguf,
)
from tinyslm_hf.modelio import load_model_and_tokenizer  # noqa: E402


def _decode_rate(generate, new_tokens: int) -> float:
    """generate(n) -> list of new ids. Best of 3 runs of (N - 1) extra tokens over the 1-token run."""
    generate(2)  # warm-up
    best = 0.0
    for _ in range(3):
        t0 = time.perf_counter()
        one = len(generate(1))
        t1 = time.perf_counter()
        many = len(generate(new_tokens))
        t2 = time.perf_counter()
        if many > one and (t2 - t1) > (t1 - t0):
            best = max(best, (many - one) / ((t2 - t1) - (t1 - t0)))
    return best


def _hf_row(model, prompt_ids: list[int], ids: list[int], text: str, new_tokens: int) -> tuple[float, float]:
    prompt = torch.tensor([prompt_ids])

    def generate(n: int) -> list[int]:
        with torch.no_grad():
            out = model.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=n, min_new_tokens=n,
                                 do_sample=False)
        return out[0, len(prompt_ids) :].tolist()

    return _decode_rate(generate, new_tokens), bits_per_byte(hf_token_nll(model, ids), text)


def _param_mb(model) -> float:
    total = 0
    for tensor in list(model.state_dict().values()):
        if isinstance(tensor, torch.Tensor):
            total += tensor.numel() * tensor.element_size()
    return total / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="trained model folder")
    parser.add_argument("--text", required=True, help="held-out UTF-8 text file")
    parser.add_argument("--max-bytes", type=int, default=20000, help="use the first N bytes of the text")
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--new-tokens", type=int, default=64, help="decode steps timed per run")
    parser.add_argument("--prompt-tokens", type=int, default=32)
    parser.add_argument("--work-dir", default=None, help="where exports go (default: a temp dir)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    text = Path(args.text).read_text(encoding="utf-8").encode("utf-8")[: args.max_bytes].decode("utf-8", "ignore")
    model, tokenizer = load_model_and_tokenizer(args.model, dtype="float32")
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    limit = model.config.max_position_embeddings
    new_tokens = min(args.new_tokens, limit - args.prompt_tokens - 1)
    prompt_ids = ids[: args.prompt_tokens]
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="tinyslm-export-report-"))
    work.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, str, float, float]] = []

    def log(msg: str) -> None:
        print(f"[report] {msg}", file=sys.stderr, flush=True)

    st_size = sum(p.stat().st_size for p in Path(args.model).glob("*.safetensors")) / 1e6
    log("transformers fp32")
    rows.append(("transformers fp32", f"{st_size:.1f}", *_hf_row(model, prompt_ids, ids, text, new_tokens)))
    log("transformers bf16")
    bf16 = copy.deepcopy(model).to(torch.bfloat16)
    rows.append(("transformers bf16", f"{_param_mb(bf16):.1f} (in memory)",
                 *_hf_row(bf16, prompt_ids, ids, text, new_tokens)))
    del bf16
    log("transformers int8")
    int8 = quantize_int8(copy.deepcopy(model))
    rows.append(("transformers int8 (dynamic)", f"{_param_mb(int8):.1f} (in memory)",
                 *_hf_row(int8, prompt_ids, ids, text, new_tokens)))
    del int8

    log("ONNX export")
    onnx_dir = export_onnx(copy.deepcopy(model), tokenizer, work / "onnx", int8=True, overwrite=True)
    for label, is_int8, file in (("ONNX fp32", False, MODEL_FILE), ("ONNX int8", True, INT8_FILE)):
        log(label)
        runner = OnnxCausalLM(onnx_dir, int8=is_int8, threads=args.threads)
        rate = _decode_rate(lambda n: runner.generate_ids(prompt_ids, n), new_tokens)
        rows.append((label, f"{(onnx_dir / file).stat().st_size / 1e6:.1f}", rate,
                     bits_per_byte(runner.token_nll(ids), text)))

    for out_type in ("f32", "f16", "q8_0"):
        log(f"GGUF {out_type}")
        path = export_gguf(model, tokenizer, work / f"model-{out_type}.gguf", out_type)
        llm = load_gguf(path, threads=args.threads)
        rate = _decode_rate(lambda n, llm=llm: gguf_generate_ids(llm, prompt_ids, n), new_tokens)
        llm.close()
        scorer = load_gguf(path, logits_all=True, threads=args.threads)
        bpb = bits_per_byte(gguf_token_nll(scorer, ids), text)
        scorer.close()
        rows.append((f"GGUF {out_type} (llama.cpp)", f"{path.stat().st_size / 1e6:.1f}", rate, bpb))

    n_params = sum(p.numel() for p in model.parameters())
    print(f"Model: `{args.model}` ({n_params / 1e6:.2f}M parameters, {model.config.preset or 'custom'} preset); "
          f"held-out text: {len(text.encode('utf-8'))} bytes, {len(ids)} tokens; {args.threads} threads; "
          f"decode = {new_tokens} greedy tokens after a {len(prompt_ids)}-token prompt, batch 1.\n")
    print("| runtime | file size (MB) | decode tok/s | bits/byte |")
    print("|---|---|---|---|")
    for label, size, rate, bpb in rows:
        print(f"| {label} | {size} | {rate:.0f} | {bpb:.4f} |")
    base_rate, base_bpb = rows[0][2], rows[0][3]
    q8 = rows[-1]
    print(f"\nGGUF q8_0 vs transformers fp32: {q8[2] / base_rate:.1f}x decode speed, "
          f"bits/byte {100 * (q8[3] - base_bpb) / base_bpb:+.2f}% (target: >= 10x, within 1%).")
    return 0


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    sys.exit(main())
