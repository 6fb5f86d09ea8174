# Copyright 2026 The tinyslm_hf authors. Licensed under the Apache License, Version 2.0.
"""Configuration for TinySLM.

This file ships next to the weights as remote code, so it may import only torch/transformers/huggingface_hub.
`TinySLMConfig()` with no arguments is the *seed* model (GPT-2 shaped); `TinySLMConfig.from_preset("modern")` is the
Llama-shaped variant. Each preset maps one-to-one onto a llama.cpp architecture, which is why the switches below are
limited to combinations that have a faithful reference (`gpt2` / `llama`).
"""

from __future__ import annotations

from typing import Any

from huggingface_hub.dataclasses import strict
from transformers import PretrainedConfig

POSITION_EMBEDDING_TYPES = ("learned", "rope")
NORM_TYPES = ("layernorm", "rmsnorm")
MLP_TYPES = ("gelu", "swiglu")
# Activations the MLP accepts; names are transformers' ACT2FN keys so configs stay portable.
HIDDEN_ACTS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "relu", "silu", "swish")

PRESETS: dict[str, dict[str, Any]] = {
    # The blog's TinySLM with its three bugs fixed (causal mask, head split, 1/sqrt(head_dim) scaling).
    "seed": dict(
        position_embedding_type="learned",
        norm_type="layernorm",
        mlp_type="gelu",
        # GPT-2's tanh GELU, which llama.cpp's gpt2 architecture computes too. The exact (erf) form ("gelu") trains
        # ~8% faster in bf16 on CPU (its kernel is 3-5x faster on training-sized tensors) but decodes ~20% slower at
        # batch 1 (~35 us more per small call after a matmul); measured in docs/speed.md.
        hidden_act="gelu_pytorch_tanh",
        attention_bias=True,
        mlp_bias=True,
        layer_norm_eps=1e-5,
        tie_word_embeddings=True,
    ),
    # RoPE + RMSNorm + SwiGLU + grouped-query attention; intermediate 704 keeps the MLP parameter count of the seed
    # (3 * 704 ~= 2 * 1024) while staying a multiple of 32 for GGUF q8_0 blocks.
    "modern": dict(
        position_embedding_type="rope",
        norm_type="rmsnorm",
        mlp_type="swiglu",
        hidden_act="silu",
        num_key_value_heads=2,
        intermediate_size=704,
        attention_bias=False,
        mlp_bias=False,
        layer_norm_eps=1e-6,
        tie_word_embeddings=True,
    ),
}


@strict(accept_kwargs=True)
class TinySLMConfig(PretrainedConfig):
    r"""Configuration of a TinySLM decoder-only transformer.

    Field names are the standard Hugging Face ones (what `DynamicCache`, `generate`, the Trainer and PEFT read);
    the GPT-2 spellings (`n_embd`, `n_layer`, ...) are aliases through `attribute_map`.

    Example:
        >>> from tinyslm_hf import TinySLMConfig
        >>> TinySLMConfig().hidden_size
        256
        >>> TinySLMConfig.from_preset("modern", num_hidden_layers=4).position_embedding_type
        'rope'
    """

    model_type = "tinyslm"
    keys_to_ignore_at_inference = ["past_key_values", "cache"]
    # Tensor-parallel plan (Llama's): with a base plan, transformers also shards the tied embedding with lm_head.
    base_model_tp_plan = {
        "layers.*.self_attn.q_proj": "colwise",
        "layers.*.self_attn.k_proj": "colwise",
        "layers.*.self_attn.v_proj": "colwise",
        "layers.*.self_attn.o_proj": "rowwise",
        "layers.*.mlp.gate_proj": "colwise",
        "layers.*.mlp.up_proj": "colwise",
        "layers.*.mlp.down_proj": "rowwise",
    }
    attribute_map = {
        "n_embd": "hidden_size",
        "n_layer": "num_hidden_layers",
        "n_head": "num_attention_heads",
        "n_positions": "max_position_embeddings",
        "n_inner": "intermediate_size",
        "rms_norm_eps": "layer_norm_eps",
    }

    vocab_size: int = 30000
    hidden_size: int = 256
    intermediate_size: int | None = None
    num_hidden_layers: int = 8
    num_attention_heads: int = 4
    num_key_value_heads: int | None = None
    head_dim: int | None = None
    hidden_act: str = "gelu_pytorch_tanh"
    max_position_embeddings: int = 512
    position_embedding_type: str = "learned"
    rope_parameters: dict | None = None
    norm_type: str = "layernorm"
    mlp_type: str = "gelu"
    layer_norm_eps: float = 1e-5
    initializer_range: float = 0.02
    attention_bias: bool = True
    mlp_bias: bool = True
    attention_dropout: float = 0.0
    hidden_dropout: float = 0.0
    # RMSNorm (learned scale per channel) over each head's queries and keys before RoPE, as OLMo 2 and Qwen3 do: the
    # attention logits cannot grow with the weights, which trains better at the default shape (docs/training.md).
    # GGUF: a modern model with it runs as llama.cpp's `qwen3` architecture.
    qk_norm: bool = False
    use_cache: bool = True
    # Training steps compute the LM head and the loss together, without keeping logits (see modeling_tinyslm).
    fused_linear_cross_entropy: bool = True
    tie_word_embeddings: bool = True
    pad_token_id: int | None = None
    bos_token_id: int | None = None
    eos_token_id: int | list[int] | None = None

    def __post_init__(self, **kwargs):
        # GPT-2 spellings passed as kwargs (n_embd=...) must land on the canonical fields before defaults are derived.
        for alias, canonical in self.attribute_map.items():
            if alias in kwargs:
                setattr(self, canonical, kwargs.pop(alias))
        # Plain ValueErrors naming the field, raised before any derived value is computed from a bad input
        # (@strict would wrap them in its own exception type, which callers do not expect).
        self._check_positive_ints()
        # Derived defaults are filled before validation so that a saved config.json is fully explicit.
        if self.num_key_value_heads is None:
            self.num_key_value_heads = self.num_attention_heads
        if self.head_dim is None and isinstance(self.num_attention_heads, int) and self.num_attention_heads > 0:
            self.head_dim = self.hidden_size // self.num_attention_heads
        if self.intermediate_size is None:
            self.intermediate_size = 4 * self.hidden_size
        self._check_fields()
        if self.mlp_type != "swiglu":  # the GELU MLP has no gate_proj; a plan entry matching nothing is an error
            self.base_model_tp_plan = {k: v for k, v in type(self).base_model_tp_plan.items() if "gate_proj" not in k}
        learned_positions = self.position_embedding_type == "learned"
        if learned_positions:
            self._drop_rope_parameters(kwargs)
        super().__post_init__(**kwargs)
        if learned_positions:
            # PretrainedConfig fills in default RoPE parameters for every config that has the field; a model with a
            # table of learned positions must not present itself as RoPE to tools that look for them.
            self.rope_parameters = None

    def _drop_rope_parameters(self, kwargs: dict) -> None:
        """Refuse RoPE scaling on learned positions; drop the plain RoPE defaults that folders saved before this
        check carry (they described nothing the model computes)."""
        legacy = kwargs.pop("rope_scaling", None)
        kwargs.pop("rope_theta", None)
        for given in (self.rope_parameters, legacy):
            rope_type = (given or {}).get("rope_type", (given or {}).get("type", "default"))
            if rope_type != "default":
                raise ValueError(
                    f"rope_parameters (rope_type={rope_type!r}) needs position_embedding_type='rope'; this config "
                    "has learned positions, which have no RoPE to scale"
                )
        self.rope_parameters = None

    def to_dict(self) -> dict[str, Any]:
        output = super().to_dict()
        if self.position_embedding_type == "learned":
            output.pop("rope_parameters", None)
        return output

    def validate_architecture(self):
        """Hook that `@strict` runs again before saving, so a field edited after construction is re-checked."""
        self._check_fields()

    def _check_positive_ints(self) -> None:
        for name in (
            "vocab_size",
            "hidden_size",
            "intermediate_size",
            "num_hidden_layers",
            "num_attention_heads",
            "num_key_value_heads",
            "max_position_embeddings",
            "head_dim",
        ):
            value = getattr(self, name)
            if value is None and name in ("intermediate_size", "num_key_value_heads", "head_dim"):
                continue  # derived in __post_init__
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")

    def _check_fields(self) -> None:
        """Every message names the offending field."""
        self._check_positive_ints()
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be divisible by num_attention_heads ({self.num_attention_heads})"
            )
        if self.head_dim != self.hidden_size // self.num_attention_heads:
            raise ValueError(
                f"head_dim ({self.head_dim}) must equal hidden_size // num_attention_heads "
                f"({self.hidden_size // self.num_attention_heads})"
            )
        if self.num_attention_heads % self.num_key_value_heads != 0:
            raise ValueError(
                f"num_key_value_heads ({self.num_key_value_heads}) must divide "
                f"num_attention_heads ({self.num_attention_heads})"
            )
        if self.position_embedding_type not in POSITION_EMBEDDING_TYPES:
            raise ValueError(
                f"position_embedding_type must be one of {POSITION_EMBEDDING_TYPES}, got {self.position_embedding_type!r}"
            )
        if self.position_embedding_type == "rope" and self.head_dim % 2 != 0:
            raise ValueError(f"head_dim ({self.head_dim}) must be even for position_embedding_type='rope'")
        if self.norm_type not in NORM_TYPES:
            raise ValueError(f"norm_type must be one of {NORM_TYPES}, got {self.norm_type!r}")
        if self.mlp_type not in MLP_TYPES:
            raise ValueError(f"mlp_type must be one of {MLP_TYPES}, got {self.mlp_type!r}")
        if self.hidden_act not in HIDDEN_ACTS:
            raise ValueError(f"hidden_act must be one of {HIDDEN_ACTS}, got {self.hidden_act!r}")
        if not isinstance(self.qk_norm, bool):
            raise ValueError(f"qk_norm must be a bool, got {self.qk_norm!r}")
        if not isinstance(self.fused_linear_cross_entropy, bool):
            raise ValueError(f"fused_linear_cross_entropy must be a bool, got {self.fused_linear_cross_entropy!r}")
        for name in ("attention_dropout", "hidden_dropout"):
            value = getattr(self, name)
            if not 0.0 <= float(value) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {value!r}")
        if not float(self.layer_norm_eps) > 0:
            raise ValueError(f"layer_norm_eps must be positive, got {self.layer_norm_eps!r}")
        if not float(self.initializer_range) > 0:
            raise ValueError(f"initializer_range must be positive, got {self.initializer_range!r}")
        for name in ("pad_token_id", "bos_token_id"):
            value = getattr(self, name)
            if value is not None and not 0 <= value < self.vocab_size:
                raise ValueError(f"{name} ({value}) must be in [0, vocab_size={self.vocab_size})")
        eos = self.eos_token_id if isinstance(self.eos_token_id, list) else [self.eos_token_id]
        for value in eos:
            if value is not None and not 0 <= value < self.vocab_size:
                raise ValueError(f"eos_token_id ({value}) must be in [0, vocab_size={self.vocab_size})")

    @property
    def preset(self) -> str | None:
        """Name of the preset whose architectural switches this config matches (None for a custom mix)."""
        for name, values in PRESETS.items():
            keys = ("position_embedding_type", "norm_type", "mlp_type")
            if all(getattr(self, k) == values[k] for k in keys):
                return name
        return None

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> "TinySLMConfig":
        """Build a config from a named preset (`seed` or `modern`), with any field overridden."""
        if name not in PRESETS:
            raise ValueError(f"preset must be one of {tuple(PRESETS)}, got {name!r}")
        return cls(**{**PRESETS[name], **overrides})


__all__ = ["TinySLMConfig", "PRESETS"]
