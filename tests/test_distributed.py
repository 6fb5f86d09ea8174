"""Several processes form one training for real: the world size is asserted inside the run, and in fp32 two ranks x
batch 4 end with the weights of one process x batch 8 (Accelerate's `training_check` pattern). Both properties fail
when each rank trains alone: with the same data on both ranks the averaged gradient is a batch-4 gradient, and
without a process group nothing is averaged at all (measured: 1.1e-2 away from 1 x 8 after 4 steps)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib import resources

import pytest
from safetensors.torch import load_file
from transformers import TrainingArguments

from tinyslm_hf.training import check_launch

ARGS = ["--vocab-size", "300", "--hidden-size", "32", "--num-hidden-layers", "2", "--num-attention-heads", "2",
        "--block-size", "32", "--learning-rate", "3e-3", "--warmup-steps", "1", "--dropout", "0",
        "--sample-tokens", "5", "--max-minutes", "0", "--logging-steps", "1", "--max-steps", "4",
        "--save-every", "4", "--eval-every", "4", "--muon-weight-decay", "0",
        # averaged over the 4 steps: rank 0's average (final/) is what the single process's is compared with
        "--weight-averaging", "0.5"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def _run(cmd, tmp_path, name, batch, *extra):
    out = tmp_path / name
    done = subprocess.run([*cmd, str(tmp_path / "corpus.txt"), "--output-dir", str(out), "--batch-size", str(batch),
                           *ARGS, *extra], capture_output=True, text=True, env=ENV, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return out, json.loads((out / "final" / "train_metrics.json").read_text()), done.stdout + done.stderr


def _max_weight_difference(a, b) -> float:
    wa, wb = load_file(a / "final" / "model.safetensors"), load_file(b / "final" / "model.safetensors")
    assert wa.keys() == wb.keys()
    return max((wa[k] - wb[k]).abs().max().item() for k in wa)


@pytest.fixture
def corpus(tmp_path):
    (tmp_path / "corpus.txt").write_text(
        "".join(f"Line {i}: the cat sat on mat {i % 17}, the dog on log {i % 11}.\n" for i in range(600)),
        encoding="utf-8")


@pytest.mark.skipif(shutil.which("torchrun") is None, reason="torchrun not on PATH")
@pytest.mark.parametrize("optimizer, tolerance", [
    ("adamw", 1e-5),  # fp32 throughout: only the all-reduce's summation order differs (1.2e-7 measured)
    ("muon", 5e-4),  # Muon orthogonalises in bf16, where that order flips roundings (5.4e-5 measured)
])
def test_two_fp32_ranks_end_with_the_weights_of_one_process_at_the_full_batch(tmp_path, corpus, optimizer,
                                                                              tolerance):
    flags = ["--bf16", "false", "--optimizer", optimizer]
    one, one_metrics, _ = _run([sys.executable, "-m", "tinyslm_hf", "train"], tmp_path, "one", 8, *flags)
    two, two_metrics, log = _run(["torchrun", "--nproc_per_node", "2", "-m", "tinyslm_hf", "train"],
                                 tmp_path, "two", 4, *flags)
    assert one_metrics["world_size"] == 1 and one_metrics["steps"] == two_metrics["steps"] == 4
    assert two_metrics["world_size"] == 2 and two_metrics["distributed_type"] == "MULTI_CPU"
    assert "processes: 2 (MULTI_CPU, backend gloo)" in log
    diff = _max_weight_difference(one, two)
    print("max weight difference", diff)
    assert diff < tolerance


@pytest.mark.skipif(shutil.which("accelerate") is None, reason="accelerate CLI not on PATH")
def test_the_shipped_two_process_accelerate_config_starts_two_ranks(tmp_path, corpus):
    config = resources.files("tinyslm_hf") / "configs" / "accelerate_cpu_2proc.yaml"
    _, metrics, log = _run(["accelerate", "launch", "--config_file", str(config), "-m", "tinyslm_hf", "train"],
                           tmp_path, "accelerate", 4)
    assert metrics["world_size"] == 2 and "processes: 2" in log


def test_sharding_launches_are_refused_on_a_machine_without_gpus(tmp_path, monkeypatch):
    import tinyslm_hf.training as training

    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none")
    monkeypatch.setattr(training, "accelerator_available", lambda: False)
    for variable, name in (("ACCELERATE_USE_FSDP", "FSDP"), ("ACCELERATE_USE_DEEPSPEED", "DeepSpeed")):
        monkeypatch.setenv(variable, "true")
        with pytest.raises(ValueError, match=f"{name}.*torchrun"):
            check_launch(args, log=lambda *_: None)
        monkeypatch.delenv(variable)
    monkeypatch.setenv("WORLD_SIZE", "2")  # started as 2 processes, yet joined no group
    with pytest.raises(RuntimeError, match="2 processes"):
        check_launch(args, log=lambda *_: None)
    monkeypatch.delenv("WORLD_SIZE")
    check_launch(args, log=lambda *_: None)


@pytest.mark.skipif(shutil.which("torchrun") is None, reason="torchrun not on PATH")
def test_an_existing_output_dir_is_refused_by_every_rank_with_the_message(tmp_path, corpus):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    done = subprocess.run(["torchrun", "--nproc_per_node", "2", "-m", "tinyslm_hf", "train", str(tmp_path / "corpus.txt"),
                           "--output-dir", str(out), *ARGS], capture_output=True, text=True, env=ENV, timeout=300)
    assert done.returncode != 0
    assert (done.stdout + done.stderr).count("already exists") >= 2  # both ranks, not a barrier timeout
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]  # nothing written
