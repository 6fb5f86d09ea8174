"""Muon for the hidden matrices, AdamW for everything else, as one `torch.optim.Optimizer` the Trainer can own.

Muon (`torch.optim.Muon`) orthogonalises the momentum of a 2-D weight before applying it, which suits the square-ish
projection matrices of the transformer blocks and nothing else: embeddings (a lookup table, and the tied LM head),
norm gains and biases keep AdamW. The HF `Trainer`, Accelerate, `LambdaLR` and checkpoints all expect a single
optimizer object, so `MuonWithAdamW` is one: it owns every parameter group (each tagged with its `rule`) and one
state dict, and lends both to an inner `Muon` and an inner `AdamW` that do the arithmetic. Its `state_dict()` is the
ordinary format, so `--resume` restores momentum and second moments like any optimizer's.
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Iterable

import torch
from torch import nn

MUON = "muon"
ADAMW = "adamw"


def muon_parameter_names(model: nn.Module) -> set[str]:
    """Names of the parameters Muon updates: the 2-D weights inside the transformer blocks (attention and MLP
    projections). Token/position embeddings, the LM head (tied to the embedding or not), norms and biases are left
    to AdamW, as in the Muon reference setups."""
    names = set()
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad or parameter.ndim != 2:
            continue
        if ".layers." in f".{name}":
            names.add(name)
    return names


class MuonWithAdamW(torch.optim.Optimizer):
    """AdamW on `adamw_groups`, Muon on `muon_params`, behind one optimizer interface.

    `lr` is AdamW's peak rate and `muon_lr` Muon's (Muon's update has unit spectral norm, so its rate lives on its
    own scale; `adjust_lr_fn="original"` scales it by sqrt(max(1, rows/cols)) per matrix). A learning-rate scheduler
    multiplies both by the same factor, since each group keeps its own `initial_lr`. The AdamW groups come first, so
    the Trainer's logged `learning_rate` (the first group's) is AdamW's, as with a plain AdamW run.
    """

    RULES = (ADAMW, MUON)

    def __init__(
        self,
        muon_params: Iterable[torch.Tensor],
        adamw_groups: list[dict],
        *,
        lr: float,
        muon_lr: float,
        weight_decay: float = 0.0,
        muon_weight_decay: float = 0.0,
        betas: tuple[float, float] = (0.9, 0.95),
        eps: float = 1e-8,
        momentum: float = 0.95,
    ):
        groups = [{"weight_decay": weight_decay, **group, "rule": ADAMW} for group in adamw_groups]
        groups.append({"params": list(muon_params), "rule": MUON, "lr": muon_lr, "weight_decay": muon_weight_decay})
        groups = [group for group in groups if group["params"]]
        self._momentum = momentum
        self._adamw_defaults = {"betas": betas, "eps": eps}
        super().__init__(groups, defaults={"lr": lr})
        self._inner = {}
        for rule in self.RULES:
            self._inner_optimizer(rule)  # fills each group with its rule's defaults, so a state_dict has them all

    def add_param_group(self, param_group: dict) -> None:
        if param_group.get("rule") not in self.RULES:
            raise ValueError(f"MuonWithAdamW: a parameter group needs 'rule' set to one of {self.RULES}")
        super().add_param_group(param_group)

    def _inner_optimizer(self, rule: str):
        """The optimizer doing `rule`'s arithmetic, pointed at this optimizer's current groups and state (shared
        objects, not copies): a scheduler changing a group's lr, a loaded checkpoint or an added group reaches it
        without any copying back."""
        groups = [group for group in self.param_groups if group["rule"] == rule]
        if not groups:
            return None
        inner = self._inner.get(rule)
        if inner is None:
            if rule == MUON:
                inner = torch.optim.Muon(groups, lr=groups[0]["lr"], momentum=self._momentum,
                                         adjust_lr_fn="original")
            else:
                inner = torch.optim.AdamW(groups, lr=groups[0]["lr"], **self._adamw_defaults)
            self._inner[rule] = inner
        for group in groups:
            for key, value in inner.defaults.items():
                group.setdefault(key, value)
        inner.param_groups = groups
        inner.state = self.state
        return inner

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for rule in self.RULES:
            inner = self._inner_optimizer(rule)
            if inner is not None:
                inner.step()
        return loss

    def __getstate__(self) -> dict:
        return {**super().__getstate__(), "_momentum": self._momentum, "_adamw_defaults": self._adamw_defaults}

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self._inner = {}  # rebuilt on the next step, over the restored groups and state


def build_muon_with_adamw(model: nn.Module, lr: float, muon_lr: float, weight_decay: float,
                          muon_weight_decay: float, betas: tuple[float, float], eps: float) -> MuonWithAdamW:
    """The optimizer `--optimizer muon` trains with: Muon on the block matrices, AdamW (decay on 2-D weights only,
    as the Trainer does) on the rest."""
    muon_names = muon_parameter_names(model)
    muon, decay, no_decay = [], [], []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        if name in muon_names:
            muon.append(parameter)
        elif parameter.ndim >= 2:
            decay.append(parameter)
        else:
            no_decay.append(parameter)
    return MuonWithAdamW(
        muon,
        [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=lr, muon_lr=muon_lr, weight_decay=weight_decay, muon_weight_decay=muon_weight_decay, betas=betas,
        eps=eps,
    )


def time_optimizer_step(model: nn.Module, build, device: torch.device | str | None = None, steps: int = 3) -> float:
    """Median seconds of one step of `build(model)`'s optimizer, run on a copy of the model with random gradients
    (the model itself, and so the run's initialisation, is untouched). For sizing a time budget.

    The copy runs on `device` (the run's device): Muon's cost on a CPU says nothing about its cost on a GPU."""
    shadow = copy.deepcopy(model)
    if device is not None:
        shadow.to(device)
    optimizer = build(shadow)
    for parameter in shadow.parameters():
        if parameter.requires_grad:
            parameter.grad = torch.randn_like(parameter)
    on_cuda = next(shadow.parameters()).device.type == "cuda"
    times = []
    for _ in range(steps + 1):  # the first step allocates the state: not timed
        started = time.perf_counter()
        optimizer.step()
        if on_cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    return statistics.median(times[1:])
