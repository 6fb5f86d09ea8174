"""Write a TinySLM model folder as a GGUF file that llama.cpp runs natively.

The `gguf` package gives the file format (GGUFWriter, tensor names, q8_0 quantizer) but no HF converter for a custom
model type, so the mapping lives here. Each preset maps onto an architecture llama.cpp already implements:

* seed (learned positions, LayerNorm, GELU MLP) -> `gpt2`: q/k/v are fused into `attn_qkv` as GPT-2 stores them.
* modern (RoPE, RMSNorm, SwiGLU, GQA)               -> `llama`: q/k rows are permuted per head, because our RoPE is
  HF's "rotate_half" form (pairs dim i with i + d/2) while llama.cpp's `llama` rotates adjacent pairs (2i, 2i+1);
  this is the same permutation llama.cpp's convert_hf_to_gguf applies to LlamaForCausalLM.
* modern with `qk_norm` (RMSNorm over each head's queries and keys)  -> `qwen3`, the same block plus
  `attn_q_norm` / `attn_k_norm`; qwen3 rotates halves as we do, so q/k go in unpermuted.

The tokenizer goes in as a byte-level BPE (`tokenizer.ggml.model = "gpt2"`, pre-tokenizer "gpt-2") with its full
vocabulary, merges and special-token ids, so llama.cpp tokenizes exactly like the HF tokenizer.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

GGUF_TYPES = ("f32", "f16", "q8_0")
Q8_0_BLOCK = 32

# hidden_act values whose formula matches what llama.cpp computes for each architecture.
_GPT2_ACTS = ("gelu_pytorch_tanh", "gelu_new", "gelu_fast", "gelu")  # ggml's GELU is the tanh approximation
_LLAMA_ACTS = ("silu", "swish")

SUPPORTED_COMBINATIONS = (
    "gpt2 : position_embedding_type='learned', norm_type='layernorm', mlp_type='gelu', "
    f"hidden_act in {_GPT2_ACTS} (the 'seed' preset)\n"
    "  llama: position_embedding_type='rope' (rope_type 'default'), norm_type='rmsnorm', mlp_type='swiglu', "
    f"hidden_act in {_LLAMA_ACTS}, attention_bias=False, mlp_bias=False (the 'modern' preset)\n"
    "  qwen3: the llama combination with qk_norm=True (the modern preset as `tinyslm train` builds it)"
)


def gguf_arch_for(config: Any) -> str:
    """Name of the llama.cpp architecture that computes exactly what this config computes, or a ValueError."""
    pos, norm, mlp, act = config.position_embedding_type, config.norm_type, config.mlp_type, config.hidden_act
    qk_norm = getattr(config, "qk_norm", False)  # folders saved before the field existed have none
    if pos == "learned" and norm == "layernorm" and mlp == "gelu" and act in _GPT2_ACTS and not qk_norm:
        if act == "gelu":
            # The two GELUs differ by at most 4.7e-4, less than the error of ggml's f16-table GELU itself.
            logger.warning("hidden_act='gelu' (erf) runs as llama.cpp's tanh-approximate GELU: logits differ slightly")
        return "gpt2"
    rope_type = (config.rope_parameters or {}).get("rope_type", "default")
    if (
        pos == "rope"
        and rope_type == "default"
        and norm == "rmsnorm"
        and mlp == "swiglu"
        and act in _LLAMA_ACTS
        and not config.attention_bias
        and not config.mlp_bias
    ):
        return "qwen3" if qk_norm else "llama"
    raise ValueError(
        "this model maps to no llama.cpp architecture (position_embedding_type="
        f"{pos!r}, norm_type={norm!r}, mlp_type={mlp!r}, hidden_act={act!r}, rope_type={rope_type!r}, "
        f"attention_bias={config.attention_bias}, mlp_bias={config.mlp_bias}, qk_norm={qk_norm}); GGUF export "
        "supports:\n  "
        + SUPPORTED_COMBINATIONS
    )


def permute_for_llama_rope(weight: np.ndarray, n_head: int) -> np.ndarray:
    """Reorder the output rows of q_proj/k_proj from HF rotate_half pairing to llama.cpp's adjacent-pair RoPE.

    Within each head, HF row (half, j) becomes row 2j + half. Works for weights [out, in] and biases [out].
    """
    out = weight.shape[0]
    head_dim = out // n_head
    rest = weight.shape[1:]
    return weight.reshape(n_head, 2, head_dim // 2, *rest).swapaxes(1, 2).reshape(weight.shape)


def _strip_generation_tags(template: str) -> str:
    # `{% generation %}` is a transformers-only Jinja extension (assistant masks); llama.cpp's Jinja does not know it.
    return re.sub(r"\{%-?\s*(end)?generation\s*-?%\}", "", template)


def tokenizer_metadata(tokenizer: Any, vocab_size: int) -> dict[str, Any]:
    """Vocabulary, merges, token types and special ids of a byte-level BPE fast tokenizer, in GGUF terms."""
    import gguf

    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("GGUF export needs a fast (tokenizers-backed) tokenizer; this one is a slow Python tokenizer")
    backend = json.loads(tokenizer.backend_tokenizer.to_str())
    model = backend.get("model", {})
    if model.get("type") != "BPE":
        raise ValueError(f"GGUF export needs a byte-level BPE tokenizer, got model type {model.get('type')!r}")
    pre = json.dumps(backend.get("pre_tokenizer"))
    if "ByteLevel" not in pre:
        raise ValueError("GGUF export needs a ByteLevel pre-tokenizer (GPT-2 style), this tokenizer has " + pre)

    vocab = tokenizer.get_vocab()  # includes added tokens
    if len(vocab) > vocab_size:
        raise ValueError(f"tokenizer has {len(vocab)} tokens but the model's vocab_size is {vocab_size}")
    tokens = [f"[PAD{i}]" for i in range(vocab_size)]
    types = [int(gguf.TokenType.UNUSED)] * vocab_size
    for token, idx in vocab.items():
        tokens[idx] = token
        types[idx] = int(gguf.TokenType.NORMAL)
    for added in backend.get("added_tokens", []):
        types[added["id"]] = int(gguf.TokenType.CONTROL if added.get("special") else gguf.TokenType.USER_DEFINED)

    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    meta: dict[str, Any] = dict(tokens=tokens, types=types, merges=merges)
    for name in ("bos", "eos", "pad"):
        meta[f"{name}_id"] = getattr(tokenizer, f"{name}_token_id")
    from ..tokenization import IM_END

    meta["eot_id"] = vocab.get(IM_END)
    meta["chat_template"] = _strip_generation_tags(tokenizer.chat_template) if tokenizer.chat_template else None
    return meta


def _tensor_plan(model: Any, arch: str) -> list[tuple[str, np.ndarray]]:
    """(gguf name, float32 numpy array) for every tensor llama.cpp loads, in llama.cpp's layout."""
    cfg = model.config
    sd = {k: v.detach().to("cpu").float().numpy() for k, v in model.state_dict().items()}
    out: list[tuple[str, np.ndarray]] = [("token_embd.weight", sd["model.embed_tokens.weight"])]
    if arch == "gpt2":
        out.append(("position_embd.weight", sd["model.embed_positions.weight"]))
    for i in range(cfg.num_hidden_layers):
        p, b = f"model.layers.{i}.", f"blk.{i}."
        attn, mlp = p + "self_attn.", p + "mlp."
        if arch == "gpt2":
            qkv_w = np.concatenate([sd[attn + f"{x}_proj.weight"] for x in "qkv"], axis=0)
            out += [
                (b + "attn_norm.weight", sd[p + "input_layernorm.weight"]),
                (b + "attn_norm.bias", sd[p + "input_layernorm.bias"]),
                (b + "attn_qkv.weight", qkv_w),
                (b + "attn_qkv.bias", _bias(sd, attn + "{}_proj.bias", "qkv", qkv_w.shape[0])),
                (b + "attn_output.weight", sd[attn + "o_proj.weight"]),
                (b + "attn_output.bias", _bias(sd, attn + "{}_proj.bias", "o", cfg.hidden_size)),
                (b + "ffn_norm.weight", sd[p + "post_attention_layernorm.weight"]),
                (b + "ffn_norm.bias", sd[p + "post_attention_layernorm.bias"]),
                (b + "ffn_up.weight", sd[mlp + "up_proj.weight"]),
                (b + "ffn_up.bias", _bias(sd, mlp + "{}_proj.bias", ["up"], cfg.intermediate_size)),
                (b + "ffn_down.weight", sd[mlp + "down_proj.weight"]),
                (b + "ffn_down.bias", _bias(sd, mlp + "{}_proj.bias", ["down"], cfg.hidden_size)),
            ]
        else:
            q, k = sd[attn + "q_proj.weight"], sd[attn + "k_proj.weight"]
            if arch == "llama":  # qwen3 rotates halves (NEOX) as we do: no permutation
                q = permute_for_llama_rope(q, cfg.num_attention_heads)
                k = permute_for_llama_rope(k, cfg.num_key_value_heads)
            out += [
                (b + "attn_norm.weight", sd[p + "input_layernorm.weight"]),
                (b + "attn_q.weight", q),
                (b + "attn_k.weight", k),
                (b + "attn_v.weight", sd[attn + "v_proj.weight"]),
                (b + "attn_output.weight", sd[attn + "o_proj.weight"]),
                (b + "ffn_norm.weight", sd[p + "post_attention_layernorm.weight"]),
                (b + "ffn_gate.weight", sd[mlp + "gate_proj.weight"]),
                (b + "ffn_up.weight", sd[mlp + "up_proj.weight"]),
                (b + "ffn_down.weight", sd[mlp + "down_proj.weight"]),
            ]
            if arch == "qwen3":
                out += [(b + "attn_q_norm.weight", sd[attn + "q_norm.weight"]),
                        (b + "attn_k_norm.weight", sd[attn + "k_norm.weight"])]
    out.append(("output_norm.weight", sd["model.norm.weight"]))
    if arch == "gpt2":
        out.append(("output_norm.bias", sd["model.norm.bias"]))
    # Written even when tied: llama.cpp then needs no tie logic, and the head can be quantized on its own.
    out.append(("output.weight", sd.get("lm_head.weight", sd["model.embed_tokens.weight"])))
    return out


def _bias(sd: dict[str, np.ndarray], pattern: str, parts: Any, size: int) -> np.ndarray:
    """Concatenated biases, or zeros when the model has none (llama.cpp's gpt2 graph requires them)."""
    keys = [pattern.format(x) for x in parts]
    if all(k in sd for k in keys):
        return np.concatenate([sd[k] for k in keys])
    return np.zeros(size, dtype=np.float32)


def _encode_tensor(name: str, arr: np.ndarray, out_type: str) -> tuple[np.ndarray, Any]:
    """(data, raw_dtype) for one tensor; 1-D tensors stay f32, q8_0 falls back to f16 for rows not divisible by 32."""
    import gguf

    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if arr.ndim == 1 or out_type == "f32":
        return arr, None
    if out_type == "q8_0":
        if arr.shape[-1] % Q8_0_BLOCK == 0:
            return gguf.quants.quantize(arr, gguf.GGMLQuantizationType.Q8_0), gguf.GGMLQuantizationType.Q8_0
        logger.warning(
            "%s: row length %d is not a multiple of %d, written as f16 instead of q8_0", name, arr.shape[-1], Q8_0_BLOCK
        )
    return arr.astype(np.float16), None


def export_gguf(
    model: Any, tokenizer: Any, out_path: str | os.PathLike, out_type: str = "f32", name: str | None = None
) -> Path:
    """Write `model` + `tokenizer` to `out_path` as GGUF (`out_type` f32, f16 or q8_0); returns the path.

    The file is written next to the target and renamed into place, so a failure never leaves a half-written file.
    """
    import gguf

    if out_type not in GGUF_TYPES:
        raise ValueError(f"--type must be one of {GGUF_TYPES}, got {out_type!r}")
    cfg = model.config
    arch = gguf_arch_for(cfg)
    tok = tokenizer_metadata(tokenizer, cfg.vocab_size)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)

    from ..partial_files import partial_prefix, remove_stale_partials

    remove_stale_partials(out_path)
    fd, tmp_name = tempfile.mkstemp(prefix=partial_prefix(out_path), suffix=".tmp", dir=out_path.parent)
    os.close(fd)
    try:
        writer = gguf.GGUFWriter(tmp_name, arch)
        writer.add_name(name or out_path.stem)
        writer.add_context_length(cfg.max_position_embeddings)
        writer.add_embedding_length(cfg.hidden_size)
        writer.add_feed_forward_length(cfg.intermediate_size)
        writer.add_block_count(cfg.num_hidden_layers)
        writer.add_head_count(cfg.num_attention_heads)
        writer.add_head_count_kv(cfg.num_key_value_heads)
        writer.add_vocab_size(cfg.vocab_size)
        if arch == "gpt2":
            writer.add_layer_norm_eps(float(cfg.layer_norm_eps))
        else:
            writer.add_layer_norm_rms_eps(float(cfg.layer_norm_eps))
            writer.add_rope_freq_base(float((cfg.rope_parameters or {}).get("rope_theta", 10000.0)))
            writer.add_rope_dimension_count(cfg.head_dim)
        file_types = {"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16,
                      "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}
        writer.add_file_type(file_types[out_type])
        if out_type == "q8_0":
            writer.add_quantization_version(gguf.GGML_QUANT_VERSION)

        writer.add_tokenizer_model("gpt2")
        writer.add_tokenizer_pre("gpt-2")
        writer.add_token_list(tok["tokens"])
        writer.add_token_types(tok["types"])
        writer.add_token_merges(tok["merges"])
        for key, add in (("bos_id", writer.add_bos_token_id), ("eos_id", writer.add_eos_token_id),
                         ("pad_id", writer.add_pad_token_id)):
            if tok[key] is not None:
                add(int(tok[key]))
        if tok["eot_id"] is not None:
            writer.add_eot_token_id(int(tok["eot_id"]))  # end of a chat turn: llama.cpp stops generating there too
        writer.add_add_bos_token(False)  # TinySLM is trained without a BOS prefix
        if tok["chat_template"]:
            writer.add_chat_template(tok["chat_template"])

        for tensor_name, arr in _tensor_plan(model, arch):
            data, raw_dtype = _encode_tensor(tensor_name, arr, out_type)
            if raw_dtype is None:
                writer.add_tensor(tensor_name, data)
            else:
                writer.add_tensor(tensor_name, data, raw_shape=data.shape, raw_dtype=raw_dtype)

        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_name, 0o666 & ~umask)  # mkstemp creates 0600; give the file the permissions open() would
        os.replace(tmp_name, out_path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return out_path


__all__ = ["GGUF_TYPES", "SUPPORTED_COMBINATIONS", "export_gguf", "gguf_arch_for", "permute_for_llama_rope",
           "tokenizer_metadata"]
