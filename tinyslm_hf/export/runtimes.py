"""Run the same prompt on each runtime: transformers (`hf`), onnxruntime (`onnx`) or llama.cpp (`gguf`).

`generate_text` is what `tinyslm generate --backend` calls. The llama.cpp helpers also serve the tests and the export
report (per-token NLL for bits/byte). llama.cpp aborts the whole process (a C assert, not an exception) when a
learned-position model runs past its position table, so every llama.cpp path here caps the length itself.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

BACKENDS = ("hf", "onnx", "gguf")
GGML_TYPE_F32 = 0  # ggml_type id, for an f32 KV cache (llama.cpp defaults to f16)


def load_gguf(
    path: str | os.PathLike,
    logits_all: bool = False,
    f32_cache: bool = False,
    threads: int | None = None,
    seed: int | None = None,
) -> Any:
    """Open a GGUF file with llama-cpp-python, quietly, with a context as long as the model was trained for."""
    try:
        from llama_cpp import Llama
    except ImportError as exc:  # optional dependency
        raise ImportError(
            "the gguf backend needs llama-cpp-python: pip install 'tinyslm-hf[export]' (built from source, ~10 min)"
        ) from exc
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"GGUF file not found: {path}")
    # n_ctx=0: the model's own length.
    kwargs: dict[str, Any] = dict(n_ctx=0, logits_all=logits_all, verbose=False)
    if f32_cache:
        kwargs.update(type_k=GGML_TYPE_F32, type_v=GGML_TYPE_F32)
    if threads:
        kwargs.update(n_threads=threads, n_threads_batch=threads)
    if seed is not None:
        kwargs["seed"] = seed
    try:
        return Llama(str(path), **kwargs)
    except ValueError as exc:
        raise ValueError(f"llama.cpp could not load {path}: {exc}") from exc


def gguf_max_tokens(llm: Any) -> int:
    """Longest sequence llama.cpp may run for this model (its trained context: learned positions end there)."""
    return min(int(llm.n_ctx()), int(llm._model.n_ctx_train()))


def gguf_stop_ids(llm: Any) -> set[int]:
    meta = llm.metadata
    return {int(meta[k]) for k in ("tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id") if k in meta}


def gguf_tokenize(llm: Any, text: str) -> list[int]:
    """llama.cpp's tokenization of `text`, parsing special tokens like the HF tokenizer does, without a BOS."""
    return list(llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))


class _RepetitionPenalty:
    """transformers' repetition penalty (CTRL's): every token already in the sequence has its logit divided by the
    penalty when positive, multiplied when negative."""

    def __init__(self, penalty: float):
        self.penalty = penalty

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        seen = np.unique(input_ids)
        picked = scores[seen]
        scores[seen] = np.where(picked > 0, picked / self.penalty, picked * self.penalty)
        return scores


def gguf_generate_ids(
    llm: Any,
    prompt_ids: list[int],
    max_new_tokens: int = 32,
    temperature: float = 0.0,
    top_p: float = 1.0,
    top_k: int = 0,
    seed: int | None = None,
    repetition_penalty: float = 1.0,
) -> list[int]:
    """Greedy (temperature 0) or sampled continuation with llama.cpp's sampler; stops at eos / end of turn."""
    if not prompt_ids:
        raise ValueError("the prompt is empty")
    limit = gguf_max_tokens(llm)
    if len(prompt_ids) >= limit:
        raise ValueError(f"prompt has {len(prompt_ids)} tokens; this model's limit is {limit}")
    max_new_tokens = min(max_new_tokens, limit - len(prompt_ids))
    if seed is not None:
        llm.set_seed(seed)
    stops = gguf_stop_ids(llm)
    out: list[int] = []
    if max_new_tokens <= 0:
        return out
    # min_p=0 and llama.cpp's own repeat penalty off, so the sampler is plain temperature/top-k/top-p as in
    # transformers. llama.cpp's penalty counts only sampled tokens (not the prompt) over a window; transformers'
    # counts the whole sequence, so that one is applied here, on the same logits.
    processors = [_RepetitionPenalty(repetition_penalty)] if repetition_penalty != 1.0 else None
    for token in llm.generate(prompt_ids, top_k=top_k, top_p=top_p, min_p=0.0, temp=temperature,
                              repeat_penalty=1.0, logits_processor=processors):
        if token in stops:
            break
        out.append(int(token))
        if len(out) >= max_new_tokens:
            break
    return out


def gguf_token_nll(llm: Any, ids: list[int]) -> np.ndarray:
    """NLL (nats) of ids[1:] given their prefix, in windows that fit the model; `llm` needs logits_all=True."""
    import torch

    window = gguf_max_tokens(llm)
    nll: list[np.ndarray] = []
    for start in range(0, len(ids) - 1, window - 1):
        chunk = ids[start : start + window]
        if len(chunk) < 2:
            break
        llm.reset()
        llm.eval(chunk)
        logits = torch.from_numpy(np.array(llm.scores[: len(chunk) - 1], dtype=np.float64))
        logp = torch.log_softmax(logits, dim=-1)
        nll.append(-logp.gather(1, torch.tensor(chunk[1:])[:, None])[:, 0].numpy())
    return np.concatenate(nll) if nll else np.zeros(0)


def hf_token_nll(model: Any, ids: list[int], window: int | None = None) -> np.ndarray:
    """NLL (nats) of ids[1:] with a transformers model, in the same windows as the other runtimes."""
    import torch

    window = window or model.config.max_position_embeddings
    nll: list[np.ndarray] = []
    for start in range(0, len(ids) - 1, window - 1):
        chunk = torch.tensor([ids[start : start + window]])
        if chunk.shape[1] < 2:
            break
        with torch.no_grad():
            logits = model(chunk, use_cache=False).logits[0, :-1].double()
        logp = torch.log_softmax(logits, dim=-1)
        nll.append(-logp.gather(1, chunk[0, 1:, None])[:, 0].numpy())
    return np.concatenate(nll) if nll else np.zeros(0)


def bits_per_byte(nll: np.ndarray, text: str) -> float:
    """Total NLL in bits over the UTF-8 size of `text`: comparable across tokenizers and runtimes."""
    return float(np.sum(nll) / np.log(2) / len(text.encode("utf-8")))


def _hf_generate(model_path: str, prompt: str, max_new_tokens: int, temperature: float, top_p: float, top_k: int,
                 seed: int | None, int8: bool, repetition_penalty: float) -> str:
    import torch
    from transformers import set_seed

    from ..modelio import load_model_and_tokenizer

    model, tokenizer = load_model_and_tokenizer(model_path, int8=int8)
    ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
    if ids.shape[1] == 0:
        raise ValueError("the prompt is empty")
    limit = model.config.max_position_embeddings  # the trained context, with learned or rotary positions
    if ids.shape[1] >= limit:
        raise ValueError(f"prompt has {ids.shape[1]} tokens; this model's limit is {limit}")
    max_new_tokens = min(max_new_tokens, limit - ids.shape[1])
    if seed is not None:
        set_seed(seed)
    sample = temperature > 0
    kwargs: dict[str, Any] = dict(do_sample=sample, max_new_tokens=max_new_tokens,
                                  repetition_penalty=repetition_penalty)
    if sample:
        kwargs.update(temperature=temperature, top_p=top_p, top_k=top_k or None)
    with torch.no_grad():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), **kwargs)
    return tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)


def generate_text(
    backend: str,
    model_path: str | os.PathLike,
    prompt: str,
    max_new_tokens: int = 64,
    temperature: float = 0.0,
    top_p: float = 1.0,
    top_k: int = 0,
    seed: int | None = None,
    int8: bool = False,
    repetition_penalty: float = 1.0,
) -> str:
    """Continue `prompt` with the chosen runtime and return only the new text.

    model_path is a model folder (hf), an ONNX export folder (onnx; `int8` picks model_int8.onnx) or a .gguf file
    (gguf). temperature 0 means greedy decoding on every backend; every backend applies the repetition penalty over
    the whole sequence and stops at the model's trained context.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if max_new_tokens < 1:
        raise ValueError("max_new_tokens must be at least 1")
    if temperature < 0:
        raise ValueError("temperature must be >= 0")
    if not 0 < top_p <= 1:
        raise ValueError("top_p must be in (0, 1]")
    if not repetition_penalty > 0:
        raise ValueError("repetition_penalty must be > 0")
    if backend == "hf":
        return _hf_generate(str(model_path), prompt, max_new_tokens, temperature, top_p, top_k, seed, int8,
                            repetition_penalty)
    if backend == "onnx":
        from .onnx import OnnxCausalLM

        runner = OnnxCausalLM(model_path, int8=int8)
        return runner.generate(
            prompt, max_new_tokens, do_sample=temperature > 0, temperature=temperature or 1.0, top_p=top_p,
            top_k=top_k, seed=seed, repetition_penalty=repetition_penalty,
        )
    llm = load_gguf(model_path, seed=seed)
    try:
        new_ids = gguf_generate_ids(llm, gguf_tokenize(llm, prompt), max_new_tokens, temperature, top_p, top_k, seed,
                                    repetition_penalty)
        return llm.detokenize(new_ids).decode("utf-8", errors="replace")
    finally:
        llm.close()  # free llama.cpp's context now, not in __del__ at interpreter exit (which can fail noisily)


__all__ = [
    "BACKENDS",
    "bits_per_byte",
    "generate_text",
    "gguf_generate_ids",
    "gguf_max_tokens",
    "gguf_token_nll",
    "gguf_tokenize",
    "hf_token_nll",
    "load_gguf",
]
