"""Fitting a training run into a wall-clock budget (`tinyslm train --max-minutes`).

A budgeted run should spend its whole budget and still finish its learning-rate decay: a cosine schedule cut off
half-way loses the low-learning-rate phase that gives the best loss, and one that ends early leaves time unused.
Three pieces do it:

- `calibrate_steps` times a few steps before training to size a first plan;
- `StepPlan` is the warmup + cosine (or warmup-stable-decay) schedule, with a total that can be corrected while
  training runs;
- `TimeBudgetCallback` re-measures the real step time during the run, corrects the plan so the decay ends at the
  deadline, and stops (and saves) at the deadline whatever the plan says.
"""

from __future__ import annotations

import math
import statistics
import time

import torch
from transformers import TrainerCallback
from transformers.trainer_callback import ProgressCallback

from .settings import LR_SCHEDULES

CALIBRATION_WARMUP_SECONDS = 1.5
CALIBRATION_MAX_WARMUP = 20
CALIBRATION_TIMED_STEPS = 5
STEP_OVERHEAD = 1.06  # optimizer step + clipping + logging on top of forward/backward (measured ~4-6% on CPU)
REPLAN_FROM_STEP = 10  # steps before this one still run slower (allocator and oneDNN warm-up): never measured
REPLAN_EVERY = 10
REPLAN_WINDOW = 200  # steps the step time is averaged over: long enough to include checkpoint saves
BUDGET_MARGIN = 0.01  # share of the budget kept free for the last step and the save at the deadline


def calibrate_steps(model, batch_size: int, block_size: int, accumulation: int, minutes: float,
                    device: torch.device, bf16: bool = False, optimizer_seconds: float = 0.0) -> int:
    """Time forward + backward steps on random tokens and return how many optimizer steps fit in `minutes`.

    The first steps of a fresh process run up to 3x slower than steady state (allocator and oneDNN warm-up), so
    steps are timed only after ~1.5 s of warm-up; timing them too early sized the schedule to a third of the budget.
    Steps run under the run's own precision (`bf16` autocast), or a bf16 run is planned at fp32 speed and ends early
    at the plan's headroom. `optimizer_seconds` is an optimizer step costlier than AdamW's few percent (Muon's
    orthogonalisation), timed by the caller.
    """
    ids = torch.randint(0, model.config.vocab_size, (batch_size, block_size), device=device)
    model.to(device).train()

    def one_step() -> float:
        start = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out = model(input_ids=ids, labels=ids)
        out.loss.backward()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start

    warm_start = time.perf_counter()
    for i in range(CALIBRATION_MAX_WARMUP):
        one_step()
        if i >= 2 and time.perf_counter() - warm_start >= CALIBRATION_WARMUP_SECONDS:
            break
    times = [one_step() for _ in range(CALIBRATION_TIMED_STEPS)]
    model.zero_grad(set_to_none=True)
    # Forward + backward only: the optimizer step, gradient clipping and logging add a few percent, charged here.
    per_step = (statistics.median(times) * accumulation + optimizer_seconds) * STEP_OVERHEAD
    return max(10, int(minutes * 60.0 / per_step))


class StepPlan:
    """The learning-rate factor per step: linear warmup, then one of two shapes down to `min_ratio` of the peak at
    step `total`, where `total` may be corrected during the run (a time budget learns the step time as it goes).

    - `cosine`: cosine decay over the whole run after warmup (transformers' `cosine_with_min_lr` curve).
    - `wsd` (warmup-stable-decay, "trapezoid"): the peak holds until the last `decay_fraction` of the run, then
      falls linearly to `min_ratio` at `total`. A correction of the total before the decay moves where it starts;
      one during the decay bends the line at the current step (`decay_anchor`), so the rate never jumps or rises.

    Used as the `LambdaLR` factor. `LambdaLR.state_dict()` stores a callable object's attributes, so a checkpoint
    carries the corrected total and `--resume` continues on the same curve.
    """

    SHAPES = LR_SCHEDULES

    def __init__(self, total: int, warmup: int, min_ratio: float, shape: str = "cosine",
                 decay_fraction: float = 0.3):
        if shape not in self.SHAPES:
            raise ValueError(f"lr_schedule must be one of {', '.join(self.SHAPES)}, got {shape!r}")
        self.total = int(total)
        self.warmup = int(warmup)
        self.min_ratio = float(min_ratio)
        self.shape = shape
        self.decay_fraction = float(decay_fraction)
        self.decay_anchor: list | None = None  # wsd: [step, factor, total] the current decay line starts from
        self.last: list | None = None  # [step, factor] of the latest call

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return step / max(1, self.warmup)
        if self.shape == "wsd":
            factor = self._wsd(step)
            self.last = [step, factor]
            return factor
        progress = min(1.0, (step - self.warmup) / max(1, self.total - self.warmup))
        return self.min_ratio + (1.0 - self.min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


    def _wsd(self, step: int) -> float:
        if self.decay_anchor is None:
            start = self.total - max(1, round(self.decay_fraction * (self.total - self.warmup)))
            if step < start:
                return 1.0
            if self.last is not None:  # a total corrected downwards past the planned start: decay from here
                start = max(start, self.last[0])
            self.decay_anchor = [start, 1.0, self.total]
        elif self.decay_anchor[2] != self.total and self.last is not None:
            self.decay_anchor = [self.last[0], self.last[1], self.total]  # corrected mid-decay: bend here
        anchor_step, anchor_factor, _ = self.decay_anchor
        progress = min(1.0, max(0.0, (step - anchor_step) / max(1, self.total - anchor_step)))
        return anchor_factor - (anchor_factor - self.min_ratio) * progress


def _main_process_value(value, args):
    """Every rank must take the same decision (stopping, step count), or the ranks deadlock in the next
    all-reduce; the main process's clock decides."""
    if args.world_size <= 1:
        return value
    from accelerate.utils import broadcast_object_list

    return broadcast_object_list([value])[0]


class TimeBudgetCallback(TrainerCallback):
    """Spends a wall-clock budget: stops (and saves) at the deadline, and, given a `plan`, corrects its total every
    few steps from the measured step time so that the decay ends at the deadline rather than before or after it.

    The step time is measured over the last `REPLAN_WINDOW` steps with evaluation time taken out; the evaluations
    still to come are charged at their measured cost (before the first one, at `eval_cost_in_steps` steps each).
    """

    def __init__(self, minutes: float, plan: StepPlan | None = None, max_total: int | None = None,
                 eval_cost_in_steps: float = 0.0):
        self.budget = minutes * 60.0
        self.deadline = time.monotonic() + self.budget
        self.plan = plan
        self.max_total = max_total
        self.eval_cost_in_steps = eval_cost_in_steps
        self.eval_seconds: float | None = None
        self.eval_total = 0.0  # seconds spent in periodic evaluation so far
        self.marks: list[tuple[int, float, float]] = []  # (step, time, eval_total) at step ends
        self.progress: list[ProgressCallback] = []  # bars whose total follows the plan (set by the caller)

    def on_train_begin(self, args, state, control, **kwargs):
        if self.plan is not None:
            state.max_steps = self.plan.total

    def on_step_end(self, args, state, control, **kwargs):
        now = time.monotonic()
        step = state.global_step
        # Once the plan's last step is reached the default flow callback (which runs first) has already ended the
        # run, with the decay finished: a correction now would only leave a total that was never reached.
        if self.plan is not None and REPLAN_FROM_STEP <= step < self.plan.total:
            self.marks.append((step, now, self.eval_total))
            if step % REPLAN_EVERY == 0 and len(self.marks) > REPLAN_EVERY:
                total = _main_process_value(self._corrected_total(step, now, state.eval_steps), args)
                self._set_total(total, state)
        if _main_process_value(now >= self.deadline, args):
            control.should_training_stop = True
            control.should_save = True
        return control

    def on_evaluate(self, args, state, control, **kwargs):
        if self.marks:  # evaluation runs right after the step that triggered it ended
            self.eval_seconds = time.monotonic() - self.marks[-1][1]
            self.eval_total += self.eval_seconds

    def _corrected_total(self, step: int, now: float, eval_steps: int) -> int:
        first = next(m for m in self.marks if m[0] >= step - REPLAN_WINDOW)
        ref_step, ref_time, ref_eval = first
        per_step = ((now - ref_time) - (self.eval_total - ref_eval)) / (step - ref_step)
        per_eval = self.eval_seconds if self.eval_seconds is not None else self.eval_cost_in_steps * per_step
        left = self.deadline - now - BUDGET_MARGIN * self.budget
        total = self.plan.total
        for _ in range(3):  # the number of evaluations still to come depends on the total: settle it
            # periodic ones after this step's end (this step's own runs next), plus the one at the end of the run
            evals = total // eval_steps - (step - 1) // eval_steps + (1 if total % eval_steps else 0)
            total = step + int((left - evals * per_eval) / per_step)
        return total

    def _set_total(self, total: int, state) -> None:
        # Never at or below the current step: the default flow callback ends the run (with its final evaluation
        # and save) when the next step reaches the total.
        total = max(state.global_step + 1, total)
        if self.max_total is not None:
            total = min(total, self.max_total)
        if total == self.plan.total:
            return
        self.plan.total = total
        state.max_steps = total
        for bar in self.progress:
            if bar.training_bar is not None:
                bar.training_bar.total = total
                bar.training_bar.refresh()
