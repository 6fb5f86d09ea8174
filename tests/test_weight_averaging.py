"""The weight average that becomes the final model (tinyslm_hf/weight_averaging.py, `--weight-averaging`)."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file
from transformers import TrainingArguments

from conftest import copy_stopped_before, tiny_config
from tinyslm_hf import TinySLMForCausalLM
from tinyslm_hf.budget import StepPlan
from tinyslm_hf.cli import main
from tinyslm_hf.settings import TrainSettings
from tinyslm_hf.training import check_launch
from tinyslm_hf.weight_averaging import AVERAGE_FILE, WeightAveragingCallback


def test_the_average_is_an_ema_whose_time_constant_is_a_share_of_the_plan():
    torch.manual_seed(0)
    model = TinySLMForCausalLM(tiny_config("modern"))  # tied embedding: averaged once
    plan = StepPlan(total=40, warmup=2, min_ratio=0.1, shape="wsd")
    averaging = WeightAveragingCallback(model, plan, span=0.1)
    assert averaging.decay() == pytest.approx(1 - 1 / 4)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    expected = None
    for step in range(6):
        ids = torch.randint(0, model.config.vocab_size, (2, 8))
        model(ids, labels=ids).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if step == 3:
            plan.total = 80  # a budget corrects the plan: the time constant follows
        decay = 1 - 1 / (0.1 * plan.total)
        now = [p.detach().clone() for p in model.parameters()]
        expected = now if expected is None else [decay * e + (1 - decay) * p for e, p in zip(expected, now)]
        averaging.on_step_end(None, None, None)
    last = [p.detach().clone() for p in model.parameters()]
    assert averaging.apply()
    for got, want, was in zip(model.parameters(), expected, last):
        torch.testing.assert_close(got.detach(), want)
        assert not torch.equal(got.detach(), was)  # the model now holds the average, not its last step


def test_nothing_averaged_leaves_the_model_alone_and_bad_spans_are_refused():
    model = TinySLMForCausalLM(tiny_config("seed"))
    before = [p.detach().clone() for p in model.parameters()]
    assert not WeightAveragingCallback(model, StepPlan(10, 1, 0.1), 0.1).apply()
    assert all(torch.equal(p, b) for p, b in zip(model.parameters(), before))
    for span in (0.0, 0.6):
        with pytest.raises(ValueError, match="weight_averaging"):
            WeightAveragingCallback(model, StepPlan(10, 1, 0.1), span)
    for span in (-0.1, 0.6):
        with pytest.raises(ValueError, match="weight_averaging must be in"):
            TrainSettings(weight_averaging=span).validate()


TINY = ["--vocab-size", "300", "--hidden-size", "32", "--num-hidden-layers", "2", "--num-attention-heads", "2",
        "--block-size", "32", "--batch-size", "8", "--warmup-steps", "2", "--dropout", "0", "--sample-tokens", "5",
        "--max-minutes", "0", "--logging-steps", "5", "--eval-every", "1000", "--save-every", "6",
        "--weight-averaging", "0.5"]


def test_the_final_model_is_the_average_and_resume_continues_it_exactly(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("The cat sat on the mat. The dog sat on the log. " * 120, encoding="utf-8")
    straight = tmp_path / "straight"
    assert main(["train", str(corpus), "--output-dir", str(straight), *TINY, "--max-steps", "12"]) == 0
    final = load_file(straight / "final" / "model.safetensors")
    last_step = load_file(straight / "checkpoint-12" / "model.safetensors")
    average = load_file(straight / "checkpoint-12" / AVERAGE_FILE)
    assert int(average.pop("n_averaged")) == 12
    assert final.keys() == last_step.keys()
    for name in average:
        torch.testing.assert_close(final[name], average[name], rtol=0, atol=0, msg=name)
    assert any(not torch.equal(final[name], last_step[name]) for name in final)
    metrics = json.loads((straight / "final" / "train_metrics.json").read_text())
    assert metrics["weight_averaging"] == 0.5
    assert metrics["last_step_eval_loss"] is not None and metrics["eval_loss"] != metrics["last_step_eval_loss"]

    resumed = copy_stopped_before(straight, tmp_path / "resumed", "checkpoint-12")
    assert main(["train", str(corpus), "--output-dir", str(resumed), *TINY, "--max-steps", "12", "--resume"]) == 0
    got = load_file(resumed / "final" / "model.safetensors")
    for name in final:
        torch.testing.assert_close(got[name], final[name], rtol=0, atol=0, msg=name)

    # A damaged average, or one kept with another span, is refused by name (exit 2) before training.
    for damage, flags, message in ((lambda f: f.write_bytes(f.read_bytes()[:100]), [], "unreadable weight average"),
                                   (lambda f: None, ["--weight-averaging", "0.25"], "--weight-averaging 0.5")):
        broken = tmp_path / "broken"
        shutil.rmtree(broken, ignore_errors=True)
        copy_stopped_before(resumed, broken, "checkpoint-12")
        damage(broken / "checkpoint-6" / AVERAGE_FILE)
        capsys.readouterr()
        assert main(["train", str(corpus), "--output-dir", str(broken), *TINY, "--max-steps", "12", "--resume",
                     *flags]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert message in err[-1] and AVERAGE_FILE in err[-1], err[-1]
        assert not (broken / "checkpoint-12").exists()

    # A checkpoint without an average (trained without it) resumes and says so; the average restarts there.
    shutil.rmtree(broken / "checkpoint-6")
    shutil.copytree(resumed / "checkpoint-6", broken / "checkpoint-6")
    (broken / "checkpoint-6" / AVERAGE_FILE).unlink()
    assert main(["train", str(corpus), "--output-dir", str(broken), *TINY, "--max-steps", "12", "--resume"]) == 0
    assert "has no weight average" in capsys.readouterr().out
    restarted = load_file(broken / "checkpoint-12" / AVERAGE_FILE)
    assert int(restarted.pop("n_averaged")) == 6

    # Off: the final model is the last step's weights.
    off = tmp_path / "off"
    assert main(["train", str(corpus), "--output-dir", str(off), *TINY, "--max-steps", "12",
                 "--weight-averaging", "0"]) == 0
    plain = load_file(off / "final" / "model.safetensors")
    for name in plain:
        torch.testing.assert_close(plain[name], last_step[name], rtol=0, atol=0, msg=name)
    assert not (off / "checkpoint-12" / AVERAGE_FILE).exists()
    assert json.loads((off / "final" / "train_metrics.json").read_text())["weight_averaging"] == 0.0


def test_one_update_per_optimizer_step_under_gradient_accumulation(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("The cat sat on the mat. The dog sat on the log. " * 120, encoding="utf-8")
    out = tmp_path / "accumulated"
    assert main(["train", str(corpus), "--output-dir", str(out), *TINY, "--max-steps", "6",
                 "--gradient-accumulation-steps", "3"]) == 0
    assert int(load_file(out / "checkpoint-6" / AVERAGE_FILE)["n_averaged"]) == 6


def test_sharded_launches_are_refused_with_the_flag_to_pass(tmp_path, monkeypatch):
    import tinyslm_hf.training as training

    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none")
    monkeypatch.setattr(training, "accelerator_available", lambda: True)
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    with pytest.raises(ValueError, match="--weight-averaging 0"):
        check_launch(args, log=lambda *_: None, optimizer="adamw", weight_averaging=0.08)
    with pytest.raises(ValueError, match="--optimizer adamw.*--weight-averaging 0"):  # both at once
        check_launch(args, log=lambda *_: None, optimizer="muon", weight_averaging=0.08)
    check_launch(args, log=lambda *_: None, optimizer="adamw", weight_averaging=0.0)
