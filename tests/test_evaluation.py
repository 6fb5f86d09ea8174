import math

import pytest
import torch
from conftest import SAMPLE_TEXT

from tinyslm_hf.evaluation import evaluate_text
from tinyslm_hf.modelio import load_model_and_tokenizer


@pytest.fixture(scope="module")
def model_and_tokenizer(tiny_model_dir):
    return load_model_and_tokenizer(tiny_model_dir)


def test_every_token_is_scored_once_whatever_the_window(model_and_tokenizer):
    model, tok = model_and_tokenizer
    text = SAMPLE_TEXT[:700]
    n_tokens = len(tok(text, add_special_tokens=False)["input_ids"])
    results = [evaluate_text(model, tok, text, block_size=b, stride=s) for b, s in [(64, 32), (64, 64), (16, 1)]]
    assert all(r["tokens"] == n_tokens for r in results)
    assert all(r["bytes"] == len(text.encode("utf-8")) for r in results)


def test_metrics_are_consistent(model_and_tokenizer):
    model, tok = model_and_tokenizer
    r = evaluate_text(model, tok, SAMPLE_TEXT[:500], block_size=64)
    assert r["perplexity"] == pytest.approx(math.exp(r["loss"]))
    assert r["bits_per_byte"] == pytest.approx(r["loss"] * r["tokens"] / math.log(2) / r["bytes"])
    # A random model is close to uniform over the vocabulary.
    assert abs(r["loss"] - math.log(model.config.vocab_size)) < 0.5


def test_full_context_window_matches_a_direct_forward(model_and_tokenizer):
    model, tok = model_and_tokenizer
    text = "To be, or not to be"
    ids = torch.tensor([[tok.eos_token_id] + tok(text, add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        direct = model(ids, labels=ids).loss.item()
    assert evaluate_text(model, tok, text, block_size=64)["loss"] == pytest.approx(direct, rel=1e-5)


def test_empty_text_is_rejected(model_and_tokenizer):
    with pytest.raises(ValueError, match="empty"):
        evaluate_text(*model_and_tokenizer, "")
