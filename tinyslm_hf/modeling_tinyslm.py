# Copyright 2026 The tinyslm_hf authors. Licensed under the Apache License, Version 2.0.
"""TinySLM: a small decoder-only transformer, written the way in-tree transformers models are.

This file ships next to the weights as remote code: it imports only torch, transformers and its sibling
`configuration_tinyslm`, so `AutoModelForCausalLM.from_pretrained(dir, trust_remote_code=True)` works where the
`tinyslm_hf` package is not installed.

Two presets share one implementation:
  * seed   -- learned positions, pre-LayerNorm, GELU MLP, biases: the GPT-2 layout (llama.cpp arch "gpt2").
  * modern -- RoPE, RMSNorm, SwiGLU, grouped-query attention, no biases: the Llama layout (llama.cpp arch "llama").
The seed blog model had three bugs that are fixed here: it had no causal mask, split heads with a reshape but no
transpose (mixing positions across heads), and scaled scores by 1/sqrt(hidden_size) instead of 1/sqrt(head_dim).
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable

import torch
from torch import nn
from torch.autograd.function import once_differentiable
from transformers import GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.cache_utils import Cache, DynamicCache
from transformers.masking_utils import create_causal_mask
from transformers.modeling_layers import GenericForSequenceClassification, GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS, dynamic_rope_update
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.utils import logging
from transformers.utils.generic import can_return_tuple

from .configuration_tinyslm import TinySLMConfig

logger = logging.get_logger(__name__)

# transformers 5.24 renamed the cache argument and output field from `past_key_values` to `cache`; both are handled
# so that the same remote code runs on the releases before it too (tested against 5.17 and 5.24).
_CACHE_FIELD = "cache" if "cache" in BaseModelOutputWithPast.__dataclass_fields__ else "past_key_values"
# The same release renamed create_causal_mask's cache argument.
_MASK_CACHE_ARG = "cache" if "cache" in inspect.signature(create_causal_mask).parameters else "past_key_values"


def _resolve_cache(owner: nn.Module, cache: Cache | None, past_key_values: Cache | None,
                   kwargs: dict) -> Cache | None:
    """The model's KV cache, under whichever name this transformers release uses.

    From 5.24 it is `cache`; `past_key_values` is still accepted, with the FutureWarning in-tree models give. Before
    5.24 it was `past_key_values`, and a `cache` argument was continuous batching's paged cache meant for the
    attention functions: that one is moved into `kwargs`, which reach them.
    """
    if _CACHE_FIELD == "past_key_values":
        if cache is not None:
            kwargs["cache"] = cache
        return past_key_values
    if past_key_values is None:
        return cache
    warnings.warn(f"`past_key_values` is deprecated for `{type(owner).__name__}.forward`; use `cache` instead.",
                  FutureWarning, stacklevel=3)
    return past_key_values if cache is None else cache


def _is_plain_local_parameter(parameter: torch.Tensor | None) -> bool:
    """A parameter a custom autograd function may save for its backward: not sharded (DTensor, DeepSpeed ZeRO-3
    partitions, which are gathered only around the module's own forward)."""
    return parameter is not None and type(parameter.data) is torch.Tensor and not hasattr(parameter, "ds_id")


def _has_plain_local_weight(module: nn.Module) -> bool:
    """A module whose weight can be used directly, without calling the module: not sharded and not moved in by an
    accelerate hook (offloading)."""
    return _is_plain_local_parameter(module.weight) and not hasattr(module, "_hf_hook")


def _is_plain_local_linear(module: nn.Module) -> bool:
    """An `nn.Linear` whose weight can be used directly, without calling the module: not wrapped (LoRA,
    quantisation), not sharded (DTensor, DeepSpeed ZeRO-3 partitions) and not moved in by an accelerate hook."""
    return type(module) is nn.Linear and _has_plain_local_weight(module)


class TinySLMRMSNormFunction(torch.autograd.Function):
    """RMSNorm with a hand-written backward, for CPU training.

    On CPU, torch's `rms_norm` is a composite of generic ops and its autograd backward replays that chain; measured
    on a [8, 256, 256] fp32 input it takes 3.9 ms forward + backward against 2.5 ms here (and 1.3 ms for the fused
    LayerNorm kernel). The forward is one reduction (`vector_norm`) and two products; the backward uses the saved
    normalised input: dx = r * (g*w - x_hat * mean(g*w * x_hat)), dw = sum(g * x_hat). Statistics are in at least
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


class TinySLMRMSNorm(nn.RMSNorm):
    """`nn.RMSNorm` (same parameters and state-dict names) whose CPU training path uses
    `TinySLMRMSNormFunction`; inference, compiled graphs, sharded or offloaded weights and other devices (CUDA has a
    fused kernel) use torch's."""

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        if (
            torch.is_grad_enabled()
            and hidden_states.device.type == "cpu"
            and _has_plain_local_weight(self)
            and not torch.compiler.is_compiling()
        ):
            eps = self.eps if self.eps is not None else torch.finfo(hidden_states.dtype).eps
            return TinySLMRMSNormFunction.apply(hidden_states, self.weight, eps)
        return super().forward(hidden_states)


def _make_norm(config: TinySLMConfig) -> nn.Module:
    if config.norm_type == "rmsnorm":
        return TinySLMRMSNorm(config.hidden_size, eps=config.layer_norm_eps)
    return nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)


class TinySLMDropout(nn.Dropout):
    """`nn.Dropout` whose CPU keep-mask comes from 15-bit random integers, two per 32-bit draw of the generator.

    torch's CPU dropout draws its mask with `bernoulli_`, and a uniform float costs one full draw of the (sequential)
    CPU generator per element; residual dropout cost ~19% of a training step of `tinyslm train`'s default model.
    Here an element is kept when its 15 bits are >= round(p * 2^15), so the drop probability is p rounded to a
    multiple of 2^-15 (0.1 -> 0.100006), and kept elements are scaled by the exact inverse of the keep probability,
    so the expectation is unchanged. Half the draws of a uniform mask: 0.84 -> 0.47 ms per [4, 256, 192] mask.
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


class TinySLMRotaryEmbedding(nn.Module):
    """Rotary position embedding (RoPE); returns cos/sin tables for the given position ids."""

    inv_freq: torch.Tensor

    def __init__(self, config: TinySLMConfig, device: torch.device | None = None):
        super().__init__()
        self.config = config
        # The attributes below are what transformers' `dynamic_rope_update` and `_init_weights` expect of a rotary
        # module, so dynamic / long-rope scaling and meta-device loading work as for in-tree models.
        self.rope_type = (config.rope_parameters or {}).get("rope_type", "default")
        self.max_seq_len_cached = self.original_max_seq_len = config.max_position_embeddings
        inv_freq, self.attention_scaling = self.compute_inv_freq(config, device)
        self.register_buffer("inv_freq", inv_freq, persistent=False)
        self.register_buffer("original_inv_freq", inv_freq.clone(), persistent=False)

    @staticmethod
    def compute_default_rope_parameters(
        config: TinySLMConfig, device: torch.device | None = None, **kwargs
    ) -> tuple[torch.Tensor, float]:
        """Plain RoPE: inverse frequencies theta^(-2i/d), no attention scaling."""
        base, dim = (config.rope_parameters or {}).get("rope_theta", 10000.0), config.head_dim
        return 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).to(device, torch.float) / dim)), 1.0

    @classmethod
    def compute_inv_freq(cls, config: TinySLMConfig, device: torch.device | None = None) -> tuple[torch.Tensor, float]:
        """Default RoPE here; scaled types (linear, dynamic, yarn, ...) from transformers' table."""
        rope_type = (config.rope_parameters or {}).get("rope_type", "default")
        if rope_type == "default":
            return cls.compute_default_rope_parameters(config, device)
        return ROPE_INIT_FUNCTIONS[rope_type](config, device)

    @torch.no_grad()
    @dynamic_rope_update  # grows the frequencies past the trained context for rope_type="dynamic" / "longrope"
    def forward(self, x: torch.Tensor, position_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        freqs = position_ids[..., None].float() * self.inv_freq.to(device=x.device, dtype=torch.float)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos = emb.cos() * self.attention_scaling
        sin = emb.sin() * self.attention_scaling
        return cos.to(dtype=x.dtype), sin.to(dtype=x.dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary_pos_emb(
    q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """q, k: [batch, heads, seq, head_dim]; cos, sin: [batch, seq, head_dim]."""
    cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    return (q * cos) + (rotate_half(q) * sin), (k * cos) + (rotate_half(k) * sin)


def repeat_kv(hidden_states: torch.Tensor, n_rep: int) -> torch.Tensor:
    """[batch, kv_heads, seq, dim] -> [batch, kv_heads * n_rep, seq, dim] for grouped-query attention."""
    if n_rep == 1:
        return hidden_states
    batch, kv_heads, seq, dim = hidden_states.shape
    hidden_states = hidden_states[:, :, None, :, :].expand(batch, kv_heads, n_rep, seq, dim)
    return hidden_states.reshape(batch, kv_heads * n_rep, seq, dim)


def eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference attention: softmax(q k^T * scaling + mask) v, computed in fp32 for the softmax."""
    key = repeat_kv(key, module.num_key_value_groups)
    value = repeat_kv(value, module.num_key_value_groups)
    attn_weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        attn_weights = attn_weights + attention_mask
    attn_weights = nn.functional.softmax(attn_weights, dim=-1, dtype=torch.float32).to(query.dtype)
    attn_weights = nn.functional.dropout(attn_weights, p=dropout, training=module.training)
    attn_output = torch.matmul(attn_weights, value).transpose(1, 2).contiguous()
    return attn_output, attn_weights


class TinySLMCausalAttentionFunction(torch.autograd.Function):
    """Causal softmax attention that keeps its probabilities for the backward pass, for bf16 training on CPU.

    torch's CPU flash attention recomputes the probabilities in its backward and converts bf16 blocks to fp32 as it
    goes; on the benchmark's shape ([8, 4, 256, 64], 2-core AMX CPU) its backward alone takes 11-15 ms against
    ~1.6 ms forward. Here the forward keeps the bf16 probabilities (what eager attention under autocast keeps too)
    and the backward is four batched matmuls and one fused softmax backward: ~11 ms forward + backward against
    ~14-17 ms. Queries go in chunks of `chunk_rows` and each chunk only multiplies the keys it can see, so 3/8 of
    the score matrix at seq 256 (three quarters of its masked half) is never computed or stored; batch x heads go
    in groups whose score block stays in the cache (`block_bytes`). The kept probabilities cost about
    batch x heads x seq^2 / 2 elements per layer, which is why `_use_kept_probabilities_attention` bounds them. The
    key and value gradients are summed over the query chunks in bf16 (one rounding per chunk): at seq 256 as precise
    as eager attention under autocast, at seq 2048 ~10% less (1.6e-2 vs 1.4e-2 relative error against float64).
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
# Keyword arguments that reach the attention call without changing what it computes (the Trainer's loss normaliser
# travels with the model's kwargs); any other (packed-sequence lengths, paged-cache indices, ...) keeps sdpa.
_ATTENTION_NEUTRAL_KWARGS = frozenset({"num_items_in_batch"})


def _use_kept_probabilities_attention(module: nn.Module, query: torch.Tensor, key: torch.Tensor,
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
        _is_plain_local_linear(proj) and (proj.bias is None) == (projections[0].bias is None) for proj in projections
    )
    if not fusable:
        return tuple(proj(hidden_states) for proj in projections)
    weight = torch.cat([proj.weight for proj in projections])
    bias = None if projections[0].bias is None else torch.cat([proj.bias for proj in projections])
    return nn.functional.linear(hidden_states, weight, bias).split([proj.out_features for proj in projections], -1)


class TinySLMAttention(nn.Module):
    """Multi-head (or grouped-query) causal self-attention with separate q/k/v/o projections.

    Separate projection modules (not a fused c_attn) keep the Llama tensor names that PEFT, llama.cpp and
    tensor-parallel plans recognise; training still runs q/k/v as one matmul (`fused_projections`).
    """

    def __init__(self, config: TinySLMConfig, layer_idx: int):
        super().__init__()
        self.config = config
        self.layer_idx = layer_idx
        self.head_dim = config.head_dim
        self.num_heads = config.num_attention_heads
        self.num_key_value_heads = config.num_key_value_heads
        self.num_key_value_groups = config.num_attention_heads // config.num_key_value_heads
        self.scaling = self.head_dim**-0.5
        self.attention_dropout = config.attention_dropout
        self.is_causal = True
        bias = config.attention_bias
        self.q_proj = nn.Linear(config.hidden_size, self.num_heads * self.head_dim, bias=bias)
        self.k_proj = nn.Linear(config.hidden_size, self.num_key_value_heads * self.head_dim, bias=bias)
        self.v_proj = nn.Linear(config.hidden_size, self.num_key_value_heads * self.head_dim, bias=bias)
        self.o_proj = nn.Linear(self.num_heads * self.head_dim, config.hidden_size, bias=bias)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_embeddings: tuple[torch.Tensor, torch.Tensor] | None = None,
        **kwargs,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        # The KV cache arrives under this release's name (`cache`, or `past_key_values` before 5.24; see
        # `_resolve_cache`); everything else in kwargs goes on to the attention function.
        cache = kwargs.pop(_CACHE_FIELD, None)
        input_shape = hidden_states.shape[:-1]
        hidden_shape = (*input_shape, -1, self.head_dim)
        # [batch, seq, heads * head_dim] -> [batch, heads, seq, head_dim]: view, then transpose (the seed bug skipped
        # the transpose and mixed sequence positions into the head dimension).
        projected = fused_projections((self.q_proj, self.k_proj, self.v_proj), hidden_states)
        query, key, value = (t.view(hidden_shape).transpose(1, 2) for t in projected)

        if position_embeddings is not None:
            cos, sin = position_embeddings
            query, key = apply_rotary_pos_emb(query, key, cos, sin)

        if cache is not None:
            if _CACHE_FIELD == "cache":  # continuous batching's paged cache reads/fills its block indices in kwargs
                key, value = cache.update(key, value, self.layer_idx, kwargs=kwargs)
            else:  # before 5.24 the paged cache came in kwargs and the paged attention function updated it
                key, value = cache.update(key, value, self.layer_idx)

        dropout = self.attention_dropout if self.training else 0.0
        if _use_kept_probabilities_attention(self, query, key, attention_mask, dropout, kwargs):
            key = repeat_kv(key, self.num_key_value_groups)
            value = repeat_kv(value, self.num_key_value_groups)
            attn_output = TinySLMCausalAttentionFunction.apply(query, key, value, self.scaling).transpose(1, 2)
            attn_weights = None
        else:
            attention_interface: Callable = ALL_ATTENTION_FUNCTIONS.get_interface(
                self.config._attn_implementation, eager_attention_forward
            )
            attn_output, attn_weights = attention_interface(
                self, query, key, value, attention_mask, dropout=dropout, scaling=self.scaling, **kwargs
            )
        attn_output = attn_output.reshape(*input_shape, -1).contiguous()
        return self.o_proj(attn_output), attn_weights


class TinySLMMLP(nn.Module):
    """4x GELU MLP (seed) or SwiGLU (modern): down(act(gate(x)) * up(x))."""

    def __init__(self, config: TinySLMConfig):
        super().__init__()
        bias = config.mlp_bias
        self.gated = config.mlp_type == "swiglu"
        if self.gated:
            self.gate_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=bias)
        self.up_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=bias)
        self.down_proj = nn.Linear(config.intermediate_size, config.hidden_size, bias=bias)
        self.act_fn = ACT2FN[config.hidden_act]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.gated:
            gate, up = fused_projections((self.gate_proj, self.up_proj), x)
            return self.down_proj(self.act_fn(gate) * up)
        return self.down_proj(self.act_fn(self.up_proj(x)))


class TinySLMBlock(GradientCheckpointingLayer):
    """Pre-norm transformer block: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, config: TinySLMConfig, layer_idx: int):
        super().__init__()
        self.input_layernorm = _make_norm(config)
        self.self_attn = TinySLMAttention(config, layer_idx)
        self.post_attention_layernorm = _make_norm(config)
        self.mlp = TinySLMMLP(config)
        self.dropout = TinySLMDropout(config.hidden_dropout)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_embeddings: tuple[torch.Tensor, torch.Tensor] | None = None,
        use_cache: bool | None = False,
        **kwargs,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        attn_output, attn_weights = self.self_attn(
            self.input_layernorm(hidden_states),
            attention_mask=attention_mask,
            position_embeddings=position_embeddings,
            **kwargs,
        )
        if self.dropout.drops:
            attn_output = self.dropout(attn_output)
        hidden_states = hidden_states + attn_output
        mlp_output = self.mlp(self.post_attention_layernorm(hidden_states))
        if self.dropout.drops:
            mlp_output = self.dropout(mlp_output)
        return hidden_states + mlp_output, attn_weights


def _mask_cache(cache: Cache | None, past_seen: int, paged: bool) -> Cache | None:
    """The cache `create_causal_mask` should see. transformers looks for packed sequences (position ids restarting
    at 0, no attention mask) only when it is given no cache, so an empty dynamic cache - what `generate` and a plain
    eval forward with `use_cache` create - would let each packed document attend to the ones before it. An empty
    dynamic cache gives the mask the same sizes as no cache, so it is left out; a filled, static or paged cache,
    whose sizes the mask needs, is passed on."""
    if cache is None or paged or getattr(cache, "is_compileable", True):
        return cache
    return cache if past_seen > 0 else None


class TinySLMPreTrainedModel(PreTrainedModel):
    config_class = TinySLMConfig
    config: TinySLMConfig
    base_model_prefix = "model"
    supports_gradient_checkpointing = True
    _no_split_modules = ["TinySLMBlock"]
    _skip_keys_device_placement = ["past_key_values", "cache"]
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = True
    _supports_attention_backend = True
    _can_compile_fullgraph = True

    def save_pretrained(self, save_directory, *args, **kwargs):
        """Save as usual; when registered for the Auto classes, list *every* TinySLM head in `auto_map`.

        transformers only records the saved object's own Auto class, so a folder saved from the causal LM could not
        be opened with `AutoModel` / `AutoModelForSequenceClassification` through remote code without this.
        """
        if self._auto_class is not None:
            auto_map = dict(getattr(self.config, "auto_map", None) or {})
            auto_map.setdefault("AutoConfig", "configuration_tinyslm.TinySLMConfig")
            for auto_class, class_name in (
                ("AutoModel", "TinySLMModel"),
                ("AutoModelForCausalLM", "TinySLMForCausalLM"),
                ("AutoModelForSequenceClassification", "TinySLMForSequenceClassification"),
            ):
                auto_map.setdefault(auto_class, f"modeling_tinyslm.{class_name}")
            self.config.auto_map = auto_map
        return super().save_pretrained(save_directory, *args, **kwargs)

    def _init_weights(self, module: nn.Module) -> None:
        """Normal(0, initializer_range) everywhere (transformers' default), then GPT-2's scaled init.

        The two residual output projections per block get std / sqrt(2 * num_layers) so the residual stream's
        variance does not grow with depth.
        """
        super()._init_weights(module)
        if isinstance(module, TinySLMRotaryEmbedding):
            # A non-persistent buffer: from_pretrained builds the model on the meta device and never loads it,
            # so it must be recomputed here or RoPE runs on uninitialised memory.
            inv_freq = module.compute_inv_freq(self.config, module.inv_freq.device)[0]
            init.copy_(module.inv_freq, inv_freq)
            init.copy_(module.original_inv_freq, inv_freq)
        if isinstance(module, (TinySLMAttention, TinySLMMLP)):
            proj = module.o_proj if isinstance(module, TinySLMAttention) else module.down_proj
            std = self.config.initializer_range / (2 * self.config.num_hidden_layers) ** 0.5
            init.normal_(proj.weight, mean=0.0, std=std)


class TinySLMModel(TinySLMPreTrainedModel):
    """The bare decoder: embeddings, blocks and the final norm; returns hidden states and the KV cache."""

    def __init__(self, config: TinySLMConfig):
        super().__init__(config)
        self.padding_idx = config.pad_token_id
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size, self.padding_idx)
        if config.position_embedding_type == "learned":
            self.embed_positions = nn.Embedding(config.max_position_embeddings, config.hidden_size)
            self.rotary_emb = None
        else:
            self.embed_positions = None
            self.rotary_emb = TinySLMRotaryEmbedding(config)
        self.dropout = TinySLMDropout(config.hidden_dropout)
        self.layers = nn.ModuleList([TinySLMBlock(config, i) for i in range(config.num_hidden_layers)])
        self.norm = _make_norm(config)
        self.gradient_checkpointing = False
        self.post_init()

    def _check_learned_positions(self, position_ids: torch.Tensor | None, past_seen: int, seq_len: int) -> None:
        """The learned table has `max_position_embeddings` rows: refuse positions past it with a message instead of
        an index error. Packed rows (several documents, positions restarting at 0) may be longer than the table;
        what must fit is the positions they use, so given position ids are checked, not the row length."""
        limit = self.config.max_position_embeddings
        if position_ids is not None:
            if position_ids.numel() and int(position_ids.max()) >= limit:
                raise ValueError(
                    f"position_ids reach {int(position_ids.max())}, beyond max_position_embeddings={limit} of this "
                    f"model (learned positions 0..{limit - 1}); shorten the documents or the prompt."
                )
        elif past_seen + seq_len > limit:
            raise ValueError(
                f"Sequence length {past_seen + seq_len} (cached {past_seen} + new {seq_len}) exceeds "
                f"max_position_embeddings={limit} of this model; shorten the prompt or lower max_new_tokens."
            )

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.FloatTensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        past_key_values: Cache | None = None,
        **kwargs,
    ) -> BaseModelOutputWithPast | tuple:
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("You must specify exactly one of input_ids or inputs_embeds")
        cache = _resolve_cache(self, cache, past_key_values, kwargs)
        output_attentions = output_attentions if output_attentions is not None else self.config.output_attentions
        output_hidden_states = (
            output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        )
        if use_cache is None:
            # config.use_cache is a default for inference: a training forward does not create a cache unless asked
            # explicitly (nothing reads it, and it used to hide packed sequences from the mask; see `_mask_cache`).
            use_cache = self.config.use_cache and not self.training
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if self.gradient_checkpointing and self.training and use_cache:
            logger.warning_once("use_cache=True is incompatible with gradient checkpointing; setting use_cache=False.")
            use_cache = False
        # A cache passed in is always used (continuous batching passes its paged cache with use_cache=False);
        # use_cache only decides whether to create one.
        if use_cache and cache is None:
            cache = DynamicCache(config=self.config)

        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids)
        seq_len = inputs_embeds.shape[1]
        # Continuous batching's paged cache has no sequence length (it packs several requests into one row and
        # always passes position_ids), so the length check below only applies to ordinary caches.
        paged = "cache" in kwargs or (cache is not None and not hasattr(cache, "get_seq_length"))
        past_seen = cache.get_seq_length() if cache is not None and not paged else 0

        if self.embed_positions is not None and not paged and not torch.compiler.is_compiling():
            self._check_learned_positions(position_ids, past_seen, seq_len)

        if position_ids is None:
            if attention_mask is not None and attention_mask.dim() == 2:
                # Left-padding aware: the first real token of every row is position 0.
                position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)[:, -seq_len:]
            else:
                # `arange(n) + past`, not `arange(past, past + n)`: a static cache reports its length as a tensor, and
                # turning that into arange's Python bounds is a graph break (and a host sync) under torch.compile.
                position_ids = (torch.arange(seq_len, device=inputs_embeds.device) + past_seen).unsqueeze(0)

        causal_mask = create_causal_mask(
            config=self.config,
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            position_ids=position_ids,
            **{_MASK_CACHE_ARG: _mask_cache(cache, past_seen, paged)},
        )

        hidden_states = inputs_embeds
        position_embeddings = None
        if self.embed_positions is not None:
            hidden_states = hidden_states + self.embed_positions(position_ids)
        else:
            position_embeddings = self.rotary_emb(hidden_states, position_ids)
        if self.dropout.drops:
            hidden_states = self.dropout(hidden_states)

        all_hidden_states = () if output_hidden_states else None
        all_attentions = () if output_attentions else None
        for layer in self.layers:
            if output_hidden_states:
                all_hidden_states += (hidden_states,)
            hidden_states, attn_weights = layer(
                hidden_states,
                attention_mask=causal_mask,
                position_embeddings=position_embeddings,
                use_cache=use_cache,
                **{_CACHE_FIELD: cache},
                **kwargs,
            )
            if output_attentions:
                all_attentions += (attn_weights,)
        hidden_states = self.norm(hidden_states)
        if output_hidden_states:
            all_hidden_states += (hidden_states,)

        output = BaseModelOutputWithPast(
            last_hidden_state=hidden_states,
            hidden_states=all_hidden_states,
            attentions=all_attentions,
            **{_CACHE_FIELD: cache},
        )
        return output if return_dict else output.to_tuple()


class TinySLMLinearCrossEntropy(torch.autograd.Function):
    """LM head + next-token cross-entropy, with both gradients computed in the forward pass, chunk by chunk.

    The unfused path materialises the logits, upcasts all of them to fp32, runs log-softmax and its backward over the
    whole [tokens, vocab] matrix and casts the gradient back: several passes over a tensor far larger than the cache.
    On a bf16 training step of the benchmark model (2048 tokens, vocab 8192, 2-core AMX CPU) that region took ~135 ms
    of a ~470 ms step (175 ms timed alone). Here the logits are computed once in the compute dtype, and each block of
    rows is turned into its loss and `(softmax - one_hot) / normalizer` while it is in cache, overwriting the logits
    in place; two matmuls then give the hidden-state and weight gradients (~60 ms timed alone). Precision matches the
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


class TinySLMForCausalLM(TinySLMPreTrainedModel, GenerationMixin):
    """TinySLM with a language-modelling head (tied to the token embedding by default)."""

    _tied_weights_keys = {"lm_head.weight": "model.embed_tokens.weight"}
    _tp_plan = {"lm_head": "colwise_gather_output"}
    _pp_plan = {"lm_head": (["hidden_states"], ["logits"])}

    def __init__(self, config: TinySLMConfig):
        super().__init__(config)
        self.model = TinySLMModel(config)
        self.vocab_size = config.vocab_size
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def _use_fused_loss(self, logits_to_keep: int | torch.Tensor) -> bool:
        """Fuse the LM head with the loss only where nobody needs the logits: a training step that will backpropagate
        through a plain, local linear head (a wrapped, sharded or offloaded head keeps the unfused path), in fp32 or
        bf16. fp16 keeps it too: the fused gradient is rounded to the compute dtype before the loss scaler's factor
        arrives in backward, and small softmax gradients would underflow fp16."""
        device_type = self.lm_head.weight.device.type
        autocast = torch.is_autocast_enabled(device_type)
        autocast_fp16 = autocast and torch.get_autocast_dtype(device_type) == torch.float16
        return (
            self.config.fused_linear_cross_entropy
            and self.training
            and torch.is_grad_enabled()
            and _is_plain_local_linear(self.lm_head)
            and self.lm_head.bias is None
            and self.lm_head.weight.dtype != torch.float16
            and not autocast_fp16
            and isinstance(logits_to_keep, int)
            and logits_to_keep == 0
        )

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.FloatTensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        past_key_values: Cache | None = None,
        **kwargs,
    ) -> CausalLMOutputWithPast:
        r"""
        labels: token ids to predict, *unshifted* (the loss shifts them); -100 is ignored.
        logits_to_keep: if an int > 0, compute logits only for the last that many positions (generation needs one),
            which skips most of the LM-head matmul; a 1-D tensor selects positions explicitly.
        With labels in a training step (`model.train()`, grad enabled), the LM head and the loss run fused (see
        `TinySLMLinearCrossEntropy`) and `logits` is None; set `config.fused_linear_cross_entropy = False` to get the
        logits of training steps too. Evaluation and inference always return logits.
        Extra `**kwargs` (e.g. the Trainer's `num_items_in_batch`) go to the loss so gradient accumulation is
        normalised over the whole accumulated batch.
        """
        cache = _resolve_cache(self, cache, past_key_values, kwargs)
        outputs = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            **{_CACHE_FIELD: cache},
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
            **kwargs,
        )
        hidden_states = outputs.last_hidden_state
        if labels is not None and self._use_fused_loss(logits_to_keep):
            logits = None
            loss = fused_linear_cross_entropy(hidden_states, self.lm_head.weight, labels, **kwargs)
        else:
            keep = slice(-logits_to_keep, None) if isinstance(logits_to_keep, int) else logits_to_keep
            logits = self.lm_head(hidden_states[:, keep, :])
            loss = None
            if labels is not None:
                loss = self.loss_function(logits=logits, labels=labels, vocab_size=self.config.vocab_size, **kwargs)

        return CausalLMOutputWithPast(
            loss=loss,
            logits=logits,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
            **{_CACHE_FIELD: getattr(outputs, _CACHE_FIELD)},
        )


class TinySLMForSequenceClassification(GenericForSequenceClassification, TinySLMPreTrainedModel):
    """Classification head on the last non-pad token, using transformers' generic implementation."""

    def __init__(self, config: TinySLMConfig):
        # The generic __init__ builds the backbone through AutoModel, which is not registered on the remote-code side;
        # build it directly instead so this class also loads with trust_remote_code.
        TinySLMPreTrainedModel.__init__(self, config)
        self.num_labels = config.num_labels
        self.model = TinySLMModel(config)
        self.score = nn.Linear(config.hidden_size, self.num_labels, bias=False)
        self.post_init()


__all__ = [
    "TinySLMPreTrainedModel",
    "TinySLMModel",
    "TinySLMForCausalLM",
    "TinySLMForSequenceClassification",
]
