"""An exponential moving average (EMA) of the weights over the end of a run, which becomes the final model.

At the end of a run the weights still move with every step's noise, even at the low learning rate the decay ends at;
an average over the last stretch of steps sits nearer the centre of where they wander, and scores better on
held-out text than the last step's weights (measured in docs/training.md). `torch.optim.swa_utils.AveragedModel`
does the averaging; this callback decides how fast, saves the average into each checkpoint (so `--resume` continues
it) and puts it into the model when training ends.

The average's time constant is a share of the run (`span` x the planned steps), so a 100-step test run and a
3000-step budgeted run both average over their own last few percent, and a budget that corrects its plan mid-run
corrects the time constant with it.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch.optim.swa_utils import AveragedModel
from transformers import TrainerCallback

AVERAGE_FILE = "weight_average.safetensors"
MAX_SPAN = 0.5  # the average starts as a copy of the first step's weights: a longer time constant keeps too much of it


class WeightAveragingCallback(TrainerCallback):
    """Keeps an EMA of `model`'s parameters with decay 1 - 1/(span x plan.total), updated after every optimizer
    step; `apply()` copies it into the model. `plan` is the run's `StepPlan` (its `total` may change). The Trainer
    writes it into each checkpoint with `save()`, before the checkpoint's `trainer_state.json` marks it complete."""

    def __init__(self, model: torch.nn.Module, plan, span: float):
        if not 0.0 < span <= MAX_SPAN:
            raise ValueError(f"weight_averaging must be in (0, {MAX_SPAN}] (a share of the run's steps), got {span}")
        self.model = model
        self.plan = plan
        self.span = span
        self.average = AveragedModel(model, multi_avg_fn=self._ema, use_buffers=False)

    def decay(self) -> float:
        return 1.0 - 1.0 / max(1.0, self.span * self.plan.total)

    @torch.no_grad()
    def _ema(self, averaged: list[torch.Tensor], current: list[torch.Tensor], num_averaged) -> None:
        torch._foreach_lerp_(averaged, current, 1.0 - self.decay())

    def _parameters(self) -> dict[str, torch.Tensor]:
        return dict(self.average.module.named_parameters())  # tied weights once, under their first name

    def on_step_end(self, args, state, control, **kwargs):
        self.average.update_parameters(self.model)

    def save(self, folder: str | Path) -> None:
        """Write the average into checkpoint `folder` (through a temporary name, so a crash never leaves half a
        file that `--resume` would trip on)."""
        from .partial_files import partial_prefix, remove_stale_partials

        path = Path(folder) / AVERAGE_FILE
        tensors = {name: p.detach().contiguous() for name, p in self._parameters().items()}
        tensors["n_averaged"] = self.average.n_averaged.detach().cpu()
        remove_stale_partials(path)
        partial = path.with_name(partial_prefix(path) + "0")
        try:
            save_file(tensors, str(partial), metadata={"span": repr(self.span)})
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)

    def load(self, checkpoint: str | Path) -> bool:
        """Continue the average saved in `checkpoint`; False when there is none (it then restarts from the
        checkpoint's weights). A file that does not match this model or this span is refused by name."""
        path = Path(checkpoint) / AVERAGE_FILE
        if not path.is_file():
            return False
        try:
            with safe_open(str(path), "pt") as f:
                span = (f.metadata() or {}).get("span")
                tensors = {name: f.get_tensor(name) for name in f.keys()}
        except Exception as error:  # a damaged file: say which, and what to do
            raise ValueError(f"{path}: unreadable weight average ({error}); delete it to restart the average") from None
        if span is None or float(span) != self.span:
            raise ValueError(f"{path}: the average was kept with --weight-averaging {span}; resume with that value "
                             f"(got {self.span})")
        parameters = self._parameters()
        missing = [name for name, p in parameters.items()
                   if name not in tensors or tensors[name].shape != p.shape] + (
                      [] if "n_averaged" in tensors else ["n_averaged"])
        if missing:
            raise ValueError(f"{path}: not an average of this model (no {missing[0]!r} of the right shape)")
        with torch.no_grad():
            for name, parameter in parameters.items():
                parameter.copy_(tensors[name])
            self.average.n_averaged.copy_(tensors["n_averaged"])
        return True

    @torch.no_grad()
    def apply(self) -> bool:
        """Put the average into the model; False (model unchanged) when no step was averaged."""
        if int(self.average.n_averaged) == 0:
            return False
        for parameter, averaged in zip(self.model.parameters(), self.average.module.parameters(), strict=True):
            parameter.copy_(averaged)
        return True
