"""Helpers shared by the export tests: small models *trained* for a few steps, so their next-token predictions are
peaked (random weights give near-tied logits, where any runtime's rounding flips the argmax).

Models and folders are cached per test process (they are used by the GGUF, ONNX and int8 tests alike); callers that
modify a model must deep-copy it first.
"""

from __future__ import annotations

import torch

from conftest import SAMPLE_TEXT, tiny_config
from tinyslm_hf import TinySLMForCausalLM
from tinyslm_hf.modelio import save_model_folder

HELD_OUT = (
    "The lazy dog jumps over the quick brown fox. To be, or not to be.\n"
    "Sales in the East region fell 7% in 2023; total = SUM(B2:B9).\n"
)
PROMPT = "The quick brown fox"

_MODELS: dict = {}
_DIRS: dict = {}
# Test names for configs beyond the two presets: the modern block with QK-norm is what `tinyslm train` builds.
VARIANTS = {"modern-qk": ("modern", {"qk_norm": True})}


def trained_model(tokenizer, preset: str, steps: int = 30) -> TinySLMForCausalLM:
    """A tiny model (`preset`: seed, modern or a name in VARIANTS) fitted to SAMPLE_TEXT for `steps` AdamW steps (a few seconds on CPU). Shared: do not modify."""
    key = (id(tokenizer), preset, steps)
    if key not in _MODELS:
        torch.manual_seed(0)
        base, overrides = VARIANTS.get(preset, (preset, {}))
        model = TinySLMForCausalLM(tiny_config(base, vocab_size=len(tokenizer), **overrides))
        ids = torch.tensor(tokenizer(SAMPLE_TEXT)["input_ids"])
        seq = model.config.max_position_embeddings
        batches = ids[: (len(ids) // seq) * seq].view(-1, seq)
        optimizer = torch.optim.AdamW(model.parameters(), lr=2e-2)
        model.train()
        for step in range(steps):
            batch = batches[(step * 4) % len(batches) :][:4]
            model(batch, labels=batch).loss.backward()
            optimizer.step()
            optimizer.zero_grad()
        _MODELS[key] = model.eval()
    return _MODELS[key]


def trained_model_dir(tmp_path_factory, tokenizer, preset: str):
    """The trained model saved as a complete model folder (once per test process)."""
    key = (id(tokenizer), preset)
    if key not in _DIRS:
        path = tmp_path_factory.mktemp(f"trained-{preset}") / "model"
        save_model_folder(trained_model(tokenizer, preset), tokenizer, path)
        _DIRS[key] = path
    return _DIRS[key]
