"""Evaluation: loss (nats/token), perplexity and bits per byte.

Bits per byte = total negative log-likelihood in bits / UTF-8 bytes of the text. Unlike per-token loss it does not
depend on the tokenizer, so models with different vocabularies (or a character-level model) compare directly.
"""

from __future__ import annotations

import math

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase


@torch.no_grad()
def evaluate_text(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    text: str,
    block_size: int | None = None,
    stride: int | None = None,
    batch_size: int = 8,
) -> dict[str, float]:
    """Score every token of `text` with sliding windows of `block_size` tokens.

    The text is preceded by end-of-text (what the model saw before each training document), so the first token is
    scored too and every byte of the text is accounted for. Windows advance by `stride` (default: half a block),
    and each token is scored once, with at least `block_size - stride` tokens of context after the first window.
    """
    if not text:
        raise ValueError("cannot evaluate on empty text")
    block_size = block_size or model.config.max_position_embeddings
    stride = stride or max(1, block_size // 2)
    if not 0 < stride <= block_size:
        raise ValueError(f"stride must be in (0, block_size={block_size}], got {stride}")
    ids = [tokenizer.eos_token_id] + tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()

    # Windows as (begin, end, first scored position). ids[0] is context only; each later token is scored once.
    windows, scored, begin = [], 1, 0
    while scored < len(ids):
        end = min(begin + block_size, len(ids))
        windows.append((begin, end, scored))
        scored = end
        begin = min(end - (block_size - stride), end - 1)  # keep context; at least one token so none is skipped
    total_nll, total_tokens = 0.0, 0
    for i in range(0, len(windows), batch_size):
        batch = windows[i : i + batch_size]
        width = max(end - s for s, end, _ in batch)
        input_ids = torch.full((len(batch), width), tokenizer.pad_token_id or 0, dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, (s, end, first) in enumerate(batch):
            chunk = torch.tensor(ids[s:end])
            input_ids[row, : end - s] = chunk
            mask[row, : end - s] = 1
            labels[row, first - s : end - s] = chunk[first - s :]
        input_ids, labels, mask = input_ids.to(device), labels.to(device), mask.to(device)
        logits = model(input_ids=input_ids, attention_mask=mask, use_cache=False).logits.float()
        nll = torch.nn.functional.cross_entropy(
            logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=-100, reduction="sum"
        )
        total_nll += nll.item()
        total_tokens += int((labels[:, 1:] != -100).sum())
    if was_training:
        model.train()
    n_bytes = len(text.encode("utf-8"))
    loss = total_nll / total_tokens
    return {
        "loss": loss,
        "perplexity": math.exp(min(loss, 50.0)),
        "bits_per_byte": total_nll / math.log(2) / n_bytes,
        "tokens": total_tokens,
        "bytes": n_bytes,
    }


__all__ = ["evaluate_text"]
