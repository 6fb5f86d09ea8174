"""ONNX export with a KV cache, and a small onnxruntime runner that generates with it.

One graph serves prefill and decode: inputs are `input_ids`, `attention_mask` (past + new), `position_ids` and the
past keys/values of every layer (sequence length 0 for prefill); outputs are `logits` and the updated keys/values.
Exported with plain `torch.onnx.export` (optimum-onnx does not support transformers 5). Facts that shape the code:
SDPA does not trace with a symbolic causal flag, so the export uses eager attention; tracing with a single new token
would specialise the sequence length to 1, so the example has 2 new + 6 past tokens; position ids are explicit because
the model derives them from the cache length, which the graph cannot see.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..modelio import atomic_directory

MODEL_FILE = "model.onnx"
INT8_FILE = "model_int8.onnx"
EXPORT_INFO = "onnx_export.json"


@contextlib.contextmanager
def _quiet_logs():
    """Hide exporter chatter (missing torchvision ops, ORT's pre-processing hint) that is irrelevant to a causal LM."""
    names = ["", "torch.onnx", "torch.onnx._internal.exporter._registration", "onnxscript", "onnx_ir"]
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


class _CachedCausalLM(nn.Module):
    """Flat-tensor view of the model for the exporter: (ids, mask, positions, *past) -> (logits, *present)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, position_ids, *past):
        from transformers import DynamicCache

        from ..modeling_tinyslm import cache_kwarg

        cache = DynamicCache(config=self.model.config)
        for layer in range(len(past) // 2):
            cache.update(past[2 * layer], past[2 * layer + 1], layer)
        out = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=True,
            **cache_kwarg(cache),  # `cache` from transformers 5.24, `past_key_values` before
        )
        present = []
        for layer in cache.layers:  # updated in place by the forward pass
            present += [layer.keys, layer.values]
        return (out.logits, *present)


def _io_names(num_layers: int) -> tuple[list[str], list[str]]:
    past = [f"past_key_values.{i}.{kv}" for i in range(num_layers) for kv in ("key", "value")]
    present = [f"present.{i}.{kv}" for i in range(num_layers) for kv in ("key", "value")]
    return ["input_ids", "attention_mask", "position_ids", *past], ["logits", *present]


def export_onnx(
    model: nn.Module, tokenizer: Any, out_dir: str | os.PathLike, int8: bool = False, overwrite: bool = False
) -> Path:
    """Export `model` to `out_dir/model.onnx` (+ `model_int8.onnx` with `int8`), with the tokenizer and config.

    The folder is built in a temp dir and renamed into place, so a failed export leaves nothing behind.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite:
        raise FileExistsError(f"{out_dir} already exists (pass --overwrite to replace it)")
    cfg = model.config
    model = model.float().eval()
    model.set_attn_implementation("eager")
    wrapper = _CachedCausalLM(model).eval()

    batch, new, past_len = 2, 2, 6
    kv_shape = (batch, cfg.num_key_value_heads, past_len, cfg.head_dim)
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, cfg.vocab_size, (batch, new), generator=generator)
    mask = torch.ones(batch, past_len + new, dtype=torch.long)
    pos = torch.arange(past_len, past_len + new).unsqueeze(0).expand(batch, -1).contiguous()
    past = tuple(torch.randn(kv_shape, generator=generator) for _ in range(2 * cfg.num_hidden_layers))
    input_names, output_names = _io_names(cfg.num_hidden_layers)

    dyn = torch.export.Dim.DYNAMIC
    # torch.export groups the *past varargs into one entry, which must be a tuple (a list is a structure mismatch).
    dynamic_shapes = ({0: dyn, 1: dyn}, {0: dyn, 1: dyn}, {0: dyn, 1: dyn}, tuple({0: dyn, 2: dyn} for _ in past))

    with atomic_directory(out_dir) as tmp:
        with _quiet_logs(), torch.no_grad():
            torch.onnx.export(
                wrapper,
                (ids, mask, pos, *past),
                str(tmp / MODEL_FILE),
                input_names=input_names,
                output_names=output_names,
                dynamic_shapes=dynamic_shapes,
                dynamo=True,
                external_data=False,
                verbose=False,
            )
        if int8:
            quantize_onnx_int8(tmp / MODEL_FILE, tmp / INT8_FILE)
        cfg.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        info = dict(
            num_layers=cfg.num_hidden_layers,
            num_key_value_heads=cfg.num_key_value_heads,
            head_dim=cfg.head_dim,
            max_position_embeddings=cfg.max_position_embeddings,
            position_embedding_type=cfg.position_embedding_type,
            files=[MODEL_FILE] + ([INT8_FILE] if int8 else []),
        )
        (tmp / EXPORT_INFO).write_text(json.dumps(info, indent=2))
    return out_dir


def quantize_onnx_int8(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """onnxruntime dynamic quantization: int8 weights for MatMul/Gemm, activations quantized at run time."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet_logs():
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)
    return Path(dst)


class OnnxCausalLM:
    """Greedy / sampling generation and scoring with onnxruntime on an exported folder (no torch model needed).

    Sampling reuses transformers' logits warpers (temperature, top-k, top-p) so it behaves like `generate()`.
    """

    def __init__(self, folder: str | os.PathLike, int8: bool = False, threads: int | None = None):
        import onnxruntime as ort

        from ..tokenization import load_tokenizer, stop_token_ids

        folder = Path(folder)
        info_path = folder / EXPORT_INFO
        if not info_path.is_file():
            raise FileNotFoundError(
                f"{folder} is not an ONNX export folder (no {EXPORT_INFO}); create one with `tinyslm export onnx`"
            )
        self.info = json.loads(info_path.read_text())
        file = folder / (INT8_FILE if int8 else MODEL_FILE)
        if not file.is_file():
            hint = " (export with --int8 to create it)" if int8 else ""
            raise FileNotFoundError(f"{file} not found{hint}")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])
        self.tokenizer = load_tokenizer(folder)
        self.stop_ids = stop_token_ids(self.tokenizer)
        self.num_layers = self.info["num_layers"]
        self.max_positions = self.info["max_position_embeddings"]
        self.learned_positions = self.info["position_embedding_type"] == "learned"
        self.input_names, self.output_names = _io_names(self.num_layers)

    def empty_cache(self, batch: int = 1) -> list[np.ndarray]:
        shape = (batch, self.info["num_key_value_heads"], 0, self.info["head_dim"])
        return [np.zeros(shape, dtype=np.float32) for _ in range(2 * self.num_layers)]

    def forward(
        self, input_ids: np.ndarray, past: list[np.ndarray] | None = None, attention_mask: np.ndarray | None = None
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """One step: logits [batch, new, vocab] for `input_ids` [batch, new] after `past`; returns the new cache."""
        input_ids = np.asarray(input_ids, dtype=np.int64)
        batch, new = input_ids.shape
        past = past if past is not None else self.empty_cache(batch)
        past_len = past[0].shape[2]
        if self.learned_positions and past_len + new > self.max_positions:
            raise ValueError(
                f"sequence length {past_len + new} exceeds max_position_embeddings={self.max_positions} of this model"
            )
        if attention_mask is None:
            attention_mask = np.ones((batch, past_len + new), dtype=np.int64)
        positions = np.arange(past_len, past_len + new, dtype=np.int64)[None, :].repeat(batch, axis=0)
        feed = dict(zip(self.input_names, [input_ids, attention_mask.astype(np.int64), positions, *past]))
        logits, *present = self.session.run(self.output_names, feed)
        return logits, present

    def token_nll(self, ids: list[int], window: int | None = None) -> np.ndarray:
        """Negative log-likelihood (nats) of ids[1:] given their prefix, in windows of at most `window` tokens."""
        window = window or self.max_positions
        nll: list[np.ndarray] = []
        for start in range(0, len(ids) - 1, window - 1):
            chunk = np.asarray(ids[start : start + window], dtype=np.int64)[None, :]
            if chunk.shape[1] < 2:
                break
            logits, _ = self.forward(chunk)
            logp = torch.log_softmax(torch.from_numpy(logits[0, :-1]).double(), dim=-1)
            nll.append(-logp.gather(1, torch.from_numpy(chunk[0, 1:])[:, None])[:, 0].numpy())
        return np.concatenate(nll) if nll else np.zeros(0)

    def generate_ids(
        self,
        prompt_ids: list[int],
        max_new_tokens: int = 32,
        do_sample: bool = False,
        temperature: float = 1.0,
        top_p: float = 1.0,
        top_k: int = 0,
        seed: int | None = None,
        repetition_penalty: float = 1.0,
    ) -> list[int]:
        """New token ids after `prompt_ids` (stops at a stop token, which is not returned, or at the trained
        context, rotary positions included: the model never saw longer sequences)."""
        from transformers import (
            LogitsProcessorList,
            RepetitionPenaltyLogitsProcessor,
            TemperatureLogitsWarper,
            TopKLogitsWarper,
            TopPLogitsWarper,
        )

        if not prompt_ids:
            raise ValueError("the prompt is empty")
        if len(prompt_ids) >= self.max_positions:
            raise ValueError(f"prompt has {len(prompt_ids)} tokens; this model's limit is {self.max_positions}")
        max_new_tokens = min(max_new_tokens, self.max_positions - len(prompt_ids))
        warpers = LogitsProcessorList()
        if repetition_penalty != 1.0:  # first, as in generate(): it applies to greedy decoding too
            warpers.append(RepetitionPenaltyLogitsProcessor(repetition_penalty))
        if do_sample:
            if temperature <= 0:
                raise ValueError("temperature must be > 0 when sampling")
            if temperature != 1.0:
                warpers.append(TemperatureLogitsWarper(temperature))
            if top_k and top_k > 0:
                warpers.append(TopKLogitsWarper(top_k))
            if top_p < 1.0:
                warpers.append(TopPLogitsWarper(top_p))
        generator = torch.Generator().manual_seed(seed) if seed is not None else None

        out: list[int] = []
        ids = np.asarray([prompt_ids], dtype=np.int64)
        past = None
        for _ in range(max_new_tokens):
            logits, past = self.forward(ids, past)
            scores = warpers(torch.tensor([prompt_ids + out]), torch.from_numpy(logits[:, -1, :]).float())
            if do_sample:
                token = int(torch.multinomial(torch.softmax(scores, dim=-1), 1, generator=generator)[0, 0])
            else:
                token = int(scores.argmax(-1)[0])
            if token in self.stop_ids:
                break
            out.append(token)
            ids = np.asarray([[token]], dtype=np.int64)
        return out

    def generate(self, prompt: str, max_new_tokens: int = 32, **kwargs: Any) -> str:
        """Continue `prompt` and return only the generated text."""
        prompt_ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        return self.tokenizer.decode(self.generate_ids(prompt_ids, max_new_tokens, **kwargs), skip_special_tokens=True)


__all__ = ["OnnxCausalLM", "export_onnx", "quantize_onnx_int8"]
