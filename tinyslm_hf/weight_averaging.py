"""An exponential moving average (EMA) of the weights over the end of a run, which becomes the final model.

At the end of a run the weights still move with every step's noise, even at the low learning rate the decay ends at;
an average over the last stretch of steps sits nearer the centre of where they wander, and scores better on
held-out text than the last step's weights (measured in docs/training.md). `torch.optim.swa_utils.AveragedModel`
does the averaging; this callback decides when, saves the average beside each checkpoint (so `--resume` continues
it) and puts it into the model when training ends.

The average's time constant is a share of the run (`span` x the planned steps), so a 100-step test run and a
3000-step budgeted run both average over their own last few percent, and a budget that corrects its plan mid-run
corrects the time constant with it.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch.optim.swa_utils import AveragedModel
from transformers import TrainerCallback

AVERAGE_FILE = "weight_average.safetensors"


class WeightAveragingCallback(TrainerCallback):
    """Keeps an EMA of `model`'s parameters with decay 1 - 1/(span x plan.total), updated after every optimizer
    step; `apply()` copies it into the model. `plan` is the run's `StepPlan` (its `total` may change)."""

    def __init__(self, model: torch.nn.Module, plan, span: float):
        if not 0.0 < span <= 1.0:
            raise ValueError(f"weight averaging span must be in (0, 1], got {span}")
        self.model = model
        self.plan = plan
        self.span = span
        self.average = AveragedModel(model, multi_avg_fn=self._ema, use_buffers=False)
        self.updates = 0

    def decay(self) -> float:
        return 1.0 - 1.0 / max(1.0, self.span * self.plan.total)

    @torch.no_grad()
    def _ema(self, averaged: list[torch.Tensor], current: list[torch.Tensor], num_averaged) -> None:
        torch._foreach_lerp_(averaged, current, 1.0 - self.decay())

    def _parameters(self, module: torch.nn.Module) -> dict[str, torch.Tensor]:
        return dict(module.named_parameters())  # tied weights once, under their first name

    def on_step_end(self, args, state, control, **kwargs):
        self.average.update_parameters(self.model)
        self.updates += 1

    def on_save(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if folder.is_dir():
            tensors = {name: p.detach().contiguous() for name, p in self._parameters(self.average.module).items()}
            tensors["n_averaged"] = self.average.n_averaged.detach()
            save_file(tensors, str(folder / AVERAGE_FILE))

    def load(self, checkpoint: Path) -> bool:
        """Continue the average saved beside `checkpoint`; False when there is none (it then restarts from the
        checkpoint's weights, which the next steps quickly average away)."""
        path = Path(checkpoint) / AVERAGE_FILE
        if not path.is_file():
            return False
        tensors = load_file(str(path))
        with torch.no_grad():
            for name, parameter in self._parameters(self.average.module).items():
                if name not in tensors or tensors[name].shape != parameter.shape:
                    raise ValueError(f"{path}: no average of the same shape for parameter {name!r}")
                parameter.copy_(tensors[name])
            self.average.n_averaged.copy_(tensors["n_averaged"])
        return True

    @torch.no_grad()
    def apply(self) -> bool:
        """Put the average into the model; False (model unchanged) when no step was averaged."""
        if int(self.average.n_averaged) == 0:
            return False
        for parameter, averaged in zip(self.model.parameters(), self.average.module.parameters()):
            parameter.copy_(averaged)
        return True
