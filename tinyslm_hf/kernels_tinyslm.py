# Copyright 2026 The tinyslm_hf authors. Licensed under the Apache License, Version 2.0.
"""CPU training kernels of TinySLM: hand-written autograd functions and the predicates that gate them.

Each replaces a generic torch path that is slow on CPU for a training step (measurements in docs/speed.md), computes
the same function (tested against the plain path), and is used only where its predicate says it applies; everything
else - inference, compiled graphs, other devices, wrapped, sharded or offloaded weights - takes the standard path in
`modeling_tinyslm.py`. Ships next to the weights as remote code with the model file, so it imports only torch.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.autograd.function import once_differentiable

def is_plain_local_parameter(parameter: torch.Tensor | None) -> bool:
    """A parameter a custom autograd function may save for its backward: not sharded (DTensor, DeepSpeed ZeRO-3
    partitions, which are gathered only around the module's own forward)."""
    return parameter is not None and type(parameter.data) is torch.Tensor and not hasattr(parameter, "ds_id")


def has_plain_local_weight(module: nn.Module) -> bool:
    """A module whose weight can be used directly, without calling the module: not sharded and not moved in by an
    accelerate hook (offloading)."""
    return is_plain_local_parameter(module.weight) and not hasattr(module, "_hf_hook")


def is_plain_local_linear(module: nn.Module) -> bool:
    """An `nn.Linear` whose weight can be used directly, without calling the module: not wrapped (LoRA,
    quantisation), not sharded (DTensor, DeepSpeed ZeRO-3 partitions) and not moved in by an accelerate hook."""
    return type(module) is nn.Linear and has_plain_local_weight(module)


class TinySLMRMSNormFunction(torch.autograd.Function):
    """RMSNorm with a hand-written backward, for CPU training.

    On CPU, torch's `rms_norm` is a composite of generic ops and its autograd backward replays that chain, one pass
    over the activations per op. The forward is one reduction (`vector_norm`) and two products; the backward uses
    the saved normalised input: dx = r * (g*w - x_hat * mean(g*w * x_hat)), dw = sum(g * x_hat). Statistics are in at least
    fp32; the output has the input's dtype, as torch's has.
    """

    @staticmethod
    def forward(ctx, hidden: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
        stats_dtype = torch.promote_types(hidden.dtype, torch.float32)
        squares_mean = torch.linalg.vector_norm(hidden, dim=-1, keepdim=True, dtype=stats_dtype).square_()
        inv_rms = squares_mean.div_(hidden.shape[-1]).add_(eps).rsqrt_()
        normed = hidden * inv_rms  # in the statistics' dtype (at least fp32)
        ctx.save_for_backward(normed, inv_rms, weight)
        return (normed * weight).to(hidden.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output: torch.Tensor):
        normed, inv_rms, weight = ctx.saved_tensors
        grad_hidden = grad_weight = None
        if ctx.needs_input_grad[0]:
            grad_normed = grad_output * weight
            projection = (grad_normed * normed).mean(-1, keepdim=True)
            grad_hidden = grad_normed.sub_(normed * projection).mul_(inv_rms).to(grad_output.dtype)
        if ctx.needs_input_grad[1]:
            grad_weight = (grad_output * normed).reshape(-1, normed.shape[-1]).sum(0).to(weight.dtype)
        return grad_hidden, grad_weight, None


class TinySLMDropout(nn.Dropout):
    """`nn.Dropout` whose CPU keep-mask comes from 15-bit random integers, two per 32-bit draw of the generator.

    torch's CPU dropout draws its mask with `bernoulli_`, and a uniform float costs one full draw of the (sequential)
    CPU generator per element, which made residual dropout a large share of a small model's training step.
    Here an element is kept when its 15 bits are >= round(p * 2^15), so the drop probability is p rounded to a
    multiple of 2^-15 (0.1 -> 0.100006), and kept elements are scaled by the exact inverse of the keep probability,
    so the expectation is unchanged, with half the generator draws of a uniform mask.
    Other devices, and a p that rounds to 0 or 1 on that grid, keep torch's kernel."""

    @property
    def drops(self) -> bool:
        """Whether calling it can change anything; callers skip the module call otherwise (in eval mode or at p = 0
        it is the identity, and two module calls per block are a measurable share of a decoded token)."""
        return self.training and self.p > 0

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        threshold = round(self.p * 32768)
        if not self.training or not 0 < threshold < 32768 or hidden_states.device.type != "cpu":
            return super().forward(hidden_states)
        numel = hidden_states.numel()
        bits = torch.empty((numel + 1) // 2, dtype=torch.int32).random_().view(torch.int16)[:numel]
        keep = (bits & 0x7FFF).ge_(threshold).view(hidden_states.shape)
        return hidden_states * keep.to(hidden_states.dtype).mul_(32768 / (32768 - threshold))


class TinySLMCausalAttentionFunction(torch.autograd.Function):
    """Causal softmax attention that keeps its probabilities for the backward pass, for bf16 training on CPU.

    torch's CPU flash attention recomputes the probabilities in its backward and converts bf16 blocks to fp32 as it
    goes, so its backward costs several times its forward. Here the forward keeps the bf16 probabilities (what eager
    attention under autocast keeps too) and the backward is four batched matmuls and one fused softmax backward.
    Queries go in chunks of `chunk_rows` and each chunk only multiplies the keys it can see, so 3/8 of
    the score matrix at seq 256 (three quarters of its masked half) is never computed or stored; batch x heads go
    in groups whose score block stays in the cache (`block_bytes`). The kept probabilities cost about
    batch x heads x seq^2 / 2 elements per layer, which is why `use_kept_probabilities_attention` bounds them. The
    key and value gradients are summed over the query chunks in bf16 (one rounding per chunk), so long sequences
    lose a little precision against eager attention under autocast (docs/speed.md).
    """

    @staticmethod
    @torch.amp.custom_fwd(device_type="cpu", cast_inputs=torch.bfloat16)  # under autocast: bf16 in, autocast off
    def forward(ctx, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, scaling: float,
                chunk_rows: int = 64, block_bytes: int = 1 << 20) -> torch.Tensor:
        batch, heads, seq, head_dim = query.shape
        n = batch * heads
        q, k, v = (t.reshape(n, seq, head_dim) for t in (query, key, value))
        # -inf above the diagonal; scores are bias + scaling * q k^T in one baddbmm.
        future = torch.full((seq, seq), float("-inf"), dtype=query.dtype, device=query.device).triu_(1)
        group = max(1, block_bytes // (chunk_rows * seq * query.element_size()))
        bounds = [(start, min(start + chunk_rows, seq)) for start in range(0, seq, chunk_rows)]
        out = torch.empty_like(q)
        probs = []
        for start, stop in bounds:
            chunk_probs = torch.empty(n, stop - start, stop, dtype=query.dtype, device=query.device)
            bias = future[start:stop, :stop].expand(min(group, n), stop - start, stop)
            for first in range(0, n, group):
                rows = slice(first, min(first + group, n))
                scores = torch.baddbmm(bias[: rows.stop - first], q[rows, start:stop], k[rows, :stop].transpose(1, 2),
                                       alpha=scaling)
                torch.softmax(scores, dim=-1, out=chunk_probs[rows])
                torch.bmm(chunk_probs[rows], v[rows, :stop], out=out[rows, start:stop])
            probs.append(chunk_probs)
        ctx.save_for_backward(q, k, v, *probs)
        ctx.scaling, ctx.bounds, ctx.group, ctx.shape = scaling, bounds, group, query.shape
        return out.view(query.shape)

    @staticmethod
    @once_differentiable
    @torch.amp.custom_bwd(device_type="cpu")
    def backward(ctx, grad_output: torch.Tensor):
        q, k, v, *probs = ctx.saved_tensors
        n, seq, head_dim = q.shape
        grad_out = grad_output.reshape(n, seq, head_dim).to(q.dtype)
        grad_q = torch.empty_like(q)
        grad_k, grad_v = torch.zeros_like(k), torch.zeros_like(v)
        for (start, stop), chunk_probs in zip(ctx.bounds, probs):
            for first in range(0, n, ctx.group):
                rows = slice(first, min(first + ctx.group, n))
                p, g = chunk_probs[rows], grad_out[rows, start:stop]
                grad_v[rows, :stop].baddbmm_(p.transpose(1, 2), g)
                grad_scores = torch._softmax_backward_data(
                    torch.bmm(g, v[rows, :stop].transpose(1, 2)), p, -1, p.dtype
                )
                # beta=0: grad_q is uninitialised and ignored; the scaling is applied inside the matmul, one rounding.
                grad_q[rows, start:stop].baddbmm_(grad_scores, k[rows, :stop], beta=0, alpha=ctx.scaling)
                grad_k[rows, :stop].baddbmm_(grad_scores.transpose(1, 2), q[rows, start:stop], alpha=ctx.scaling)
        return (grad_q.view(ctx.shape), grad_k.view(ctx.shape), grad_v.view(ctx.shape), None, None, None)


# Kept probabilities above this many bytes per layer (~batch x heads x seq^2 / 2 bf16 values; 2 MB on the benchmark's
# shape, 1 MB for `tinyslm train`'s) go back to flash attention, which keeps only one number per query row.
_KEPT_PROBABILITIES_MAX_BYTES = 64 << 20
# Keyword arguments that reach the attention call without changing what it computes here (the Trainer's loss
# normaliser travels with the model's kwargs; position ids matter only to flash attention, and a packed row reaches
# this predicate with a mask); any other (packed-sequence lengths, paged-cache indices, ...) keeps sdpa.
_ATTENTION_NEUTRAL_KWARGS = frozenset({"num_items_in_batch", "position_ids"})


def use_kept_probabilities_attention(module: nn.Module, query: torch.Tensor, key: torch.Tensor,
                                      attention_mask: torch.Tensor | None, dropout: float, kwargs: dict) -> bool:
    """Where `TinySLMCausalAttentionFunction` replaces sdpa: a bf16 (autocast) CPU training step over whole causal
    sequences. Padding or packed-sequence masks, attention dropout, a cache prefix, explicitly chosen attention
    implementations, compiled graphs, other devices and eval mode keep the attention function of
    `_attn_implementation`. The choice follows `module.training`, not grad mode, so that a reentrant activation
    checkpoint (forward under no_grad, then a recompute with grad) computes the same function both times."""
    if not (module.training and query.device.type == "cpu" and not torch.compiler.is_compiling()):
        return False
    compute_dtype = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else query.dtype
    batch, heads, seq = query.shape[:3]
    return (
        module.config._attn_implementation == "sdpa"
        and compute_dtype == torch.bfloat16
        and attention_mask is None
        and dropout == 0.0
        and key.shape[2] == seq
        and set(kwargs) <= _ATTENTION_NEUTRAL_KWARGS
        and batch * heads * seq * seq <= _KEPT_PROBABILITIES_MAX_BYTES
    )


def fused_projections(projections: tuple[nn.Module, ...], hidden_states: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Outputs of several Linear layers reading the same input; in training, one matmul over their concatenated
    weights.

    One wide matmul instead of several narrow ones also means one autocast cast of the input instead of one per
    layer, and one input gradient instead of a sum. The parameters stay separate modules (the Llama names PEFT,
    llama.cpp and the tensor-parallel plan use), so the fused path is taken only where they are plain, local
    weights; wrapped (LoRA, quantised), sharded (DTensor, ZeRO-3) or offloaded layers run one by one. Inference also
    runs them one by one: per decoded token, concatenating the weights would cost more than the launches it saves.
    The concatenated weight is kept for the backward pass: a few hundred KB per layer at TinySLM sizes.
    """
    if not torch.is_grad_enabled():
        return tuple(proj(hidden_states) for proj in projections)
    fusable = all(
        is_plain_local_linear(proj) and (proj.bias is None) == (projections[0].bias is None) for proj in projections
    )
    if not fusable:
        return tuple(proj(hidden_states) for proj in projections)
    weight = torch.cat([proj.weight for proj in projections])
    bias = None if projections[0].bias is None else torch.cat([proj.bias for proj in projections])
    return nn.functional.linear(hidden_states, weight, bias).split([proj.out_features for proj in projections], -1)


class TinySLMLinearCrossEntropy(torch.autograd.Function):
    """LM head + next-token cross-entropy, with both gradients computed in the forward pass, chunk by chunk.

    The unfused path materialises the logits, upcasts all of them to fp32, runs log-softmax and its backward over the
    whole [tokens, vocab] matrix and casts the gradient back: several passes over a tensor far larger than the cache.
    Here the logits are computed once in the compute dtype, and each block of
    rows is turned into its loss and `(softmax - one_hot) / normalizer` while it is in cache, overwriting the logits
    in place; two matmuls then give the hidden-state and weight gradients. Precision matches the
    unfused path: the softmax and the subtraction of the one-hot run in fp32, and the gradient is rounded to the
    compute dtype once, as autocast does. The normalizer (an int, or a tensor on any device) is moved to the hidden
    states' device here, once.
    """

    @staticmethod
    def forward(ctx, hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor,
                normalizer: torch.Tensor | int, ignore_index: int) -> torch.Tensor:
        device_type = hidden.device.type
        dtype = torch.get_autocast_dtype(device_type) if torch.is_autocast_enabled(device_type) else hidden.dtype
        with torch.autocast(device_type, enabled=False):
            hidden_c, weight_c = hidden.to(dtype), weight.to(dtype)
            logits = hidden_c @ weight_c.t()
            valid = labels != ignore_index
            targets = torch.where(valid, labels, 0)[:, None]
            # Ignored rows get exactly zero gradient even when nothing is left to average over (normalizer 0): the
            # loss is then NaN, as transformers' loss is, but no NaN reaches the weights.
            inverse = 1.0 / torch.as_tensor(normalizer, dtype=torch.float32, device=hidden.device)
            scale = torch.where(valid, inverse, 0.0)[:, None]
            nll = torch.zeros((), dtype=torch.float32, device=hidden.device)
            # ~4 MB fp32 blocks stay in a CPU core's cache; accelerators only need the blocks to bound memory.
            rows = max(1, (2**20 if device_type == "cpu" else 2**24) // logits.shape[1])
            for start in range(0, logits.shape[0], rows):
                block = slice(start, start + rows)
                log_probs = torch.log_softmax(logits[block], dim=-1, dtype=torch.float32)
                nll -= (log_probs.gather(1, targets[block]) * valid[block, None]).sum()
                grad = log_probs.exp_().mul_(scale[block])
                grad.scatter_add_(1, targets[block], -scale[block])
                logits[block] = grad
            grad_hidden = (logits @ weight_c).to(hidden.dtype) if ctx.needs_input_grad[0] else None
            grad_weight = (logits.t() @ hidden_c).to(weight.dtype) if ctx.needs_input_grad[1] else None
        ctx.save_for_backward(grad_hidden, grad_weight)
        return nll * inverse

    @staticmethod
    @once_differentiable  # the gradients are constants computed in forward: a second derivative must raise
    def backward(ctx, grad_loss: torch.Tensor):
        grad_hidden, grad_weight = ctx.saved_tensors
        if grad_hidden is not None:
            grad_hidden = grad_hidden * grad_loss.to(grad_hidden.dtype)
        if grad_weight is not None:
            grad_weight = grad_weight * grad_loss.to(grad_weight.dtype)
        return grad_hidden, grad_weight, None, None, None


def fused_linear_cross_entropy(
    hidden_states: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor | None = None,
    num_items_in_batch: torch.Tensor | int | None = None,
    ignore_index: int = -100,
    shift_labels: torch.Tensor | None = None,
    **kwargs,
) -> torch.Tensor:
    """The loss of transformers' `ForCausalLMLoss` (same shift, ignore_index and `num_items_in_batch` reduction)
    computed from the hidden states and the LM-head weight without keeping the logits."""
    if shift_labels is None:
        shift_labels = nn.functional.pad(labels, (0, 1), value=ignore_index)[..., 1:]
    shift_labels = shift_labels.reshape(-1).to(hidden_states.device)
    normalizer = (shift_labels != ignore_index).sum() if num_items_in_batch is None else num_items_in_batch
    return TinySLMLinearCrossEntropy.apply(
        hidden_states.reshape(-1, hidden_states.shape[-1]), weight, shift_labels, normalizer, ignore_index
    )


__all__ = [
    "TinySLMCausalAttentionFunction",
    "TinySLMDropout",
    "TinySLMLinearCrossEntropy",
    "TinySLMRMSNormFunction",
    "fused_linear_cross_entropy",
    "fused_projections",
    "has_plain_local_weight",
    "is_plain_local_linear",
    "use_kept_probabilities_attention",
]
