import json
from types import SimpleNamespace

import pytest
import torch

from tinyslm_hf.bench.speed import (SIZES, BenchSettings, build_model, check_greedy_match, compute_ratios,
                                  time_generate, time_trainer_steps)
from tinyslm_hf.cli import main


def test_models_are_built_at_identical_dims():
    s = BenchSettings(vocab_size=256, hidden_size=32, num_layers=2, num_heads=2, intermediate_size=96, seq_len=16)
    counts = {name: sum(p.numel() for p in build_model(name, s).parameters()) for name in s.models}
    assert counts["tinyslm-seed"] == counts["gpt2"]
    assert counts["tinyslm-modern"] == counts["llama"]


def test_125m_size_is_gpt2_small_for_every_model():
    """`--size 125m` is GPT-2 small's shape: ~124M parameters for each pair, equal within each pair."""
    s = BenchSettings(**SIZES["125m"], device="meta")
    with torch.device("meta"):
        counts = {name: sum(p.numel() for p in build_model(name, s).parameters()) for name in s.models}
    assert counts["tinyslm-seed"] == counts["gpt2"] and counts["tinyslm-modern"] == counts["llama"]
    assert all(120e6 < count < 130e6 for count in counts.values()), counts


def test_bench_trainer_rows_time_steps_through_the_trainer(tmp_path, monkeypatch):
    """`--trainer` adds tokens/s and MFU measured through transformers' Trainer, and ratios for them; the Trainer
    really runs the warm-up plus the timed steps."""
    import transformers

    from tinyslm_hf.bench import speed as benchmark

    trained_steps = []
    real_train = transformers.Trainer.train

    def counting_train(self, *args, **kwargs):
        result = real_train(self, *args, **kwargs)
        trained_steps.append(self.state.global_step)
        return result

    monkeypatch.setattr(transformers.Trainer, "train", counting_train)
    out = tmp_path / "bench"
    code = main(["bench", "--vocab-size", "256", "--hidden-size", "32", "--num-layers", "1", "--num-heads", "2",
                 "--intermediate-size", "64", "--seq-len", "16", "--batch-size", "2", "--train-steps", "3",
                 "--repeats", "1", "--generate-batches", "", "--dtypes", "bfloat16", "--trainer",
                 "--models", "tinyslm-seed,gpt2", "--out", str(out)])
    assert code == 0
    assert trained_steps == [benchmark.TRAINER_WARMUP_STEPS + 3] * 2  # one run per model
    results = json.loads((out / "benchmark.json").read_text())
    assert results["settings"]["batch_size"] == 2 and results["settings"]["trainer"] is True
    for name in ("tinyslm-seed", "gpt2"):
        entry = results["models"][name]
        assert entry["metrics"]["trainer_tok_s_bfloat16"]["median"] > 0  # the Trainer's own bf16 mixed precision
        # computed and positive; its size rests on the CPU's estimated peak, which 3 tiny steps cannot check
        assert 0 < entry["mfu_trainer_bfloat16"] < float("inf")
    assert "trainer_tok_s_bfloat16" in results["ratios"]["tinyslm-seed/gpt2"]
    assert "| mfu_trainer_bfloat16 |" in (out / "benchmark.md").read_text()


def test_each_trainer_run_gets_its_own_precision_and_leaves_the_timed_model_alone():
    """accelerate prepares a model once and keeps that precision: without a copy per run, a bf16 Trainer after an
    fp32 one would train in fp32, and a bf16 one would leave autocast wrapped around the bare loop's model."""
    s = BenchSettings(vocab_size=256, hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, seq_len=16,
                      batch_size=2, train_steps=1)
    model = build_model("tinyslm-seed", s)
    seen = []
    model.model.register_forward_pre_hook(lambda module, args: seen.append(torch.is_autocast_enabled("cpu")))
    for dtype, autocast in ((torch.float32, False), (torch.bfloat16, True), (torch.float32, False)):
        seen.clear()
        time_trainer_steps(model, s, dtype)
        assert seen and set(seen) == {autocast}, dtype
    assert not getattr(model, "_is_accelerate_prepared", False)
    seen.clear()
    model(torch.zeros(1, 4, dtype=torch.long))
    assert seen == [False]


def test_bench_verb_writes_table_json_and_chart(tmp_path, capsys):
    out = tmp_path / "bench"
    threads_before = torch.get_num_threads()
    code = main(["bench", "--vocab-size", "256", "--hidden-size", "32", "--num-layers", "1", "--num-heads", "2",
                 "--intermediate-size", "64", "--seq-len", "16", "--batch-size", "2", "--train-steps", "1",
                 "--repeats", "2", "--new-tokens", "3", "--generate-batches", "1", "--dtypes", "float32",
                 "--models", "tinyslm-seed,gpt2", "--threads", "1", "--out", str(out)])
    assert code == 0
    results = json.loads((out / "benchmark.json").read_text())
    assert results["torch_threads"] == 1 and torch.get_num_threads() == threads_before  # restored afterwards
    metrics = results["models"]["tinyslm-seed"]["metrics"]
    assert metrics["train_tok_s_float32"]["n"] == 2 and metrics["train_tok_s_float32"]["median"] > 0
    assert metrics["gen_tok_s_b1_float32"]["median"] > 0
    assert 0 < results["models"]["gpt2"]["mfu_float32"]
    assert "tinyslm-seed/gpt2" in results["ratios"]
    assert (out / "benchmark.png").stat().st_size > 1000
    assert "| train_tok_s_float32 |" in (out / "benchmark.md").read_text()
    assert "| MLP activation | gelu_pytorch_tanh | gelu_pytorch_tanh |" in (out / "benchmark.md").read_text()
    assert "ratio" in capsys.readouterr().out


def test_compile_adds_compiled_rows_and_both_kinds_of_ratio(tmp_path):
    # backend "eager" runs dynamo's tracing (graph breaks, guards, the static-cache auto-compile route in generate)
    # without inductor's code generation, which takes minutes; the benchmark itself uses inductor.
    out = tmp_path / "bench"
    code = main(["bench", "--vocab-size", "256", "--hidden-size", "32", "--num-layers", "1", "--num-heads", "2",
                 "--intermediate-size", "64", "--seq-len", "16", "--batch-size", "2", "--train-steps", "1",
                 "--repeats", "1", "--new-tokens", "6", "--generate-batches", "2", "--dtypes", "float32",
                 "--models", "tinyslm-seed,gpt2", "--compile", "--compile-backend", "eager", "--out", str(out)])
    assert code == 0
    results = json.loads((out / "benchmark.json").read_text())
    seed = results["models"]["tinyslm-seed"]
    for key in ("train_tok_s_float32", "train_tok_s_float32_compiled", "gen_tok_s_b2_float32",
                "gen_tok_s_b2_float32_static_compiled"):
        assert seed["metrics"][key]["median"] > 0, key
    assert set(seed["compile_seconds"]) == {"train_float32", "gen_b2_float32"}
    assert seed["dynamo"]["graph_breaks"] == 0 and seed["dynamo"]["graphs"] >= 2  # train + decode graphs
    assert results["models"]["gpt2"]["dynamo"]["graph_breaks"] == 0  # its loss-lookup log line is ignored
    ratios = results["ratios"]
    assert set(ratios["tinyslm-seed compiled/gpt2 eager"]) == {"train_tok_s_float32_compiled",
                                                                "gen_tok_s_b2_float32_static_compiled"}
    assert "train_tok_s_float32_compiled" in ratios["tinyslm-seed/gpt2"]
    assert "gen_tok_s_b2_float32_static_compiled" in ratios["gpt2 compiled/gpt2 eager"]
    table = (out / "benchmark.md").read_text()
    assert "| tinyslm-seed compiled/gpt2 eager train_tok_s_float32_compiled |" in table
    assert "| compile_s train_float32" in table


def test_compiled_generate_uses_the_static_cache_and_auto_compile():
    s = BenchSettings(vocab_size=256, hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, seq_len=16,
                      new_tokens=5, compile=True, compile_backend="eager")
    model = build_model("tinyslm-modern", s)
    eager, compiled = {}, {}
    time_generate(model, s, 1, torch.float32, timings=eager)
    assert not hasattr(model, "_compiled_call")
    time_generate(model, s, 1, torch.float32, compiled=True, timings=compiled)
    assert hasattr(model, "_compiled_call")  # generate() took transformers' compiled decode path on CPU
    assert compiled["tokens"].shape == (1, 16 + 5)
    assert check_greedy_match(model, eager["tokens"], compiled["tokens"]) == 0


class _FixedLogits:
    """Stands in for a model whose next-token logits are the same after every prefix."""

    def __init__(self, logits: list[float]):
        self.logits = torch.tensor([logits])

    def __call__(self, input_ids, use_cache=False):
        return SimpleNamespace(logits=self.logits.expand(input_ids.shape[0], input_ids.shape[1], -1))


def test_greedy_check_tolerates_exact_ties_and_raises_on_real_differences():
    model = _FixedLogits([0.0, 2.0, 2.0, 0.5])
    eager = torch.tensor([[3, 1, 1, 1]])
    assert check_greedy_match(model, eager, eager.clone()) == 0
    assert check_greedy_match(model, eager, torch.tensor([[3, 1, 2, 2]])) == 1  # tokens 1 and 2 tie
    with pytest.raises(AssertionError, match="not a tie"):
        check_greedy_match(model, eager, torch.tensor([[3, 1, 3, 3]]))  # token 3 is 1.5 below token 1


def test_ratios_pair_compiled_metrics_with_the_eager_reference():
    def metrics(**medians):
        return {"metrics": {k: {"median": v} for k, v in medians.items()}}

    models = {"tinyslm-seed": metrics(train_tok_s_float32=150, train_tok_s_float32_compiled=300,
                                      gen_tok_s_b1_float32_static_compiled=400),
              "gpt2": metrics(train_tok_s_float32=100, train_tok_s_float32_compiled=200, gen_tok_s_b1_float32=100)}
    ratios = compute_ratios(models, compiled=True)
    assert ratios["tinyslm-seed compiled/gpt2 eager"] == {"train_tok_s_float32_compiled": 3.0,
                                                          "gen_tok_s_b1_float32_static_compiled": 4.0}
    assert ratios["tinyslm-seed/gpt2"] == {"train_tok_s_float32": 1.5, "train_tok_s_float32_compiled": 1.5}
    assert ratios["gpt2 compiled/gpt2 eager"] == {"train_tok_s_float32_compiled": 2.0}
    assert "tinyslm-seed compiled/gpt2 eager" not in compute_ratios(models, compiled=False)


def test_cpu_peak_memory_is_measured_in_a_fresh_process_and_grows_with_the_batch():
    from tinyslm_hf.bench.speed import peak_memory_mb

    s = BenchSettings(vocab_size=4096, hidden_size=64, num_layers=1, num_heads=2, intermediate_size=128, seq_len=256,
                      train_steps=1, threads=1)
    small = peak_memory_mb("gpt2", BenchSettings(**{**s.__dict__, "batch_size": 1}))
    large = peak_memory_mb("gpt2", BenchSettings(**{**s.__dict__, "batch_size": 8}))
    # batch 8 adds 7 x 256 tokens of fp32 logits (4 MB each per 1024 tokens x 4096 vocab) and their gradients
    assert large - small > 20, (small, large)
