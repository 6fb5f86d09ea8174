"""Tokens and packed blocks: document pieces -> token ids (batched, multi-process, in the `datasets` cache) ->
fixed-length training blocks with end-of-text between documents.

Packing runs over the tokenized table in Arrow record batches with numpy and writes the blocks straight to an Arrow
file beside the tokens, so the corpus's ids are never held in Python lists and only the corpus's final partial
block is dropped (a packing `map` would drop a partial block per batch and hold each batch as lists).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
from datasets import Dataset, Features, List, Value
from datasets.fingerprint import Hasher
from transformers import PreTrainedTokenizerBase

from .documents import as_pieces, column, rows_per_batch
from .sources import DATA_FORMAT

TOKENS_PER_PACK_BATCH = 1 << 20
BYTES_PER_WORKER = 8 << 20  # below this much text per process, starting processes costs more than it saves
TOKEN_FEATURES = Features({"input_ids": List(Value("int32")), "n_tokens": Value("int64")})
PACK_FORMAT = 2  # bump when the block layout changes, so cached blocks of the old layout are not reused


def worker_count(num_proc: int | None, rows: Dataset) -> int | None:
    """Processes worth starting for `rows`: at most `num_proc`, one per BYTES_PER_WORKER of text."""
    if not num_proc or num_proc <= 1 or len(rows) < 2:
        return None
    useful = min(num_proc, len(rows), int(column(rows, "n_bytes").sum() // BYTES_PER_WORKER))
    return useful if useful > 1 else None


def _tokenize(batch, tokenizer, eos: int, data_format: int = DATA_FORMAT):
    # Documents are longer than the context on purpose: they are packed into blocks afterwards.
    ids = tokenizer(batch["text"], add_special_tokens=False, verbose=False)["input_ids"]
    ids = [seq + [eos] if end else seq for seq, end in zip(ids, batch["end"])]
    return {"input_ids": ids, "n_tokens": [len(seq) for seq in ids]}


def tokenize_documents(rows: Dataset, tokenizer: PreTrainedTokenizerBase, num_proc: int | None = None) -> Dataset:
    """Token ids per piece, with end-of-text after the last piece of every document (`n_tokens` counts them)."""
    rows = as_pieces(rows)
    batch = rows_per_batch(rows)
    return rows.map(_tokenize, batched=True, batch_size=batch, writer_batch_size=batch,
                    num_proc=worker_count(num_proc, rows), remove_columns=rows.column_names, features=TOKEN_FEATURES,
                    fn_kwargs={"tokenizer": tokenizer, "eos": tokenizer.eos_token_id, "data_format": DATA_FORMAT},
                    desc="tokenize")


def document_positions(block: list[int], eos: int) -> list[int]:
    """Position ids that restart at 0 at every eos and at the block's start.

    Given to the model without an attention mask, they make each document attend only to itself (transformers
    derives the packed-sequence mask from restarting positions). The eos opens the segment of the document after it,
    like a BOS: the eos is predicted from its own document, and the next document's first token from the eos
    alone. A document cut by a block boundary continues at position 0, since it cannot see its earlier part there.
    """
    return block_positions(np.asarray([block]), eos)[0].tolist()


def block_positions(blocks: np.ndarray, eos: int) -> np.ndarray:
    """`document_positions` for a (blocks, block_size) array at once."""
    index = np.arange(blocks.shape[1])
    restart = blocks == eos
    restart[:, 0] = True
    last_restart = np.maximum.accumulate(np.where(restart, index, 0), axis=1)
    return (index - last_restart).astype(np.int32)


def _block_features(block_size: int, document_masking: bool) -> Features:
    names = ["input_ids", "position_ids"] if document_masking else ["input_ids"]
    return Features({name: List(Value("int32"), length=block_size) for name in names})


def _record_batches(tokens: Dataset, block_size: int, eos: int, document_masking: bool, schema: pa.Schema):
    """Full blocks as Arrow record batches; the tokens left over from one batch open the next."""
    from tqdm.auto import tqdm

    total = int(column(tokens, "n_tokens").sum())
    carry = np.empty(0, dtype=np.int32)
    with tqdm(total=total, unit="tok", unit_scale=True, desc=f"pack into {block_size}-token blocks") as bar:
        batch = rows_per_batch(tokens, "n_tokens", TOKENS_PER_PACK_BATCH)
        for table in tokens.with_format("arrow").iter(batch_size=batch):
            ids = table.column("input_ids").combine_chunks().flatten().to_numpy(zero_copy_only=False)
            flat = np.concatenate([carry, ids.astype(np.int32, copy=False)])
            usable = len(flat) // block_size * block_size
            carry = flat[usable:]
            bar.update(len(ids))
            if not usable:
                continue
            blocks = flat[:usable].reshape(-1, block_size)
            arrays = [pa.FixedSizeListArray.from_arrays(pa.array(blocks.ravel()), block_size)]
            if document_masking:
                positions = block_positions(blocks, eos)
                arrays.append(pa.FixedSizeListArray.from_arrays(pa.array(positions.ravel()), block_size))
            yield pa.RecordBatch.from_arrays(arrays, schema=schema)


def pack_blocks(tokens: Dataset, block_size: int, eos: int, document_masking: bool = False) -> Dataset:
    """Pack token ids into `block_size` blocks in order (with `position_ids` under `document_masking`, see
    `document_positions`). Cached beside the tokens by their fingerprint; written to a temporary file and renamed,
    so an interrupted run leaves nothing a later run would take for finished."""
    if block_size < 2:
        raise ValueError(f"block_size must be at least 2, got {block_size}")
    features = _block_features(block_size, document_masking)
    schema = features.arrow_schema
    batches = lambda: _record_batches(tokens, block_size, eos, document_masking, schema)  # noqa: E731
    if not tokens.cache_files:  # an in-memory table (small data built in Python): stays in memory
        return Dataset(pa.Table.from_batches(list(batches()), schema=schema))
    key = Hasher.hash([tokens._fingerprint, block_size, eos, document_masking, PACK_FORMAT, DATA_FORMAT])
    target = Path(tokens.cache_files[0]["filename"]).with_name(f"packed-{key}.arrow")
    if not target.exists():
        from ..partial_files import partial_prefix, remove_stale_partials

        remove_stale_partials(target)
        partial = target.with_name(partial_prefix(target) + "0")
        try:
            with pa.OSFile(str(partial), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
                for batch in batches():
                    writer.write_batch(batch)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
    return Dataset.from_file(str(target))


def tokenize_and_pack(docs: Dataset, tokenizer: PreTrainedTokenizerBase, block_size: int,
                      num_proc: int | None = None, document_masking: bool = False) -> Dataset:
    """Documents (plain `text` rows or pieces) -> packed blocks: no padding is ever trained on, and the eos
    between documents teaches the model where texts end."""
    tokens = tokenize_documents(docs, tokenizer, num_proc)
    return pack_blocks(tokens, block_size, tokenizer.eos_token_id, document_masking)


class PackedBlockCollator:
    """Batches of equal-length packed blocks for causal LM training: labels are the inputs (the model shifts them)
    except pad tokens (a literal pad token in the text is not a target), `position_ids` pass through when the blocks
    carry them, and there is no attention mask - a mask would stop transformers from deriving the document mask from
    the positions (and is all ones for packed blocks anyway)."""

    def __init__(self, pad_token_id: int | None = None):
        self.pad_token_id = pad_token_id

    def __call__(self, features: list[dict]) -> dict:
        import torch

        input_ids = torch.tensor([f["input_ids"] for f in features], dtype=torch.long)
        labels = input_ids.clone()
        if self.pad_token_id is not None:
            labels[labels == self.pad_token_id] = -100
        batch = {"input_ids": input_ids, "labels": labels}
        if "position_ids" in features[0]:
            batch["position_ids"] = torch.tensor([f["position_ids"] for f in features], dtype=torch.long)
        return batch


__all__ = ["PackedBlockCollator", "block_positions", "document_positions", "pack_blocks", "tokenize_and_pack",
           "tokenize_documents", "worker_count"]
