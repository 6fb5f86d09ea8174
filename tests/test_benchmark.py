import json

from tinyslm_hf.benchmark import BenchSettings, build_model
from tinyslm_hf.cli import main


def test_models_are_built_at_identical_dims():
    s = BenchSettings(vocab_size=256, hidden_size=32, num_layers=2, num_heads=2, intermediate_size=96, seq_len=16)
    counts = {name: sum(p.numel() for p in build_model(name, s).parameters()) for name in s.models}
    assert counts["tinyslm-seed"] == counts["gpt2"]
    assert counts["tinyslm-modern"] == counts["llama"]


def test_bench_verb_writes_table_json_and_chart(tmp_path, capsys):
    out = tmp_path / "bench"
    code = main(["bench", "--vocab-size", "256", "--hidden-size", "32", "--num-layers", "1", "--num-heads", "2",
                 "--intermediate-size", "64", "--seq-len", "16", "--batch-size", "2", "--train-steps", "1",
                 "--repeats", "2", "--new-tokens", "3", "--generate-batches", "1", "--dtypes", "float32",
                 "--models", "tinyslm-seed,gpt2", "--out", str(out)])
    assert code == 0
    results = json.loads((out / "benchmark.json").read_text())
    metrics = results["models"]["tinyslm-seed"]["metrics"]
    assert metrics["train_tok_s_float32"]["n"] == 2 and metrics["train_tok_s_float32"]["median"] > 0
    assert metrics["gen_tok_s_b1_float32"]["median"] > 0
    assert 0 < results["models"]["gpt2"]["mfu_float32"]
    assert "tinyslm-seed/gpt2" in results["ratios"]
    assert (out / "benchmark.png").stat().st_size > 1000
    assert "| train_tok_s_float32 |" in (out / "benchmark.md").read_text()
    assert "ratio" in capsys.readouterr().out
