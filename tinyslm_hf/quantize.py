"""CPU int8 for transformers inference: dynamic int8 quantization of every nn.Linear, applied after loading.

Why after loading: torch's dynamically-quantized Linear keeps its weights in packed params that safetensors cannot
store (only pickle could), so folders stay fp32/bf16 safetensors on disk and `--int8` quantizes in memory.
`torch.ao.quantization.quantize_dynamic` is the torch path measured to speed up CPU matmuls here (1.5-2.3x); torchao's
int8 configs gave no CPU speed-up on this machine.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn


def quantize_int8(model: nn.Module) -> nn.Module:
    """Return `model` with its nn.Linear layers (incl. the LM head) replaced by dynamic int8 ones, for CPU inference.

    Weights are quantized per tensor (torch's default dynamic qconfig); activations are quantized on the fly for
    each batch. The module is modified in place.
    The model is cast to fp32 first (the int8 kernels take fp32 activations) and put in eval mode.
    """
    if any(p.device.type != "cpu" for p in model.parameters()):
        raise ValueError("int8 dynamic quantization runs on CPU only; load the model with device='cpu'")
    model = model.float().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization deprecation notice: still the fastest CPU path here
        from torch.ao.quantization import quantize_dynamic

        quantized = quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8, inplace=True)
    # The LM head is now its own int8 module; do not let a later tie_weights() re-tie it to the embedding.
    quantized.config.tie_word_embeddings = False
    return quantized


__all__ = ["quantize_int8"]
