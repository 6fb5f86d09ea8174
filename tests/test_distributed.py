"""The same entry point under `accelerate launch --num_processes 2` (CPU, gloo) trains like one process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

ARGS = ["--vocab-size", "300", "--hidden-size", "32", "--num-hidden-layers", "2", "--num-attention-heads", "2",
        "--block-size", "32", "--learning-rate", "3e-3", "--warmup-steps", "1", "--dropout", "0",
        "--sample-tokens", "5", "--max-minutes", "0", "--logging-steps", "1", "--max-steps", "3",
        "--save-every", "3", "--eval-every", "3"]


def _losses(out):
    state = json.loads((out / "checkpoint-3" / "trainer_state.json").read_text())
    train = [h["loss"] for h in state["log_history"] if "loss" in h]
    evals = [h["eval_loss"] for h in state["log_history"] if "eval_loss" in h]
    return train, evals


@pytest.mark.skipif(shutil.which("accelerate") is None, reason="accelerate CLI not on PATH")
def test_two_processes_match_one_process_on_the_same_global_batch(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("The cat sat on the mat. The dog sat on the log. " * 120, encoding="utf-8")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    one = subprocess.run([sys.executable, "-m", "tinyslm_hf", "train", str(corpus), "--output-dir",
                          str(tmp_path / "one"), "--batch-size", "8", *ARGS],
                         capture_output=True, text=True, env=env, timeout=600)
    assert one.returncode == 0, one.stderr[-2000:]
    two = subprocess.run(["accelerate", "launch", "--cpu", "--num_processes", "2", "--num_machines", "1",
                          "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "tinyslm_hf", "train",
                          str(corpus), "--output-dir", str(tmp_path / "two"), "--batch-size", "4", *ARGS],
                         capture_output=True, text=True, env=env, timeout=600)
    assert two.returncode == 0, two.stderr[-2000:]
    train1, eval1 = _losses(tmp_path / "one")
    train2, eval2 = _losses(tmp_path / "two")
    assert len(train1) == len(train2) == 3
    # Same global batch of 8 blocks: losses agree step by step (a 2x normalisation error would be ~5 nats off).
    for a, b in zip(train1, train2):
        assert abs(a - b) < 2e-2
    assert abs(eval1[-1] - eval2[-1]) < 1e-2
    assert train2[-1] < train2[0]  # and it learns
    assert (tmp_path / "two" / "final" / "model.safetensors").exists()
