"""Side-by-side speed benchmark: TinySLM (seed, modern) vs transformers' GPT2LMHeadModel and LlamaForCausalLM.

All four models get identical dims and run in one process, interleaved repeat by repeat, so machine noise hits them
alike and the *ratios* are meaningful even on a busy machine. MFU is computed against a matmul peak measured in the
same run for the same dtype (not a datasheet number).
"""

from __future__ import annotations

import gc
import json
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from .configuration_tinyslm import TinySLMConfig
from .modeling_tinyslm import TinySLMForCausalLM


@dataclass
class BenchSettings:
    vocab_size: int = 8192
    hidden_size: int = 256
    num_layers: int = 8
    num_heads: int = 4
    intermediate_size: int = 1024
    seq_len: int = 256
    batch_size: int = 8
    train_steps: int = 3
    repeats: int = 3
    new_tokens: int = 128
    generate_batches: tuple[int, ...] = (1, 8)
    dtypes: tuple[str, ...] = ("float32", "bfloat16")
    models: tuple[str, ...] = ("tinyslm-seed", "tinyslm-modern", "gpt2", "llama")
    attn_implementation: str = "sdpa"
    compile: bool = False
    device: str = "cpu"
    extra: dict = field(default_factory=dict)


def build_model(name: str, s: BenchSettings) -> torch.nn.Module:
    """Each model at the same dims; the modern/Llama pair uses SwiGLU with a parameter-matched width."""
    swiglu_width = (2 * s.intermediate_size // 3 + 31) // 32 * 32
    if name == "tinyslm-seed":
        config = TinySLMConfig(vocab_size=s.vocab_size, hidden_size=s.hidden_size, num_hidden_layers=s.num_layers,
                               num_attention_heads=s.num_heads, intermediate_size=s.intermediate_size,
                               max_position_embeddings=max(s.seq_len, 512) + s.new_tokens)
        model = TinySLMForCausalLM(config)
    elif name == "tinyslm-modern":
        config = TinySLMConfig.from_preset(
            "modern", vocab_size=s.vocab_size, hidden_size=s.hidden_size, num_hidden_layers=s.num_layers,
            num_attention_heads=s.num_heads, num_key_value_heads=s.num_heads, intermediate_size=swiglu_width,
            max_position_embeddings=max(s.seq_len, 512) + s.new_tokens)
        model = TinySLMForCausalLM(config)
    elif name == "gpt2":
        model = GPT2LMHeadModel(GPT2Config(
            vocab_size=s.vocab_size, n_embd=s.hidden_size, n_layer=s.num_layers, n_head=s.num_heads,
            n_inner=s.intermediate_size, n_positions=max(s.seq_len, 512) + s.new_tokens,
            activation_function="gelu_pytorch_tanh", resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
            bos_token_id=None, eos_token_id=None))
    elif name == "llama":
        model = LlamaForCausalLM(LlamaConfig(
            vocab_size=s.vocab_size, hidden_size=s.hidden_size, num_hidden_layers=s.num_layers,
            num_attention_heads=s.num_heads, num_key_value_heads=s.num_heads, intermediate_size=swiglu_width,
            max_position_embeddings=max(s.seq_len, 512) + s.new_tokens, tie_word_embeddings=True,
            bos_token_id=None, eos_token_id=None, pad_token_id=None))
    else:
        raise ValueError(f"unknown model {name!r}; choose from tinyslm-seed, tinyslm-modern, gpt2, llama")
    model.config._attn_implementation = s.attn_implementation
    model.generation_config.pad_token_id = 0
    return model.to(s.device)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def matmul_peak_flops(dtype: torch.dtype, device: str, n: int = 1024, iters: int = 10) -> float:
    """Best-of achieved FLOP/s of a square matmul: the machine's practical peak for this dtype."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    torch.mm(a, b)
    best = 0.0
    for _ in range(iters):
        _sync(device)
        start = time.perf_counter()
        torch.mm(a, b)
        _sync(device)
        best = max(best, 2 * n**3 / (time.perf_counter() - start))
    return best


def train_flops_per_token(model: torch.nn.Module, seq_len: int, num_layers: int, hidden: int) -> float:
    """6 N (forward + backward of every weight) + 12 L T d for attention scores and values (PaLM appendix B)."""
    n_params = sum(p.numel() for p in model.parameters())
    return 6 * n_params + 12 * num_layers * seq_len * hidden


def time_train_steps(model, s: BenchSettings, dtype: torch.dtype) -> float:
    """Seconds per optimizer step (forward + backward + AdamW) at batch x seq tokens."""
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=False)
    ids = torch.randint(0, s.vocab_size, (s.batch_size, s.seq_len), device=s.device)
    autocast = torch.autocast(device_type=s.device.split(":")[0], dtype=dtype, enabled=dtype != torch.float32)

    def step():
        with autocast:
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    step()  # warm-up (allocations, compile)
    _sync(s.device)
    start = time.perf_counter()
    for _ in range(s.train_steps):
        step()
    _sync(s.device)
    return (time.perf_counter() - start) / s.train_steps


@torch.no_grad()
def time_generate(model, s: BenchSettings, batch: int, dtype: torch.dtype) -> tuple[float, float]:
    """(new tokens per second over the whole generate call, seconds to the first new token)."""
    model.eval()
    prompt = torch.randint(0, s.vocab_size, (batch, 16), device=s.device)
    kw: dict[str, Any] = dict(do_sample=False, pad_token_id=0)
    if s.compile:
        kw["cache_implementation"] = "static"
    autocast = torch.autocast(device_type=s.device.split(":")[0], dtype=dtype, enabled=dtype != torch.float32)
    with autocast:
        model.generate(prompt, max_new_tokens=4, min_new_tokens=4, **kw)  # warm-up
        _sync(s.device)
        start = time.perf_counter()
        model.generate(prompt, max_new_tokens=1, min_new_tokens=1, **kw)
        _sync(s.device)
        ttft = time.perf_counter() - start
        start = time.perf_counter()
        model.generate(prompt, max_new_tokens=s.new_tokens, min_new_tokens=s.new_tokens, **kw)
        _sync(s.device)
        elapsed = time.perf_counter() - start
    return batch * s.new_tokens / elapsed, ttft


def time_load(model, repeats: int = 3) -> float:
    """Median seconds for `from_pretrained` of a saved safetensors folder."""
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            AutoModelForCausalLM.from_pretrained(tmp)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def _rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * 4096


def peak_memory_mb(fn: Callable[[], Any], device: str) -> float:
    """Extra memory `fn` needs at its peak: the CUDA allocator's peak on GPU; on CPU, the peak of the process's
    resident set (sampled every 2 ms by a thread) above what it was before the call."""
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
        fn()
        return torch.cuda.max_memory_allocated() / 2**20
    import threading

    gc.collect()
    baseline = _rss_bytes()
    peak = [baseline]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _rss_bytes())
            time.sleep(0.002)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        fn()
    finally:
        done.set()
        thread.join()
    return (max(peak[0], _rss_bytes()) - baseline) / 2**20


def _stats(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def run_benchmark(s: BenchSettings, log: Callable[[str], None] = print) -> dict[str, Any]:
    if s.device.startswith("cpu"):
        torch.set_num_threads(torch.get_num_threads())
    dtypes = {name: getattr(torch, name) for name in s.dtypes}
    peaks = {name: 0.0 for name in dtypes}
    models = {name: build_model(name, s) for name in s.models}
    if s.compile:
        for m in models.values():
            m.forward = torch.compile(m.forward)
    raw: dict[str, dict[str, list[float]]] = {name: {} for name in models}
    for repeat in range(s.repeats):
        # The peak is re-measured every repeat and the best kept, so MFU is never computed against a peak taken
        # in a busier moment than the model timings.
        for dname, dt in dtypes.items():
            peaks[dname] = max(peaks[dname], matmul_peak_flops(dt, s.device))
        for name, model in models.items():  # interleaved: every model sees the same machine state per repeat
            for dname, dt in dtypes.items():
                seconds = time_train_steps(model, s, dt)
                raw[name].setdefault(f"train_tok_s_{dname}", []).append(s.batch_size * s.seq_len / seconds)
                for batch in s.generate_batches:
                    tps, ttft = time_generate(model, s, batch, dt)
                    raw[name].setdefault(f"gen_tok_s_b{batch}_{dname}", []).append(tps)
                    raw[name].setdefault(f"ttft_ms_b{batch}_{dname}", []).append(ttft * 1e3)
            log(f"repeat {repeat + 1}/{s.repeats} {name} done")
    log("matmul peak: " + ", ".join(f"{k} {v / 1e9:.1f} GFLOP/s" for k, v in peaks.items()))
    results: dict[str, Any] = {"settings": asdict(s), "matmul_peak_flops": peaks, "models": {}}
    for name, model in models.items():
        flops_tok = train_flops_per_token(model, s.seq_len, s.num_layers, s.hidden_size)
        entry: dict[str, Any] = {"parameters": sum(p.numel() for p in model.parameters()),
                                 "metrics": {k: _stats(v) for k, v in raw[name].items()}}
        for dname in dtypes:
            tok_s = entry["metrics"][f"train_tok_s_{dname}"]["median"]
            entry[f"mfu_{dname}"] = tok_s * flops_tok / peaks[dname]
        entry["load_seconds"] = time_load(model)
        entry["train_peak_mem_mb"] = peak_memory_mb(lambda m=model: time_train_steps(m, s, torch.float32), s.device)
        results["models"][name] = entry
        del model
        gc.collect()
    base = {"tinyslm-seed": "gpt2", "tinyslm-modern": "llama"}
    ratios = {}
    for ours, ref in base.items():
        if ours in results["models"] and ref in results["models"]:
            ours_m, ref_m = results["models"][ours]["metrics"], results["models"][ref]["metrics"]
            ratios[f"{ours}/{ref}"] = {k: ours_m[k]["median"] / ref_m[k]["median"]
                                       for k in ours_m if "tok_s" in k and k in ref_m}
    results["ratios"] = ratios
    return results


def markdown_table(results: dict[str, Any]) -> str:
    names = list(results["models"])
    keys = [k for k in next(iter(results["models"].values()))["metrics"]]
    lines = ["| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for key in keys:
        cells = []
        for name in names:
            m = results["models"][name]["metrics"][key]
            cells.append(f"{m['median']:.1f} ({m['min']:.1f}-{m['max']:.1f})")
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    for extra in ("mfu_float32", "mfu_bfloat16"):
        if extra in results["models"][names[0]]:
            lines.append(f"| {extra} | " + " | ".join(f"{results['models'][n][extra]:.1%}" for n in names) + " |")
    lines.append("| load_seconds | " + " | ".join(f"{results['models'][n]['load_seconds']:.3f}" for n in names) + " |")
    lines.append("| train_peak_mem_mb (fp32) | "
                 + " | ".join(f"{results['models'][n]['train_peak_mem_mb']:.0f}" for n in names) + " |")
    lines.append("| parameters (M) | " + " | ".join(f"{results['models'][n]['parameters'] / 1e6:.2f}" for n in names)
                 + " |")
    if results.get("ratios"):
        lines += ["", "| ratio (TinySLM / reference, >1 is faster) | value |", "|---|---|"]
        for pair, values in results["ratios"].items():
            for key, value in values.items():
                lines.append(f"| {pair} {key} | {value:.2f}x |")
    return "\n".join(lines)


def bar_chart(results: dict[str, Any], path: str | Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    names = list(results["models"])
    keys = [k for k in results["models"][names[0]]["metrics"] if "tok_s" in k]
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys) + 0.5, 3.6), dpi=100, squeeze=False)
    for ax, key in zip(axes[0], keys):
        med = [results["models"][n]["metrics"][key]["median"] for n in names]
        lo = [m - results["models"][n]["metrics"][key]["min"] for m, n in zip(med, names)]
        hi = [results["models"][n]["metrics"][key]["max"] - m for m, n in zip(med, names)]
        ax.bar(range(len(names)), med, yerr=[lo, hi], color=["#d95f02", "#e6ab02", "#7570b3", "#1b9e77"][: len(names)])
        ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=8)
        ax.set_title(key, fontsize=9)
    fig.suptitle("tokens/s (median, min-max bars; higher is better)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def save_results(results: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "benchmark.json").write_text(json.dumps(results, indent=2))
    (out / "benchmark.md").write_text(markdown_table(results) + "\n")
    paths = {"json": out / "benchmark.json", "markdown": out / "benchmark.md"}
    chart = bar_chart(results, out / "benchmark.png")
    if chart:
        paths["chart"] = chart
    return paths


__all__ = ["BenchSettings", "build_model", "markdown_table", "run_benchmark", "save_results"]
