# Copyright 2026 The tinyslm_hf authors. Licensed under the Apache License, Version 2.0.
"""TinySLM: a small decoder-only transformer, written the way in-tree transformers models are.

This file ships next to the weights as remote code: it imports only torch, transformers and its siblings
`configuration_tinyslm` and `kernels_tinyslm` (the CPU training kernels, each behind a predicate), so
`AutoModelForCausalLM.from_pretrained(dir, trust_remote_code=True)` works where the `tinyslm_hf` package is not
installed.

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
from transformers import GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.cache_utils import Cache, DynamicCache
from transformers.masking_utils import create_causal_mask, find_packed_sequence_indices
from transformers.modeling_layers import GenericForSequenceClassification, GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS, dynamic_rope_update
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.utils import logging
from transformers.utils.generic import can_return_tuple

from .configuration_tinyslm import TinySLMConfig
from .kernels_tinyslm import (
    TinySLMCausalAttentionFunction,
    TinySLMDropout,
    TinySLMRMSNormFunction,
    fused_linear_cross_entropy,
    fused_projections,
    has_plain_local_weight,
    is_plain_local_linear,
    use_kept_probabilities_attention,
)

logger = logging.get_logger(__name__)

# transformers 5.24 renamed the cache argument and output field from `past_key_values` to `cache`; both are handled
# so that the same remote code runs on the releases before it too (tested against 5.17 and 5.24).
_CACHE_FIELD = "cache" if "cache" in BaseModelOutputWithPast.__dataclass_fields__ else "past_key_values"
# The same release renamed create_causal_mask's cache argument.
_MASK_CACHE_ARG = "cache" if "cache" in inspect.signature(create_causal_mask).parameters else "past_key_values"


def cache_kwarg(cache: Cache | None) -> dict[str, Cache | None]:
    """The cache as a keyword argument or output field, under this release's name (`**cache_kwarg(cache)`)."""
    return {_CACHE_FIELD: cache}


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


class TinySLMRMSNorm(nn.RMSNorm):
    """`nn.RMSNorm` (same parameters and state-dict names) whose CPU training path uses
    `TinySLMRMSNormFunction`; inference, compiled graphs, sharded or offloaded weights and other devices (CUDA has a
    fused kernel) use torch's."""

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        if (
            torch.is_grad_enabled()
            and hidden_states.device.type == "cpu"
            and has_plain_local_weight(self)
            and not torch.compiler.is_compiling()
        ):
            eps = self.eps if self.eps is not None else torch.finfo(hidden_states.dtype).eps
            return TinySLMRMSNormFunction.apply(hidden_states, self.weight, eps)
        return super().forward(hidden_states)


def _make_norm(config: TinySLMConfig) -> nn.Module:
    if config.norm_type == "rmsnorm":
        return TinySLMRMSNorm(config.hidden_size, eps=config.layer_norm_eps)
    return nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)


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
        if config.qk_norm:  # per head, over head_dim; Qwen3's names, so tools that know them map the weights
            self.q_norm = TinySLMRMSNorm(self.head_dim, eps=config.layer_norm_eps)
            self.k_norm = TinySLMRMSNorm(self.head_dim, eps=config.layer_norm_eps)

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
        if self.config.qk_norm:
            query, key = self.q_norm(query), self.k_norm(key)

        if position_embeddings is not None:
            cos, sin = position_embeddings
            query, key = apply_rotary_pos_emb(query, key, cos, sin)

        if cache is not None:
            if _CACHE_FIELD == "cache":  # continuous batching's paged cache reads/fills its block indices in kwargs
                key, value = cache.update(key, value, self.layer_idx, kwargs=kwargs)
            else:  # before 5.24 the paged cache came in kwargs and the paged attention function updated it
                key, value = cache.update(key, value, self.layer_idx)

        dropout = self.attention_dropout if self.training else 0.0
        if use_kept_probabilities_attention(self, query, key, attention_mask, dropout, kwargs):
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


def _default_position_ids(attention_mask: torch.Tensor | None, seq_len: int, past_seen: int | torch.Tensor,
                          device: torch.device) -> torch.Tensor:
    """Positions when the caller gives none: from a 2-D attention mask (left-padding aware: the first real token of
    every row is position 0), else `arange(n) + past` - not `arange(past, past + n)`: a static cache reports its
    length as a tensor, and turning that into arange's Python bounds is a graph break (and a host sync) under
    torch.compile."""
    if attention_mask is not None and attention_mask.dim() == 2:
        return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)[:, -seq_len:]
    return (torch.arange(seq_len, device=device) + past_seen).unsqueeze(0)


def _refuse_packing_into_a_static_cache(cache: Cache | None, attention_mask: torch.Tensor | None,
                                        position_ids: torch.Tensor | None) -> None:
    """A static cache's mask spans the whole cache, and transformers derives no document mask for it: packed
    documents would attend to each other silently, so that combination is refused."""
    if cache is None or not getattr(cache, "is_compileable", False) or attention_mask is not None:
        return
    if position_ids is None or position_ids.shape[-1] < 2:
        return
    if find_packed_sequence_indices(position_ids) is not None:
        raise ValueError("packed sequences (position_ids restarting at 0 without an attention mask) cannot go through "
                         "a static cache, which has no document mask; use no cache or a DynamicCache")


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
        """Normal(0, initializer_range) for every matrix (transformers' default), the residual output projections
        included: GPT-2's smaller init for those (std / sqrt(2 * num_layers)) and a zero init both trained worse with
        Muon at the default shape (docs/training.md). Only the rotary buffers need work of their own.
        """
        super()._init_weights(module)
        if isinstance(module, TinySLMRotaryEmbedding):
            # A non-persistent buffer: from_pretrained builds the model on the meta device and never loads it,
            # so it must be recomputed here or RoPE runs on uninitialised memory.
            inv_freq = module.compute_inv_freq(self.config, module.inv_freq.device)[0]
            init.copy_(module.inv_freq, inv_freq)
            init.copy_(module.original_inv_freq, inv_freq)


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

    def _cache_for_forward(self, use_cache: bool | None, cache: Cache | None) -> tuple[bool, Cache | None]:
        """Whether this forward uses a cache, and which. A cache passed in is always used (continuous batching passes
        its paged cache with use_cache=False); use_cache only decides whether to create one. `config.use_cache` is a
        default for inference: a training forward creates no cache unless asked explicitly (nothing reads it, and it
        used to hide packed sequences from the mask; see `_mask_cache`)."""
        if use_cache is None:
            use_cache = self.config.use_cache and not self.training
        if self.gradient_checkpointing and self.training and use_cache:
            logger.warning_once("use_cache=True is incompatible with gradient checkpointing; setting use_cache=False.")
            use_cache = False
        if use_cache and cache is None:
            cache = DynamicCache(config=self.config)
        return use_cache, cache

    def _check_learned_positions(self, position_ids: torch.Tensor | None, past_seen: int, seq_len: int) -> None:
        """The learned table has `max_position_embeddings` rows: refuse positions past it with a message instead of
        an index error. Packed rows (several documents, positions restarting at 0) may be longer than the table;
        what must fit is the positions they use, so given position ids are checked, not the row length."""
        limit = self.config.max_position_embeddings
        if position_ids is not None:
            # Reading the ids back costs a host sync on an accelerator: there, only rows longer than the table
            # (packed ones) are checked, and a decode step is not.
            if position_ids.numel() and (position_ids.device.type == "cpu" or past_seen + seq_len > limit):
                low, high = int(position_ids.min()), int(position_ids.max())
                if low < 0 or high >= limit:
                    raise ValueError(
                        f"position_ids span {low}..{high}, outside max_position_embeddings={limit} of this model "
                        f"(learned positions 0..{limit - 1}); shorten the documents or the prompt."
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
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        use_cache, cache = self._cache_for_forward(use_cache, cache)

        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids)
        seq_len = inputs_embeds.shape[1]
        # Continuous batching's paged cache has no sequence length (it packs several requests into one row and
        # always passes position_ids), so the length check below only applies to ordinary caches.
        paged = "cache" in kwargs or (cache is not None and not hasattr(cache, "get_seq_length"))
        past_seen = cache.get_seq_length() if cache is not None and not paged else 0

        if not paged and not torch.compiler.is_compiling():
            if self.embed_positions is not None:
                self._check_learned_positions(position_ids, past_seen, seq_len)
            _refuse_packing_into_a_static_cache(cache, attention_mask, position_ids)

        if position_ids is None:
            position_ids = _default_position_ids(attention_mask, seq_len, past_seen, inputs_embeds.device)

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
                position_ids=position_ids,  # flash attention finds packed documents from them (its mask is None)
                use_cache=use_cache,
                **cache_kwarg(cache),
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
            **cache_kwarg(cache),
        )
        return output if return_dict else output.to_tuple()


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
            and is_plain_local_linear(self.lm_head)
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
            **cache_kwarg(cache),
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
            **cache_kwarg(getattr(outputs, _CACHE_FIELD)),
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
