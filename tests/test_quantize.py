"""CPU int8 for transformers: dynamic int8 Linear layers, applied after loading a safetensors folder."""

from __future__ import annotations

import copy

import pytest
import torch
from export_testutils import HELD_OUT, trained_model

from tinyslm_hf.quantize import quantize_int8
from tinyslm_hf.export.runtimes import bits_per_byte, hf_token_nll
from tinyslm_hf.modelio import load_model_and_tokenizer

# Stated bound: int8 may cost at most 2% bits/byte on held-out text (the tiny test models; see docs/export.md).
BPB_BOUND = 1.02


@pytest.mark.parametrize("preset", ["seed", "modern"])
def test_int8_close_to_fp32(tiny_tokenizer, preset):
    model = copy.deepcopy(trained_model(tiny_tokenizer, preset))  # quantize_int8 works in place
    ids = tiny_tokenizer(HELD_OUT)["input_ids"]
    with torch.no_grad():
        ref = model(torch.tensor([ids[:60]])).logits
    bpb_fp32 = bits_per_byte(hf_token_nll(model, ids), HELD_OUT)

    quantized = quantize_int8(model)
    linears = [m for m in quantized.modules() if type(m).__name__ == "Linear"]
    dynamic = [m for m in quantized.modules() if "quantized.dynamic" in type(m).__module__]
    assert not [m for m in linears if "torch.nn.modules" in type(m).__module__], "an nn.Linear was left in fp32"
    assert len(dynamic) == quantized.config.num_hidden_layers * (4 + (3 if preset == "modern" else 2)) + 1

    with torch.no_grad():
        out = quantized(torch.tensor([ids[:60]])).logits
    assert (out - ref).abs().max() < 0.1 * ref.abs().max()
    assert (out.argmax(-1) == ref.argmax(-1)).float().mean() >= 0.9
    bpb_int8 = bits_per_byte(hf_token_nll(quantized, ids), HELD_OUT)
    assert bpb_int8 < bpb_fp32 * BPB_BOUND, (bpb_fp32, bpb_int8)


def test_load_with_int8_generates(tiny_modern_model_dir):
    """modelio's int8=True path: weights come from safetensors, quantization happens in memory, generate works."""
    model, tokenizer = load_model_and_tokenizer(tiny_modern_model_dir, int8=True)
    assert "quantized.dynamic" in type(model.lm_head).__module__
    ids = tokenizer("The quick brown", return_tensors="pt")["input_ids"]
    out = model.generate(ids, max_new_tokens=5, do_sample=False, min_new_tokens=5)
    assert out.shape[1] == ids.shape[1] + 5
    # The folder on disk is untouched: still plain fp32 safetensors.
    fp32, _ = load_model_and_tokenizer(tiny_modern_model_dir)
    assert type(fp32.lm_head) is torch.nn.Linear
