"""Side-by-side speed benchmark: TinySLM (seed, modern) vs transformers' GPT2LMHeadModel and LlamaForCausalLM.

All four models get identical dims and run in one process, interleaved repeat by repeat, so machine noise hits them
alike and the *ratios* are meaningful even on a busy machine. MFU is computed against a matmul peak measured in the
same run for the same dtype (not a datasheet number).

With `compile=True` every model is *also* measured compiled, next to (never instead of) its eager numbers: training
through `torch.compile(model)`, generation through `generate(cache_implementation="static", compile_config=...)`,
i.e. transformers' own auto-compiled decode step. Compile time is the first call's wall time, reported apart from
the timed steps, and the compiled greedy tokens are checked against the eager ones, so a speed-up never comes from
generating something else.
"""

from __future__ import annotations

import copy
import gc
import json
import logging
import os
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from transformers import (AutoModelForCausalLM, CompileConfig, GPT2Config, GPT2LMHeadModel, LlamaConfig,
                          LlamaForCausalLM)

from ..configuration_tinyslm import TinySLMConfig
from ..generation import decode_compile_config
from ..modeling_tinyslm import TinySLMForCausalLM


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
    # "reduce-overhead" means CUDA graphs, which inductor skips on CPU (so it equals "default" there). dynamic=False:
    # the decode step has one shape per batch size, so specialised graphs are both faster and never recompile.
    compile_mode: str = "default"
    compile_dynamic: bool | None = False
    compile_backend: str = "inductor"
    device: str = "cpu"
    # Intra-op threads (None: torch's default). On a machine shared with other jobs, fewer threads than cores avoids
    # OpenMP barriers waiting on a thread that was descheduled, which can slow every kernel several-fold.
    threads: int | None = None
    # Also time training through transformers' Trainer (its default fused AdamW, accelerate's autocast for bf16,
    # its data loader): what `tinyslm train` and most users run, next to the bare loop above.
    trainer: bool = False
    extra: dict = field(default_factory=dict)


# Model sizes for `tinyslm bench --size`: "small" is the default above; "125m" is GPT-2 small's shape (124M
# parameters with the tied 50257-token embedding), the size issue #8 asks to measure on a GPU.
SIZE_FIELDS = ("vocab_size", "hidden_size", "num_layers", "num_heads", "intermediate_size", "seq_len", "batch_size")
SIZES: dict[str, dict[str, int]] = {
    "small": {name: getattr(BenchSettings, name) for name in SIZE_FIELDS},
    "125m": {"vocab_size": 50257, "hidden_size": 768, "num_layers": 12, "num_heads": 12, "intermediate_size": 3072,
             "seq_len": 1024, "batch_size": 16},
}


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


def matmul_peak_flops(dtype: torch.dtype, device: str, n: int | None = None, iters: int = 10) -> float:
    """Best-of achieved FLOP/s of a square matmul: the machine's practical peak for this dtype.

    n = 1024 on a CPU (a 2 GFLOP matmul already saturates a few cores); 8192 on an accelerator, where a 1024
    matmul takes microseconds and launch overhead would understate the peak (and overstate every MFU).
    """
    if n is None:
        n = 1024 if device == "cpu" else 8192
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


def compile_kwargs(s: BenchSettings) -> dict[str, Any]:
    """The same torch.compile options for training and generation, so both compiled columns mean one thing."""
    return {"mode": s.compile_mode, "dynamic": s.compile_dynamic, "backend": s.compile_backend}


def generate_compile_config(s: BenchSettings) -> CompileConfig:
    return decode_compile_config(**compile_kwargs(s))


def trainer_default_adamw(model: torch.nn.Module) -> torch.optim.Optimizer:
    """AdamW as the HF Trainer builds it by default (`optim="adamw_torch_fused"`): torch's fused kernel, or the
    default implementation on a device torch has no fused kernel for."""
    try:
        return torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    except RuntimeError:
        return torch.optim.AdamW(model.parameters(), lr=1e-4)


def time_train_steps(model, s: BenchSettings, dtype: torch.dtype, timings: dict[str, float] | None = None) -> float:
    """Seconds per optimizer step (forward + backward + AdamW) at batch x seq tokens: the median of `s.train_steps`
    timed steps, so one step slowed by the machine (a neighbour, a page fault burst) does not move the result.

    The warm-up step (allocations; compilation for a compiled model) is not timed into the result; its wall time goes
    to `timings["warmup_s"]` when a dict is passed, which is how compile time is reported separately.
    """
    model.train()
    opt = trainer_default_adamw(model)
    ids = torch.randint(0, s.vocab_size, (s.batch_size, s.seq_len), device=s.device)
    autocast = torch.autocast(device_type=s.device.split(":")[0], dtype=dtype, enabled=dtype != torch.float32)

    def step():
        with autocast:
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    start = time.perf_counter()
    step()  # warm-up (allocations, compile)
    _sync(s.device)
    if timings is not None:
        timings["warmup_s"] = time.perf_counter() - start
    seconds = []
    for _ in range(s.train_steps):
        start = time.perf_counter()
        step()
        _sync(s.device)
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


class _RandomTokens(torch.utils.data.Dataset):
    """Fixed random token rows (labels = inputs): the Trainer's input pipeline without a tokenizer or files."""

    def __init__(self, rows: int, seq_len: int, vocab_size: int):
        self.ids = torch.randint(0, vocab_size, (rows, seq_len), generator=torch.Generator().manual_seed(0))

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.ids[index], "labels": self.ids[index]}


TRAINER_WARMUP_STEPS = 2  # the first steps allocate, build the optimizer state and (compiled) compile


def time_trainer_steps(model, s: BenchSettings, dtype: torch.dtype, compiled: bool = False,
                       timings: dict[str, float] | None = None) -> float:
    """Seconds per optimizer step through `transformers.Trainer`: the median interval between consecutive step ends
    after `TRAINER_WARMUP_STEPS` steps, so it includes what the Trainer adds to a step (data loading and collation,
    accelerate's autocast and loss scaling, gradient clipping, the scheduler, callbacks).

    bf16 and fp16 are the Trainer's own mixed precision (`bf16=True` / `fp16=True`); `compiled=True` is its
    `torch_compile` option with this run's compile settings. Warm-up wall time goes to `timings["warmup_s"]`.

    The Trainer gets a copy of the model: accelerate marks a model it has prepared and never prepares it again, so a
    second Trainer would silently keep the first one's precision (a bf16 run after an fp32 one trained in fp32), and
    a bf16 Trainer would leave its autocast wrapped around the forward of the model the other rows time.
    """
    from transformers import PrinterCallback, ProgressCallback, Trainer, TrainerCallback, TrainingArguments

    model = copy.deepcopy(model)

    class StepClock(TrainerCallback):
        def __init__(self):
            self.ends: list[float] = []

        def on_step_end(self, args, state, control, **kwargs):
            _sync(s.device)
            self.ends.append(time.perf_counter())

    clock = StepClock()
    steps = TRAINER_WARMUP_STEPS + s.train_steps
    with tempfile.TemporaryDirectory() as out_dir:
        args = TrainingArguments(
            output_dir=out_dir, per_device_train_batch_size=s.batch_size, max_steps=steps, learning_rate=1e-4,
            bf16=dtype == torch.bfloat16, fp16=dtype == torch.float16, use_cpu=s.device == "cpu",
            logging_strategy="no", save_strategy="no", report_to=[], disable_tqdm=True, dataloader_num_workers=0,
            torch_compile=compiled, torch_compile_backend=s.compile_backend if compiled else None,
            torch_compile_mode=s.compile_mode if compiled else None, seed=0)
        trainer = Trainer(model=model, args=args, callbacks=[clock],
                          train_dataset=_RandomTokens(steps * s.batch_size, s.seq_len, s.vocab_size))
        for quiet in (PrinterCallback, ProgressCallback):  # the end-of-training summary line
            trainer.remove_callback(quiet)
        start = time.perf_counter()
        trainer.train()
    if len(clock.ends) != steps:
        raise RuntimeError(f"the Trainer ran {len(clock.ends)} steps, not {steps}")
    if timings is not None:
        timings["warmup_s"] = clock.ends[TRAINER_WARMUP_STEPS - 1] - start
    ends = clock.ends[TRAINER_WARMUP_STEPS - 1:]
    return statistics.median(b - a for a, b in zip(ends, ends[1:]))


PROMPT_LEN = 16


def bench_prompt(s: BenchSettings, batch: int) -> torch.Tensor:
    """A fixed random prompt per batch size, so eager and compiled generation can be compared token for token."""
    generator = torch.Generator().manual_seed(1234 + batch)
    return torch.randint(0, s.vocab_size, (batch, PROMPT_LEN), generator=generator).to(s.device)


@torch.no_grad()
def time_generate(model, s: BenchSettings, batch: int, dtype: torch.dtype, compiled: bool = False,
                  timings: dict[str, Any] | None = None) -> tuple[float, float]:
    """(new tokens per second over the whole generate call, seconds to the first new token).

    `compiled=True` generates with a static cache and transformers' auto-compiled decode step (the prefill stays
    eager, as transformers intends). With a `timings` dict, the warm-up call's wall time (which includes compiling)
    goes to `timings["warmup_s"]` and the timed call's token ids to `timings["tokens"]`.
    """
    model.eval()
    prompt = bench_prompt(s, batch)
    kw: dict[str, Any] = dict(do_sample=False, pad_token_id=0)
    if compiled:
        # One cache size for every call below, so the warm-up's graphs are the ones timed (no re-allocation and
        # no recompilation for the 1-token and the long call).
        kw.update(cache_implementation="static", compile_config=generate_compile_config(s),
                  max_cache_len=PROMPT_LEN + s.new_tokens)
    autocast = torch.autocast(device_type=s.device.split(":")[0], dtype=dtype, enabled=dtype != torch.float32)
    with autocast:
        start = time.perf_counter()
        model.generate(prompt, max_new_tokens=4, min_new_tokens=4, **kw)  # warm-up
        _sync(s.device)
        warmup = time.perf_counter() - start
        start = time.perf_counter()
        model.generate(prompt, max_new_tokens=1, min_new_tokens=1, **kw)
        _sync(s.device)
        ttft = time.perf_counter() - start
        start = time.perf_counter()
        tokens = model.generate(prompt, max_new_tokens=s.new_tokens, min_new_tokens=s.new_tokens, **kw)
        _sync(s.device)
        elapsed = time.perf_counter() - start
    if timings is not None:
        timings.update(warmup_s=warmup, tokens=tokens)
    return batch * s.new_tokens / elapsed, ttft


@torch.no_grad()
def check_greedy_match(model, expected: torch.Tensor, got: torch.Tensor, tie_tol: float = 1e-4) -> int:
    """Raise unless `got` (compiled) equals `expected` (eager) up to exact ties; return the number of tie flips.

    Compiled kernels sum in another order, so where the eager model's two best logits are within float noise greedy
    decoding may legitimately pick the other one (and the rows then differ from there on). Any other difference is a
    bug (wrong cache position, mask, ...), and those give logit gaps far above `tie_tol`.
    """
    if expected.shape != got.shape:
        raise AssertionError(f"compiled generate returned shape {tuple(got.shape)}, eager {tuple(expected.shape)}")
    flips = 0
    for row in range(expected.shape[0]):
        diff = (expected[row] != got[row]).nonzero()
        if len(diff) == 0:
            continue
        pos = int(diff[0])
        logits = model(input_ids=expected[row : row + 1, :pos], use_cache=False).logits[0, -1].float()
        gap = abs(float(logits[expected[row, pos]] - logits[got[row, pos]]))
        if gap > tie_tol * max(1.0, float(logits.abs().max())):
            raise AssertionError(f"compiled greedy output differs from eager at row {row}, position {pos}: eager "
                                 f"picks token {int(expected[row, pos])}, compiled {int(got[row, pos])}, logit gap "
                                 f"{gap:.3g} (not a tie)")
        flips += 1
    return flips


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


_PEAK_MEMORY_CHILD = """
import json, sys
import torch
from tinyslm_hf.bench.speed import BenchSettings, build_model, time_train_steps

def status_kb(field):
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) for line in handle if line.startswith(field + ":"))

fields = json.loads(sys.argv[1])
s = BenchSettings(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})
torch.set_num_threads(s.threads or torch.get_num_threads())
model = build_model(sys.argv[2], s)
baseline = status_kb("VmRSS")
try:  # resets the peak (VmHWM) to the current resident set; without it the peak may include the build
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")
except OSError:
    pass
time_train_steps(model, s, getattr(torch, sys.argv[3]))
print(json.dumps((status_kb("VmHWM") - baseline) / 1024))
"""


def peak_memory_mb(name: str, s: BenchSettings, dtype: str = "float32") -> float:
    """Extra memory training steps of model `name` need at their peak, beyond the built model.

    On GPU, the CUDA allocator's peak. On CPU there is no allocator counter, and the resident set of this process
    says little (memory freed by the previous model is reused without growing it), so the steps run in a fresh
    process whose peak resident set (VmHWM, reset after building the model) is compared with the resident set
    after building it. Linux only, like the rest of the CPU memory reporting here.
    """
    if s.device.startswith("cuda"):
        model = build_model(name, s)
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        time_train_steps(model, s, getattr(torch, dtype))
        return (torch.cuda.max_memory_allocated() - before) / 2**20
    import subprocess
    import sys

    fields = {k: v for k, v in asdict(s).items() if k != "extra"}
    package_parent = str(Path(__file__).resolve().parent.parent)  # the child imports this very package
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")]))}
    out = subprocess.run([sys.executable, "-c", _PEAK_MEMORY_CHILD, json.dumps(fields), name, dtype],
                         capture_output=True, text=True, env=env)
    if out.returncode != 0:  # a memory number is not worth losing the speed results of the whole run
        logging.getLogger(__name__).warning("peak memory of %s not measured: %s", name, out.stderr[-500:])
        return float("nan")
    return float(out.stdout.strip().splitlines()[-1])


def _stats(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


COMPILED = "_compiled"  # suffix of a training key measured compiled
STATIC_COMPILED = "_static_compiled"  # suffix of a generation key: static cache + auto-compiled decode step


def eager_key(key: str) -> str:
    """The eager metric a compiled one is compared with: `gen_tok_s_b1_float32_static_compiled` -> `..._float32`."""
    for suffix in (STATIC_COMPILED, COMPILED):
        if key.endswith(suffix):
            return key[: -len(suffix)]
    return key


def _dynamo_counts() -> dict[str, int]:
    """Graph breaks, graphs and inductor cache hits so far; diffs per model show where compile time went."""
    from torch._dynamo.utils import counters

    return {"graph_breaks": sum(counters["graph_break"].values()), "graphs": counters["stats"]["unique_graphs"],
            "fxgraph_cache_hits": counters["inductor"]["fxgraph_cache_hit"]}


def _graph_break_reasons() -> dict[str, int]:
    from torch._dynamo.utils import counters

    return dict(counters["graph_break"])


def run_benchmark(s: BenchSettings, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Measure every model in `s.models`, interleaved repeat by repeat; see the module docstring."""
    previous_threads = torch.get_num_threads()
    if s.threads:
        torch.set_num_threads(s.threads)
    try:
        results = _run_benchmark(s, log)
    finally:
        torch.set_num_threads(previous_threads)
    return results


@dataclass
class _Measurements:
    """Raw timings of one benchmark run, per model: metric -> one value per repeat, plus compile bookkeeping."""

    raw: dict[str, dict[str, list[float]]]
    compile_s: dict[str, dict[str, float]]
    dynamo: dict[str, dict[str, int]]
    tie_flips: dict[str, int]

    @classmethod
    def empty(cls, names) -> "_Measurements":
        return cls({n: {} for n in names}, {n: {} for n in names}, {n: {} for n in names}, {n: 0 for n in names})

    def add(self, name: str, metric: str, value: float) -> None:
        self.raw[name].setdefault(metric, []).append(value)


def _measure_dtype(name: str, model, compiled, s: BenchSettings, dname: str, dt: torch.dtype,
                   m: _Measurements) -> None:
    """One repeat of every measurement of one model in one dtype: eager (and compiled right after it: same weights,
    same machine moment) training, Trainer training, and generation per batch size."""
    tokens = s.batch_size * s.seq_len
    m.add(name, f"train_tok_s_{dname}", tokens / time_train_steps(model, s, dt))
    if s.compile:
        timing: dict[str, Any] = {}
        m.add(name, f"train_tok_s_{dname}{COMPILED}", tokens / time_train_steps(compiled, s, dt, timing))
        m.compile_s[name].setdefault(f"train_{dname}", timing["warmup_s"])
    if s.trainer:
        m.add(name, f"trainer_tok_s_{dname}", tokens / time_trainer_steps(model, s, dt))
        if s.compile:
            timing = {}
            m.add(name, f"trainer_tok_s_{dname}{COMPILED}",
                  tokens / time_trainer_steps(model, s, dt, compiled=True, timings=timing))
            m.compile_s[name].setdefault(f"trainer_{dname}", timing["warmup_s"])
    for batch in s.generate_batches:
        eager: dict[str, Any] = {}
        tps, ttft = time_generate(model, s, batch, dt, timings=eager)
        m.add(name, f"gen_tok_s_b{batch}_{dname}", tps)
        m.add(name, f"ttft_ms_b{batch}_{dname}", ttft * 1e3)
        if s.compile:
            timing = {}
            tps, ttft = time_generate(model, s, batch, dt, compiled=True, timings=timing)
            m.add(name, f"gen_tok_s_b{batch}_{dname}{STATIC_COMPILED}", tps)
            m.add(name, f"ttft_ms_b{batch}_{dname}{STATIC_COMPILED}", ttft * 1e3)
            m.compile_s[name].setdefault(f"gen_b{batch}_{dname}", timing["warmup_s"])
            if dt == torch.float32:  # autocast to an emulated bf16 legitimately changes tokens
                m.tie_flips[name] += check_greedy_match(model, eager["tokens"], timing["tokens"])


def _model_entry(name: str, model, s: BenchSettings, m: _Measurements, peaks: dict[str, float]) -> dict[str, Any]:
    """One model's results: statistics of every metric, MFU per loop and dtype, load time and peak memory."""
    flops_tok = train_flops_per_token(model, s.seq_len, s.num_layers, s.hidden_size)
    entry: dict[str, Any] = {"parameters": sum(p.numel() for p in model.parameters()),
                             "activation": model_activation(model),
                             "metrics": {k: _stats(v) for k, v in m.raw[name].items()}}
    for dname in peaks:
        for suffix in ("", COMPILED) if s.compile else ("",):
            for loop, prefix in (("train", "mfu_"), ("trainer", "mfu_trainer_")):
                if f"{loop}_tok_s_{dname}{suffix}" in entry["metrics"]:
                    tok_s = entry["metrics"][f"{loop}_tok_s_{dname}{suffix}"]["median"]
                    entry[f"{prefix}{dname}{suffix}"] = tok_s * flops_tok / peaks[dname]
    if s.compile:
        entry["compile_seconds"] = m.compile_s[name]
        entry["dynamo"] = m.dynamo[name]
        entry["greedy_tie_flips"] = m.tie_flips[name]
    entry["load_seconds"] = time_load(model)
    entry["train_peak_mem_mb"] = peak_memory_mb(name, s)
    return entry


def _run_benchmark(s: BenchSettings, log: Callable[[str], None]) -> dict[str, Any]:
    dtypes = {name: getattr(torch, name) for name in s.dtypes}
    peaks = {name: 0.0 for name in dtypes}
    models = {name: build_model(name, s) for name in s.models}
    # torch.compile(model) wraps without touching the model, so eager rows still measure the plain module and both
    # share (and train) the same weights. Generation compiles through generate() itself (see time_generate).
    compiled_train = {name: torch.compile(m, **compile_kwargs(s)) for name, m in models.items()} if s.compile else {}
    if s.compile:  # the compiler's one-off start-up (imports, C++ toolchain probe) would land on the first model
        torch.compile(lambda x: torch.nn.functional.gelu(x @ x).sum(), **compile_kwargs(s))(torch.randn(8, 8))
    measured = _Measurements.empty(models)
    # Every model (and batch size and dtype) adds cache entries to the same transformers wrapper frames; the default
    # limit of 8 would silently fall back to eager and time the wrong thing. GPT2LMHeadModel's loss lookup calls
    # `logger.warning_once` on every forward (its class name maps to no loss type), a graph break that would split
    # the reference's compiled training step for a log line; ignoring it gives the reference its best compiled run.
    dynamo_patch = torch._dynamo.config.patch(
        recompile_limit=max(torch._dynamo.config.recompile_limit, 64),
        ignore_logging_functions=torch._dynamo.config.ignore_logging_functions | {logging.Logger.warning_once})
    with dynamo_patch:
        for repeat in range(s.repeats):
            # The peak is re-measured every repeat and the best kept, so MFU is never computed against a peak taken
            # in a busier moment than the model timings.
            for dname, dt in dtypes.items():
                peaks[dname] = max(peaks[dname], matmul_peak_flops(dt, s.device))
            for name, model in models.items():  # interleaved: every model sees the same machine state per repeat
                before = _dynamo_counts()
                for dname, dt in dtypes.items():
                    _measure_dtype(name, model, compiled_train.get(name), s, dname, dt, measured)
                after = _dynamo_counts()
                for k in after:
                    measured.dynamo[name][k] = measured.dynamo[name].get(k, 0) + after[k] - before[k]
                log(f"repeat {repeat + 1}/{s.repeats} {name} done")
    log("matmul peak: " + ", ".join(f"{k} {v / 1e9:.1f} GFLOP/s" for k, v in peaks.items()))
    results: dict[str, Any] = {"settings": asdict(s), "torch_threads": torch.get_num_threads(),
                               "matmul_peak_flops": peaks, "models": {}}
    for name, model in models.items():
        results["models"][name] = _model_entry(name, model, s, measured, peaks)
        del model
        gc.collect()
    if s.compile:
        results["graph_break_reasons"] = _graph_break_reasons()
    results["ratios"] = compute_ratios(results["models"], compiled=s.compile)
    return results


def model_activation(model: torch.nn.Module) -> str:
    """The MLP activation a model runs, by its config's name: its kernel is a visible share of a CPU step (the exact
    erf GELU is 3-5x faster than the tanh form in training), so the tables name it next to the speeds."""
    config = model.config
    return getattr(config, "hidden_act", None) or getattr(config, "activation_function", "?")


def compute_ratios(models: dict[str, Any], compiled: bool = False) -> dict[str, dict[str, float]]:
    """Throughput ratios (>1: the first model is faster), all from medians of the same run.

    "A/B": same metric for both (eager vs eager, compiled vs compiled: the fair pairing). With compile, also
    "A compiled/B eager" (what issue #8's targets ask: ours compiled against the reference as shipped) and
    "X compiled/X eager" (what compiling buys each model).
    """
    tok_s = {name: {k: v["median"] for k, v in entry["metrics"].items() if "tok_s" in k}
             for name, entry in models.items()}
    ratios: dict[str, dict[str, float]] = {}
    for ours, ref in {"tinyslm-seed": "gpt2", "tinyslm-modern": "llama"}.items():
        if ours in tok_s and ref in tok_s:
            ratios[f"{ours}/{ref}"] = {k: v / tok_s[ref][k] for k, v in tok_s[ours].items() if k in tok_s[ref]}
            if compiled:
                ratios[f"{ours} compiled/{ref} eager"] = {
                    k: v / tok_s[ref][eager_key(k)] for k, v in tok_s[ours].items()
                    if eager_key(k) != k and eager_key(k) in tok_s[ref]}
    if compiled:
        for name, values in tok_s.items():
            ratios[f"{name} compiled/{name} eager"] = {k: v / values[eager_key(k)] for k, v in values.items()
                                                      if eager_key(k) != k and eager_key(k) in values}
    return ratios


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
    for extra in [k for k in results["models"][names[0]] if k.startswith("mfu_")]:
        lines.append(f"| {extra} | " + " | ".join(f"{results['models'][n][extra]:.1%}" for n in names) + " |")
    for key in results["models"][names[0]].get("compile_seconds", {}):
        lines.append(f"| compile_s {key} (warm-up call incl. compiling) | "
                     + " | ".join(f"{results['models'][n]['compile_seconds'][key]:.1f}" for n in names) + " |")
    if "dynamo" in results["models"][names[0]]:
        for key in ("graph_breaks", "graphs"):
            lines.append(f"| dynamo {key} | " + " | ".join(str(results["models"][n]["dynamo"][key]) for n in names)
                         + " |")
        lines.append("| greedy tie flips, compiled vs eager (fp32) | "
                     + " | ".join(str(results["models"][n]["greedy_tie_flips"]) for n in names) + " |")
    lines.append("| load_seconds | " + " | ".join(f"{results['models'][n]['load_seconds']:.3f}" for n in names) + " |")
    lines.append("| train_peak_mem_mb (fp32) | "
                 + " | ".join(f"{results['models'][n]['train_peak_mem_mb']:.0f}" for n in names) + " |")
    lines.append("| MLP activation | " + " | ".join(results["models"][n]["activation"] for n in names) + " |")
    lines.append("| parameters (M) | " + " | ".join(f"{results['models'][n]['parameters'] / 1e6:.2f}" for n in names)
                 + " |")
    if results.get("ratios"):
        lines += ["", "| ratio (>1: the first named is faster) | value |", "|---|---|"]
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


__all__ = ["SIZES", "BenchSettings", "build_model", "markdown_table", "run_benchmark", "save_results"]
