"""The wall-clock budget: calibration, the correctable schedule, and a budgeted run that ends its decay in time."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import pytest
import torch
from transformers import TrainerControl, get_scheduler

from tinyslm_hf import budget
from tinyslm_hf.budget import STEP_OVERHEAD, StepPlan, TimeBudgetCallback, calibrate_steps
from tinyslm_hf.cli import main


def test_budget_calibration_times_steady_state_not_warm_up():
    """Fresh-process steps run several times slower than steady state; timing them sized the schedule to a third
    of the budget. A model whose first 3 forward passes take 0.3 s and later ones 0.01 s must be planned at the
    steady-state speed."""

    class SlowStart(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.ones(()))
            self.config = SimpleNamespace(vocab_size=10)
            self.calls = 0

        def forward(self, input_ids, labels):
            self.calls += 1
            time.sleep(0.3 if self.calls <= 3 else 0.01)
            return SimpleNamespace(loss=self.weight * 1.0)

    model = SlowStart()
    steps = calibrate_steps(model, batch_size=1, block_size=4, accumulation=1, minutes=1.0,
                            device=torch.device("cpu"))
    assert model.calls >= 3 + 5
    planned_step = 60.0 / steps / STEP_OVERHEAD
    assert 0.009 < planned_step < 0.05, planned_step  # steady state, not the 0.3 s warm-up steps


@pytest.mark.parametrize("bf16", [False, True])
def test_calibration_times_steps_in_the_runs_precision(bf16):
    """A bf16 run is planned from bf16 steps: fp32 ones are slower, and the plan then ends the run early."""
    seen = []

    class Probe(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.ones(1))
            self.config = SimpleNamespace(vocab_size=10)

        def forward(self, input_ids, labels):
            seen.append(torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16)
            return SimpleNamespace(loss=self.weight * 1.0)

    calibrate_steps(Probe(), batch_size=1, block_size=4, accumulation=1, minutes=0.01, device=torch.device("cpu"),
                    bf16=bf16)
    assert seen and all(flag == bf16 for flag in seen)


def test_step_plan_is_transformers_cosine_with_min_lr_while_its_total_is_unchanged():
    weight = torch.nn.Parameter(torch.zeros(1))
    reference = get_scheduler("cosine_with_min_lr", torch.optim.SGD([weight], lr=1.0), num_warmup_steps=10,
                              num_training_steps=100, scheduler_specific_kwargs={"min_lr_rate": 0.1})
    plan = StepPlan(total=100, warmup=10, min_ratio=0.1)
    for step in range(101):
        assert plan(step) == pytest.approx(reference.lr_lambdas[0](step), abs=1e-12), step
    assert plan(0) == 0.0 and plan(10) == 1.0 and plan(100) == pytest.approx(0.1)


def test_corrected_total_is_kept_in_the_scheduler_checkpoint():
    """`--resume` rebuilds the scheduler from its state dict: it must come back with the corrected total."""
    weight = torch.nn.Parameter(torch.zeros(1))
    plan = StepPlan(total=100, warmup=5, min_ratio=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(torch.optim.SGD([weight], lr=1.0), plan)
    plan.total = 137
    state = scheduler.state_dict()
    resumed_plan = StepPlan(total=100, warmup=5, min_ratio=0.1)
    resumed = torch.optim.lr_scheduler.LambdaLR(torch.optim.SGD([weight], lr=1.0), resumed_plan)
    resumed.load_state_dict(state)
    assert resumed_plan.total == 137


def _simulate(monkeypatch, seconds_per_step: float, first_plan: int, eval_every: int = 10_000,
              eval_seconds: float = 0.0, minutes: float = 1.0):
    """Drive the callback with a fake clock as the Trainer would: a step, on_step_end, then any evaluation; the
    run ends when the step reaches state.max_steps (the default flow callback) or the callback stops it."""
    clock = [1000.0]
    monkeypatch.setattr(budget.time, "monotonic", lambda: clock[0])
    plan = StepPlan(first_plan, warmup=5, min_ratio=0.1)
    callback = TimeBudgetCallback(minutes, plan, max_total=10 * first_plan, eval_cost_in_steps=0.0)
    args = SimpleNamespace(world_size=1)
    state = SimpleNamespace(global_step=0, max_steps=10 * first_plan, eval_steps=eval_every)
    control = TrainerControl()
    callback.on_train_begin(args, state, control)
    assert state.max_steps == first_plan
    start = clock[0]
    while True:
        state.global_step += 1
        clock[0] += seconds_per_step
        plan_ended = state.global_step >= state.max_steps  # the default flow callback runs before ours
        callback.on_step_end(args, state, control)
        if state.global_step % eval_every == 0 or plan_ended:
            clock[0] += eval_seconds
            callback.on_evaluate(args, state, control)
        if control.should_training_stop or plan_ended:
            return state.global_step, clock[0] - start, plan, control.should_training_stop


@pytest.mark.parametrize("first_plan", [60, 100, 400])
def test_budget_callback_corrects_the_plan_to_end_at_the_deadline(monkeypatch, first_plan):
    """Whether calibration planned too few (60) or too many (400) steps, the plan converges on what fits: 60 s at
    0.3 s a step, less the 1% margin, is 198 steps, and the run ends by its plan, not by the deadline."""
    steps, elapsed, plan, stopped_by_deadline = _simulate(monkeypatch, 0.3, first_plan)
    assert 190 <= steps <= 198 and plan.total == steps, (steps, plan.total)
    assert elapsed <= 60.0 and not stopped_by_deadline


def test_budget_callback_leaves_a_plan_alone_once_its_last_step_is_reached(monkeypatch):
    """The flow callback ends the run when the step reaches the plan, before this callback runs: raising the total
    at that very step left a run that ended one step short of its recorded plan (seen as a flaky real run)."""
    steps, elapsed, plan, stopped_by_deadline = _simulate(monkeypatch, 0.01, first_plan=20)
    # a correction at step 20 would have asked for ~5900 steps: the run must still end at its plan of 20
    assert steps == 20 and plan.total == 20 and not stopped_by_deadline


def test_budget_callback_charges_the_evaluations_still_to_come(monkeypatch):
    """Evaluations every 50 steps costing 3 s each: with them the same 60 s fit fewer steps, and still fit."""
    steps, elapsed, plan, stopped_by_deadline = _simulate(monkeypatch, 0.3, 100, eval_every=50, eval_seconds=3.0)
    # 0.3 s/step and 3 s per evaluation (every 50 steps and one at the end): 150 steps + 4 evaluations = 57 s.
    assert 145 <= steps <= 160, steps
    assert elapsed <= 60.0 and not stopped_by_deadline


def test_budget_callback_stops_at_the_deadline_without_a_plan(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(budget.time, "monotonic", lambda: clock[0])
    callback = TimeBudgetCallback(0.5)
    args, state, control = SimpleNamespace(world_size=1), SimpleNamespace(global_step=1, max_steps=10**6), \
        TrainerControl()
    clock[0] = 29.0
    callback.on_step_end(args, state, control)
    assert not control.should_training_stop
    clock[0] = 30.0
    callback.on_step_end(args, state, control)
    assert control.should_training_stop and control.should_save


def _tiny_budgeted_run(tmp_path, repeats: int, budget_seconds: float, max_epochs: str) -> tuple[dict, list, float]:
    """A real `tinyslm train --max-minutes` run of a tiny model on `repeats` copies of two sentences: its final
    trainer state, its log lines with a learning rate, and the seconds of its training loop."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("The cat sat on the mat. The dog sat on the log. " * repeats, encoding="utf-8")
    out = tmp_path / "run"
    assert main(["train", str(corpus), "--output-dir", str(out), "--vocab-size", "300", "--hidden-size", "32",
                 "--num-hidden-layers", "2", "--num-attention-heads", "2", "--block-size", "32", "--batch-size", "8",
                 "--learning-rate", "1e-3", "--warmup-steps", "2", "--sample-tokens", "5", "--logging-steps", "1",
                 "--max-minutes", str(budget_seconds / 60), "--max-epochs", max_epochs, "--save-every", "100000"]) == 0
    checkpoint = max(out.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    logs = [h for h in state["log_history"] if "learning_rate" in h]
    return state, logs, json.loads((out / "final" / "train_metrics.json").read_text())["train_loop_seconds"]


def test_budgeted_run_spends_its_budget_and_finishes_the_decay(tmp_path):
    """A real `tinyslm train --max-minutes` run of a tiny model, whose first plan (timed on forward + backward
    only) is far off: the run must end inside its budget with the learning rate decayed to its floor."""
    budget_seconds = 12.0
    state, logs, runtime = _tiny_budgeted_run(tmp_path, 120, budget_seconds, max_epochs="0")
    assert state["global_step"] == state["max_steps"], "stopped by the deadline before the plan ended"
    assert logs[-1]["learning_rate"] <= 0.15e-3, logs[-1]  # the floor is 0.1 x 1e-3
    assert runtime <= budget_seconds + 1.0, runtime


def test_a_budgeted_run_that_could_overfit_stops_planning_at_max_epochs(tmp_path):
    """On a machine fast enough for more passes than `--max-epochs` in its budget, the run plans those passes, with
    the learning rate decayed to its floor, and ends well before the deadline (a faster machine must not get a more
    overfitted model than a slower one)."""
    budget_seconds = 30.0
    state, logs, runtime = _tiny_budgeted_run(tmp_path, 600, budget_seconds, max_epochs="2")
    assert state["global_step"] == state["max_steps"] >= 50, state["max_steps"]
    assert 1.9 <= logs[-1]["epoch"] <= 2.1, logs[-1]  # two passes, not the many the budget fits
    assert logs[-1]["learning_rate"] <= 0.2e-3, logs[-1]  # decayed: the floor is 0.1 x 1e-3 after the last step
    assert runtime < budget_seconds / 2, runtime  # it ended by the cap, not the deadline
