"""The main job's data: inputs -> document pieces -> train/validation split -> packed blocks, plus a fixed
evaluation sample of the held-out text capped in tokens, so evaluating a 100 MB validation split costs no more than
evaluating a 1 MB one."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np
from datasets import Dataset, DatasetDict
from transformers import PreTrainedTokenizerBase

from .documents import column, document_texts, split_documents
from .packing import pack_blocks, tokenize_documents
from .sources import load_documents

MB = 1e6


@dataclass
class PackedData:
    train: Dataset
    validation: Dataset  # the evaluation sample's blocks (periodic evaluation)
    validation_documents: list[str]  # the evaluation sample's text per document (held-out bits per byte)
    stats: dict = field(default_factory=dict)

    @property
    def validation_text(self) -> str:
        """The evaluation sample as one text, documents separated by a blank line."""
        return "\n\n".join(self.validation_documents)


def evaluation_sample(rows: Dataset, tokenizer: PreTrainedTokenizerBase, max_tokens: int | None,
                      bytes_per_token: float) -> Dataset:
    """The leading held-out pieces holding at most `max_tokens` tokens (the last piece cut where the cap falls),
    in memory; all of `rows` when there is no cap or it covers them.

    Only the candidate pieces are tokenized: those within a generous byte estimate of the cap.
    """
    if not max_tokens:
        return rows
    sizes = np.cumsum(column(rows, "n_bytes"))
    candidates = min(len(rows), int(np.searchsorted(sizes, max_tokens * bytes_per_token * 1.5, side="right")) + 1)
    pieces = rows.select(range(candidates)).to_dict()
    eos_after = [1 if end else 0 for end in pieces["end"]]
    counts = [len(ids) + extra for ids, extra in zip(
        tokenizer(pieces["text"], add_special_tokens=False, verbose=False)["input_ids"], eos_after)]
    used, keep = 0, 0
    while keep < candidates and used + counts[keep] <= max_tokens:
        used, keep = used + counts[keep], keep + 1
    if keep == candidates and candidates == len(rows):
        return rows
    sample = {name: values[:keep] for name, values in pieces.items()}
    if keep < candidates and used < max_tokens:  # part of the next piece fills the cap
        text = pieces["text"][keep]
        offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True,
                            verbose=False)["offset_mapping"]
        prefix = text[: offsets[max_tokens - used - 1][1]]
        for name, value in (("text", prefix), ("doc", pieces["doc"][keep]), ("offset", pieces["offset"][keep]),
                            ("end", False), ("n_chars", len(prefix)), ("n_bytes", len(prefix.encode("utf-8")))):
            sample[name].append(value)
    return Dataset.from_dict(sample, features=rows.features)


def throughput(n_bytes: float, seconds: float) -> str:
    return f"{n_bytes / MB:,.1f} MB in {seconds:.1f} s ({n_bytes / MB / max(seconds, 1e-6):,.1f} MB/s)"


def prepare_data(
    source: list[str | os.PathLike] | Dataset | DatasetDict,
    tokenizer: PreTrainedTokenizerBase,
    block_size: int,
    validation_fraction: float = 0.1,
    seed: int = 0,
    num_proc: int | None = None,
    text_field: str = "text",
    document_masking: bool = False,
    max_eval_tokens: int | None = None,
    log=None,
) -> PackedData:
    """Inputs (paths, documents, or an already split DatasetDict) -> packed train blocks and the evaluation sample.

    `max_eval_tokens` caps the evaluation sample (periodic and final); `stats` says how much text everything
    covers. Every step is cached by `datasets`, so a second run on the same inputs and tokenizer starts at once.
    """
    log = log or (lambda message: None)
    if isinstance(source, DatasetDict):
        splits = source
    else:
        docs = source if isinstance(source, Dataset) else load_documents(source, text_field)
        splits = split_documents(docs, validation_fraction, seed)
    train_bytes = int(column(splits["train"], "n_bytes").sum())
    held_out_bytes = int(column(splits["validation"], "n_bytes").sum())

    started = time.monotonic()
    train_tokens = tokenize_documents(splits["train"], tokenizer, num_proc)
    n_train_tokens = int(column(train_tokens, "n_tokens").sum())
    log(f"tokenized {throughput(train_bytes, time.monotonic() - started)}: {n_train_tokens:,} tokens")
    started = time.monotonic()
    train = pack_blocks(train_tokens, block_size, tokenizer.eos_token_id, document_masking)
    log(f"packed {len(train):,} blocks of {block_size} tokens in {time.monotonic() - started:.1f} s")

    sample = evaluation_sample(splits["validation"], tokenizer, max_eval_tokens,
                               train_bytes / max(1, n_train_tokens))
    sample_tokens = tokenize_documents(sample, tokenizer, num_proc)
    validation = pack_blocks(sample_tokens, block_size, tokenizer.eos_token_id, document_masking)
    if len(train) == 0:
        raise ValueError(f"training text is shorter than one block of {block_size} tokens; lower --block-size")
    if len(validation) == 0:
        raise ValueError(f"validation text is shorter than one block of {block_size} tokens; lower --block-size "
                         "or raise --validation-fraction")
    stats = {
        "documents": int(len(np.unique(np.concatenate([column(splits[s], "doc") for s in ("train", "validation")])))),
        "train_bytes": train_bytes, "train_tokens": n_train_tokens, "train_blocks": len(train),
        "held_out_bytes": held_out_bytes, "eval_bytes": int(column(sample, "n_bytes").sum()),
        "eval_tokens": int(column(sample_tokens, "n_tokens").sum()), "eval_blocks": len(validation),
    }
    return PackedData(train, validation, document_texts(sample), stats)


def describe(stats: dict, block_size: int) -> str:
    """The run log's line about the data: corpus size, tokens, and how much of the held-out text is evaluated."""
    if stats.get("streaming"):
        return (f"data: streamed from {stats['shards']:,} shard(s), size unknown until read; evaluated on a fixed "
                f"sample of the held-out text: {stats['eval_bytes'] / MB:,.2f} MB ({stats['eval_tokens']:,} tokens, "
                f"{stats['eval_blocks']:,} blocks of {block_size})")
    covered = ("all of it" if stats["eval_bytes"] >= stats["held_out_bytes"]
               else f"a fixed sample of {stats['eval_bytes'] / MB:,.2f} MB")
    return (f"data: {(stats['train_bytes'] + stats['held_out_bytes']) / MB:,.2f} MB in {stats['documents']:,} "
            f"document(s); train {stats['train_tokens']:,} tokens ({stats['train_blocks']:,} blocks of {block_size}); "
            f"held out {stats['held_out_bytes'] / MB:,.2f} MB, evaluated on {covered} "
            f"({stats['eval_tokens']:,} tokens, {stats['eval_blocks']:,} blocks)")


__all__ = ["PackedData", "describe", "evaluation_sample", "prepare_data", "throughput"]
