"""Muon + AdamW as one optimizer (tinyslm_hf/optim.py) and the learning-rate shapes of StepPlan."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from torch.optim.lr_scheduler import LambdaLR

from conftest import copy_stopped_before, tiny_config
from tinyslm_hf import TinySLMForCausalLM
from tinyslm_hf.budget import StepPlan
from tinyslm_hf.cli import main
from tinyslm_hf.optim import ADAMW, MUON, build_muon_with_adamw, muon_parameter_names

BETAS = (0.9, 0.95)


def _model(preset: str, seed: int = 0) -> TinySLMForCausalLM:
    torch.manual_seed(seed)
    return TinySLMForCausalLM(tiny_config(preset))


def _optimizer(model, lr=1e-3, muon_lr=0.02):
    return build_muon_with_adamw(model, lr=lr, muon_lr=muon_lr, weight_decay=0.1, muon_weight_decay=0.01,
                                 betas=BETAS, eps=1e-8)


def _train_steps(model, optimizer, steps: int, start: int = 0, scheduler=None):
    for step in range(start, start + steps):
        torch.manual_seed(1000 + step)
        ids = torch.randint(0, model.config.vocab_size, (2, 12))
        model(ids, labels=ids).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if scheduler is not None:
            scheduler.step()


@pytest.mark.parametrize("preset", ["seed", "modern"])
def test_muon_takes_exactly_the_block_matrices(preset):
    model = _model(preset)
    names = muon_parameter_names(model)
    params = dict(model.named_parameters())
    assert names and all(params[n].ndim == 2 and ".layers." in n for n in names)
    # Every 2-D weight of a block is Muon's; embeddings, the (tied) head, norms and biases are not.
    blocks_2d = {n for n, p in params.items() if p.ndim == 2 and n.startswith("model.layers.")}
    assert names == blocks_2d
    assert not any("embed" in n or "wpe" in n or "lm_head" in n or "norm" in n for n in names)


def test_one_step_equals_muon_and_adamw_run_separately():
    model = _model("modern")
    reference = copy.deepcopy(model)
    optimizer = _optimizer(model)
    rules = {group["rule"] for group in optimizer.param_groups}
    assert rules == {MUON, ADAMW}

    muon_names = muon_parameter_names(reference)
    named = dict(reference.named_parameters())
    ref_muon = torch.optim.Muon([named[n] for n in sorted(muon_names)], lr=0.02, weight_decay=0.01,
                                adjust_lr_fn="original")
    decay = [p for n, p in named.items() if n not in muon_names and p.ndim >= 2]
    no_decay = [p for n, p in named.items() if p.ndim < 2]
    ref_adamw = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=1e-3, betas=BETAS)
    for step in range(3):
        torch.manual_seed(step)
        ids = torch.randint(0, model.config.vocab_size, (2, 12))
        model(ids, labels=ids).loss.backward()
        reference(ids, labels=ids).loss.backward()
        optimizer.step()
        ref_muon.step()
        ref_adamw.step()
        optimizer.zero_grad()
        ref_muon.zero_grad()
        ref_adamw.zero_grad()
    for (name, got), want in zip(model.named_parameters(), reference.parameters()):
        torch.testing.assert_close(got, want, rtol=0, atol=0, msg=name)


def test_state_dict_round_trip_resumes_exactly_and_the_scheduler_reaches_both_rules():
    plan = StepPlan(total=10, warmup=2, min_ratio=0.1, shape="wsd", decay_fraction=0.5)
    model = _model("seed")
    optimizer = _optimizer(model)
    scheduler = LambdaLR(optimizer, plan)
    _train_steps(model, optimizer, 6, scheduler=scheduler)
    # Both rules follow the schedule: each group's lr is its own peak times the plan's factor.
    for group in optimizer.param_groups:
        assert group["lr"] == pytest.approx(group["initial_lr"] * plan(6))
    saved_model = copy.deepcopy(model.state_dict())
    saved_optimizer = copy.deepcopy(optimizer.state_dict())
    saved_scheduler = scheduler.state_dict()
    # Muon's momentum and AdamW's moments are both in the one state dict.
    kinds = {frozenset(state) for state in saved_optimizer["state"].values()}
    assert frozenset({"momentum_buffer"}) in kinds and any("exp_avg_sq" in k for k in kinds)
    _train_steps(model, optimizer, 4, start=6, scheduler=scheduler)

    resumed = _model("seed", seed=1)  # different weights, replaced by the checkpoint's
    resumed.load_state_dict(saved_model)
    resumed_optimizer = _optimizer(resumed)
    resumed_scheduler = LambdaLR(resumed_optimizer, StepPlan(total=10, warmup=2, min_ratio=0.1))
    resumed_optimizer.load_state_dict(saved_optimizer)
    resumed_scheduler.load_state_dict(saved_scheduler)
    assert resumed_scheduler.lr_lambdas[0].shape == "wsd"  # the plan comes back with the checkpoint
    _train_steps(resumed, resumed_optimizer, 4, start=6, scheduler=resumed_scheduler)
    for (name, got), want in zip(resumed.named_parameters(), model.parameters()):
        torch.testing.assert_close(got, want, rtol=0, atol=0, msg=name)


def test_a_copy_steps_like_the_original_and_groups_need_a_rule():
    model = _model("modern")
    optimizer = _optimizer(model)
    assert optimizer.param_groups[0]["rule"] == ADAMW  # the Trainer logs the first group's rate: AdamW's
    _train_steps(model, optimizer, 2)
    twin_model = copy.deepcopy(model)
    twin = copy.deepcopy(optimizer)  # deepcopy maps the parameters through the memo: rebind to the twin
    twin.param_groups = [dict(g, params=[dict(zip(map(id, model.parameters()), twin_model.parameters()))[id(p)]
                                         for p in g["params"]]) for g in optimizer.param_groups]
    twin.load_state_dict(copy.deepcopy(optimizer.state_dict()))
    _train_steps(model, optimizer, 2, start=2)
    _train_steps(twin_model, twin, 2, start=2)
    for got, want in zip(twin_model.parameters(), model.parameters()):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    with pytest.raises(ValueError, match="rule"):
        optimizer.add_param_group({"params": [torch.nn.Parameter(torch.zeros(2))]})


def test_wsd_holds_the_peak_then_decays_linearly_to_the_floor():
    plan = StepPlan(total=110, warmup=10, min_ratio=0.1, shape="wsd", decay_fraction=0.3)
    assert plan(5) == pytest.approx(0.5)
    assert [plan(s) for s in (10, 40, 80)] == [1.0, 1.0, 1.0]  # stable until the last 30 of 100 steps
    assert plan(95) == pytest.approx(1.0 - 0.9 * 15 / 30)
    assert plan(110) == pytest.approx(0.1) and plan(500) == pytest.approx(0.1)
    # A total corrected during the decay bends the line at the current step: no jump, never back up.
    for corrected in (140, 95):
        moving = StepPlan(total=110, warmup=10, min_ratio=0.1, shape="wsd", decay_fraction=0.3)
        factors = [moving(step) for step in range(0, 91)]
        moving.total = corrected
        factors += [moving(step) for step in range(91, corrected + 5)]
        assert all(b <= a + 1e-12 for a, b in zip(factors[10:], factors[11:]))  # after warmup: never rises
        assert max(abs(b - a) for a, b in zip(factors[10:], factors[11:])) < 0.2
        assert factors[corrected] == pytest.approx(0.1) and factors[80] == 1.0
    # Corrected downwards during the stable phase, past where the new decay would have started: it starts here.
    early = StepPlan(total=110, warmup=10, min_ratio=0.1, shape="wsd", decay_fraction=0.3)
    factors = [early(step) for step in range(0, 61)]
    early.total = 70  # the new decay would have begun at step 52
    factors += [early(step) for step in range(61, 75)]
    assert factors[60] == 1.0 and 1.0 - factors[61] < 0.1
    assert all(b <= a + 1e-12 for a, b in zip(factors[10:], factors[11:]))
    assert factors[70] == pytest.approx(0.1)
    cosine = StepPlan(total=110, warmup=10, min_ratio=0.1)
    assert cosine(60) == pytest.approx(0.55) and cosine(80) < 1.0
    with pytest.raises(ValueError, match="lr_schedule"):
        StepPlan(10, 1, 0.1, shape="linear")


TINY = ["--vocab-size", "300", "--hidden-size", "32", "--num-hidden-layers", "2", "--num-attention-heads", "2",
        "--block-size", "32", "--batch-size", "8", "--learning-rate", "3e-3", "--warmup-steps", "2",
        "--dropout", "0", "--sample-tokens", "5", "--max-minutes", "0", "--logging-steps", "5",
        "--optimizer", "muon", "--muon-learning-rate", "0.02", "--lr-schedule", "wsd", "--eval-every", "1000", "--save-every", "6"]


def test_tinyslm_train_with_muon_checkpoints_and_resumes_to_the_same_weights(tmp_path, capsys):
    from safetensors.torch import load_file

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("The cat sat on the mat. The dog sat on the log. " * 120, encoding="utf-8")
    straight = tmp_path / "straight"
    assert main(["train", str(corpus), "--output-dir", str(straight), *TINY, "--max-steps", "12"]) == 0
    # Inside the run: the checkpoint's optimizer is Muon + AdamW at the rates asked for.
    state = torch.load(straight / "checkpoint-6" / "optimizer.pt", weights_only=True)
    rates = {group["rule"]: group["initial_lr"] for group in state["param_groups"]}
    assert rates == {MUON: 0.02, ADAMW: 3e-3}
    assert any("momentum_buffer" in s for s in state["state"].values())

    resumed = copy_stopped_before(straight, tmp_path / "resumed", "checkpoint-12")
    assert main(["train", str(corpus), "--output-dir", str(resumed), *TINY, "--max-steps", "12", "--resume"]) == 0
    want = load_file(straight / "final" / "model.safetensors")
    got = load_file(resumed / "final" / "model.safetensors")
    assert want.keys() == got.keys()
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=0, atol=0, msg=name)
    metrics = json.loads((resumed / "final" / "train_metrics.json").read_text())
    assert metrics["steps"] == 12

    # Resuming with another optimizer or schedule is refused by name (one line, exit 2), before any work.
    capsys.readouterr()
    for flags, message in ((["--optimizer", "adamw"], "--optimizer muon"),
                           (["--lr-schedule", "cosine"], "--lr-schedule wsd"),
                           (["--no-qk-norm"], "--qk-norm")):  # a different block would not load the weights
        assert main(["train", str(corpus), "--output-dir", str(resumed), *TINY, "--max-steps", "14", "--resume",
                     *flags]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
