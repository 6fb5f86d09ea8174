"""Shared fixtures: a tiny tokenizer and tiny saved model folders, built once per test session (seconds on CPU)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach a hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest
import torch

from tinyslm_hf import TinySLMConfig, TinySLMForCausalLM
from tinyslm_hf.modelio import save_model_folder
from tinyslm_hf.tokenization import train_tokenizer

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def copy_stopped_before(run: Path, copy: Path, checkpoint: str) -> Path:
    """A copy of training output folder `run` as if the run had been killed before writing `checkpoint` (and so
    before `final/`): what `--resume` starts from."""
    shutil.copytree(run, copy)
    shutil.rmtree(copy / checkpoint)
    shutil.rmtree(copy / "final", ignore_errors=True)
    return copy

SAMPLE_TEXT = (
    "The quick brown fox jumps over the lazy dog. " * 3
    + "To be, or not to be, that is the question.\n"
    + "Sales in the West region rose 12% in 2024; total = SUM(C2:C40).\n"
    + "Café, naïve, 日本語, emoji 🙂 and numbers 3.14159 and 42.\n"
) * 20


def tiny_config(preset: str = "seed", vocab_size: int = 320, **overrides) -> TinySLMConfig:
    """A few-thousand-parameter TinySLM of either preset."""
    values = dict(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=64,
        intermediate_size=64 if preset == "seed" else 48,
    )
    if preset == "modern":
        values["num_key_value_heads"] = 2
    values.update(overrides)
    return TinySLMConfig.from_preset(preset, **values)


@pytest.fixture(scope="session")
def tiny_tokenizer():
    return train_tokenizer([SAMPLE_TEXT], vocab_size=320, model_max_length=64)


def _saved_model(tmp_path_factory, tokenizer, preset):
    torch.manual_seed(0)
    model = TinySLMForCausalLM(tiny_config(preset, vocab_size=len(tokenizer)))
    path = tmp_path_factory.mktemp(f"tiny-{preset}") / "model"
    save_model_folder(model, tokenizer, path)
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_tokenizer):
    """A saved seed-preset folder (weights, config, generation config, tokenizer, remote code)."""
    return _saved_model(tmp_path_factory, tiny_tokenizer, "seed")


@pytest.fixture(scope="session")
def tiny_modern_model_dir(tmp_path_factory, tiny_tokenizer):
    return _saved_model(tmp_path_factory, tiny_tokenizer, "modern")


@pytest.fixture(scope="module")
def generator(tiny_model_dir):
    """A Generator over the tiny seed model, on one intra-op thread: the tiny model gains nothing from more, and on
    a busy 2-core box OpenMP's spinning threads fight a server's event loop and generation thread (8x slower)."""
    from tinyslm_hf.generation import Generator
    from tinyslm_hf.modelio import load_model_and_tokenizer

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    model, tokenizer = load_model_and_tokenizer(tiny_model_dir)
    yield Generator(model, tokenizer)
    torch.set_num_threads(threads)
