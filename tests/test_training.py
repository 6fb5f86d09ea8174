"""End-to-end `tinyslm train` runs with a tiny config (seconds each)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline

from tinyslm_hf.cli import main
from tinyslm_hf.training import last_complete_checkpoint

TINY = ["--vocab-size", "300", "--hidden-size", "32", "--num-hidden-layers", "2", "--num-attention-heads", "2",
        "--block-size", "32", "--batch-size", "8", "--learning-rate", "3e-3", "--warmup-steps", "2",
        "--dropout", "0", "--sample-tokens", "10", "--max-minutes", "0", "--logging-steps", "5"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "repeated.txt"
    path.write_text("The cat sat on the mat. The dog sat on the log. " * 120, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory, corpus):
    out = tmp_path_factory.mktemp("run") / "run"
    assert main(["train", str(corpus), "--output-dir", str(out), *TINY, "--max-steps", "40", "--eval-every", "20",
                 "--save-every", "20"]) == 0
    return out


def test_final_folder_is_complete(trained):
    final = trained / "final"
    names = set(os.listdir(final))
    assert {"model.safetensors", "config.json", "generation_config.json", "tokenizer.json", "README.md",
            "loss_curve.png", "modeling_tinyslm.py", "kernels_tinyslm.py", "configuration_tinyslm.py", "train_metrics.json"} <= names
    config = json.loads((final / "config.json").read_text())
    assert config["use_cache"] is True and "AutoModelForCausalLM" in config["auto_map"]
    assert config["qk_norm"] is True  # the modern default; the weights hold the norms
    assert "model.layers.0.self_attn.q_norm.weight" in load_file(final / "model.safetensors")
    generation = json.loads((final / "generation_config.json").read_text())
    assert generation["eos_token_id"] == [0, 3] and generation["pad_token_id"] == 1
    card = (final / "README.md").read_text()
    assert "library_name: transformers" in card and "bits per byte" in card
    assert not [n for n in names if n.endswith(".bin")]


def test_qk_norm_defaults_to_the_preset_and_can_be_set():
    from tinyslm_hf.settings import TrainSettings
    from tinyslm_hf.training import model_config

    assert model_config(TrainSettings(), 300, None).qk_norm is True
    assert model_config(TrainSettings(preset="seed"), 300, None).qk_norm is False  # GPT-2 shaped: no QK-norm
    assert model_config(TrainSettings(qk_norm=False), 300, None).qk_norm is False
    assert model_config(TrainSettings(preset="seed", qk_norm=True), 300, None).qk_norm is True
    with pytest.raises(ValueError, match="qk_norm must be a bool"):
        TrainSettings(qk_norm="yes").validate()


def test_resume_follows_the_checkpoints_qk_norm_unless_told_otherwise(tmp_path):
    from tinyslm_hf.settings import TrainSettings
    from tinyslm_hf.training import check_resume_recipe

    old = tmp_path / "checkpoint-5"  # a run from before the field existed: its config has no qk_norm (off)
    old.mkdir()
    (old / "config.json").write_text(json.dumps({"model_type": "tinyslm", "hidden_size": 32}))
    check_resume_recipe(TrainSettings(), old)  # untyped: the checkpoint's model is rebuilt as it was
    check_resume_recipe(TrainSettings(qk_norm=False), old)
    with pytest.raises(ValueError, match="was trained with qk_norm False; pass --no-qk-norm"):
        check_resume_recipe(TrainSettings(qk_norm=True), old)


def test_loss_decreases_on_repeated_text(trained):
    metrics = json.loads((trained / "final" / "train_metrics.json").read_text())
    state = json.loads((trained / "checkpoint-40" / "trainer_state.json").read_text())
    losses = [h["loss"] for h in state["log_history"] if "loss" in h]
    assert losses[-1] < losses[0] - 1.0
    assert metrics["heldout_loss"] < 3.0 and metrics["heldout_bits_per_byte"] > 0


def test_output_folder_loads_with_auto_classes_and_generates(trained):
    final = trained / "final"
    model = AutoModelForCausalLM.from_pretrained(final, trust_remote_code=True)
    tok = AutoTokenizer.from_pretrained(final, trust_remote_code=True)
    ids = tok("The cat", return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=8, do_sample=False)
    assert out.shape[1] > ids["input_ids"].shape[1]
    text = pipeline("text-generation", model=str(final))("The dog", max_new_tokens=6)[0]["generated_text"]
    assert text.startswith("The dog")


def test_existing_output_dir_is_refused(trained, corpus, capsys):
    assert main(["train", str(corpus), "--output-dir", str(trained), *TINY, "--max-steps", "2"]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_bad_input_file_exits_with_a_message(tmp_path, capsys):
    binary = tmp_path / "blob.txt"
    binary.write_bytes(b"\x00\x01\x02" * 100)
    assert main(["train", str(binary), "--output-dir", str(tmp_path / "out"), *TINY, "--max-steps", "2"]) == 2
    assert "binary" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU path of bf16 autocast")
def test_bf16_autocast_trains_on_the_cpu(tmp_path, corpus):
    """transformers refuses `bf16=True` without a GPU unless the run is marked as a CPU run; `--bf16 auto` turns
    bf16 on for AVX512-BF16/AMX CPUs, where that refusal broke every training run."""
    out = tmp_path / "run"
    assert main(["train", str(corpus), "--output-dir", str(out), *TINY, "--max-steps", "4", "--bf16", "true"]) == 0
    metrics = json.loads((out / "final" / "train_metrics.json").read_text())
    assert metrics["steps"] == 4 and metrics["heldout_loss"] < 10.0


def test_document_masking_trains_on_blocks_with_restarting_positions(tmp_path, monkeypatch):
    """--document-masking reaches the model: every training batch carries position ids that restart at each eos."""
    from tinyslm_hf import modeling_tinyslm

    corpus = tmp_path / "docs.jsonl"
    corpus.write_text("\n".join(json.dumps({"text": f"Story {i}: the cat sat on mat {i}."}) for i in range(200)))
    seen = []
    forward = modeling_tinyslm.TinySLMModel.forward

    def spy(self, *args, **kwargs):
        if self.training:
            assert kwargs.get("attention_mask") is None  # a mask would switch the document mask off
            seen.append(kwargs.get("position_ids"))
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(modeling_tinyslm.TinySLMModel, "forward", spy)
    out = tmp_path / "run"
    assert main(["train", str(corpus), "--output-dir", str(out), *TINY, "--max-steps", "3",
                 "--document-masking"]) == 0
    assert len(seen) == 3 and all(p is not None for p in seen)
    assert all((p == 0).sum() > p.shape[0] for p in seen)  # several documents per block, each from position 0
    assert json.loads((out / "final" / "train_metrics.json").read_text())["steps"] == 3


def test_settings_file_and_unknown_keys(tmp_path, corpus):
    from tinyslm_hf.training import TrainSettings

    good = tmp_path / "s.yaml"
    good.write_text("hidden_size: 48\npreset: modern\n")
    assert TrainSettings.from_file(good).hidden_size == 48
    bad = tmp_path / "b.json"
    bad.write_text('{"hiden_size": 48}')
    with pytest.raises(ValueError, match="hiden_size"):
        TrainSettings.from_file(bad)


def test_resume_after_kill_continues_from_last_complete_checkpoint(tmp_path, corpus):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "tinyslm_hf", "train", str(corpus), "--output-dir", str(out), *TINY,
           "--max-steps", "400", "--save-every", "5", "--eval-every", "1000"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.time() + 240
        while time.time() < deadline and proc.poll() is None:
            done = [p for p in out.glob("checkpoint-*") if (p / "trainer_state.json").exists()]
            if len(done) >= 2:
                break
            time.sleep(0.2)
        assert proc.poll() is None, "training ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    # Simulate a checkpoint cut off mid-save: no trainer_state.json. It must be ignored and removed.
    partial = out / "checkpoint-99999"
    partial.mkdir()
    (partial / "model.safetensors").write_bytes(b"garbage")
    last = last_complete_checkpoint(out)
    assert last is not None and not partial.exists()
    resumed_from = int(last.name.split("-")[1])
    assert main(["train", str(corpus), "--output-dir", str(out), *TINY, "--max-steps", "400", "--save-every", "5",
                 "--eval-every", "1000", "--resume", "--max-steps", str(resumed_from + 10)]) == 0
    state = json.loads((out / f"checkpoint-{resumed_from + 10}" / "trainer_state.json").read_text())
    assert state["global_step"] == resumed_from + 10
    assert (out / "final" / "model.safetensors").exists()
    model = AutoModelForCausalLM.from_pretrained(out / "final", trust_remote_code=True)
    assert torch.isfinite(model(torch.tensor([[5, 6, 7]])).logits).all()


def test_one_precision_policy_for_both_trainers(monkeypatch):
    import tinyslm_hf.training as training
    from tinyslm_hf.excel.train import ExcelTrainConfig, _use_bf16

    monkeypatch.setattr(training, "bf16_supported", lambda: True)  # a CPU with native bf16
    monkeypatch.setattr(training, "accelerator_available", lambda: False)
    assert training.resolve_bf16("auto") is True and training.resolve_bf16("false") is False
    assert _use_bf16(ExcelTrainConfig(out_dir="x")) is False  # the Excel model is faster in fp32 on a CPU
    assert _use_bf16(ExcelTrainConfig(out_dir="x", bf16=True)) is True
    monkeypatch.setattr(training, "accelerator_available", lambda: True)
    assert _use_bf16(ExcelTrainConfig(out_dir="x")) is True
    with pytest.raises(ValueError, match="bf16 must be auto, true or false, got 'maybe'"):
        training.resolve_bf16("maybe")


@pytest.mark.parametrize("flags, field", [
    (["--batch-size", "0"], "batch_size"),
    (["--max-minutes", "-1"], "max_minutes"),
    (["--hidden-size", "33"], "hidden_size"),  # not divisible by the 2 heads of TINY: a model-shape error
    (["--num-key-value-heads", "3"], "num_key_value_heads"),
    (["--attn-implementation", "flash_attention_2"], "flash_attention_2"),
    (["--validation-fraction", "0"], "validation_fraction"),
])
def test_bad_settings_are_refused_before_any_work(tmp_path, corpus, capsys, flags, field):
    out = tmp_path / "run"
    assert main(["train", str(corpus), "--output-dir", str(out), *TINY, "--max-steps", "2", *flags]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and field in err[0] and err[0].startswith("tinyslm train: error:")
    assert not out.exists()  # no tokenizer trained, nothing written: the corrected command just runs


def test_choices_are_enforced_by_the_parser(tmp_path, corpus, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", str(corpus), "--output-dir", str(tmp_path / "run"), "--bf16", "maybe"])
    assert exit_info.value.code == 2 and "invalid choice: 'maybe'" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_malformed_inputs_get_one_line_and_leave_nothing(tmp_path, capsys):
    bad_jsonl = tmp_path / "bad.jsonl"
    bad_jsonl.write_text('{"text": "fine"}\n{broken\n', encoding="utf-8")
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("batch_size: [\n", encoding="utf-8")
    for argv, message in ((["train", str(bad_jsonl)], f"{bad_jsonl}:2: not valid JSON"),
                          (["train", "--config", str(bad_yaml)], f"{bad_yaml} is not valid YAML")):
        out = tmp_path / "run"
        assert main([*argv, "--output-dir", str(out), *TINY, "--max-steps", "1"]) == 2
        err = capsys.readouterr().err
        last = err.strip().splitlines()[-1]  # datasets may print its progress bar first
        assert "Traceback" not in err and last.startswith("tinyslm train: error:") and message in last
        assert not out.exists()  # no folder (and no tokenizer in it) left behind
