"""Streaming (`--streaming`): the corpus read, tokenized and packed on the fly as a `datasets.IterableDataset`, for
corpora larger than the disk cache the map path writes (docs/data.md).

- **Shards.** Text files are cut into byte ranges of `SHARD_BYTES`, each starting after a newline, so a single
  large file still gives every process its own part to read; jsonl / csv / parquet files, saved datasets and Hub
  datasets keep the shards `datasets` gives them. The packed stream has one shard per process (a group of source shards),
  and the Trainer (Accelerate, `dispatch_batches` off) hands each process its own with `IterableDataset.shard`,
  the assignment `datasets.distributed.split_dataset_by_node` makes; with fewer source shards than processes
  every process reads the whole stream and keeps its own batches.
- **Held-out text** is chosen by content, not position: a piece is held out when the CRC-32 of its text falls in
  the lowest `validation_fraction` of the range. The choice needs no pass over the corpus, is the same on every
  process and every run, and holds duplicates out together. Evaluation uses the first held-out pieces up to
  `max_eval_tokens` (a fixed sample, cut exactly at the cap).
- **Tokenizer** is trained on the first `tokenizer_sample_bytes` of the training pieces (the head of the stream,
  not an even sample: spreading it would need a pass over the corpus).
- **Packing** concatenates the documents of each process's group of shards with eos between them into
  `block_size` blocks, carrying the remainder across batches and shards: one process packs exactly the blocks
  the map path packs from the same pieces.
"""

from __future__ import annotations

import codecs
import io
import os
import zlib
from pathlib import Path

import numpy as np
from datasets import Dataset, IterableDataset, concatenate_datasets, load_dataset, load_from_disk
from transformers import PreTrainedTokenizerBase

from .packing import _block_features, block_positions
from .sources import (PIECE_CHARS, PIECE_FEATURES, DataError, _expand, _rows_to_pieces, check_parquet_columns,
                      cut_point)

SHARD_BYTES = 64 << 20  # a text file's byte range per shard: a 1 GB file gives 16 processes a part each
BOUNDARY_SCAN = 1 << 20  # how far past a range's nominal start a newline is looked for
HOLD_OUT_BUCKETS = 1 << 16
PIECES_PER_BATCH = 256


def is_held_out(text: str, validation_fraction: float) -> bool:
    """Whether a piece belongs to the held-out split: by the CRC-32 of its text, so no position or count is needed."""
    return zlib.crc32(text.encode("utf-8")) % HOLD_OUT_BUCKETS < validation_fraction * HOLD_OUT_BUCKETS


def text_ranges(file: Path, shard_bytes: int | None = None) -> list[tuple[int, int]]:
    """Byte ranges of `file` that together cover it, each (but the first) starting just after a newline; a part
    with no newline near a nominal cut stays with the range before it."""
    shard_bytes = shard_bytes or SHARD_BYTES
    size = file.stat().st_size
    starts = [0]
    with open(file, "rb") as handle:
        for nominal in range(shard_bytes, size, shard_bytes):
            if nominal <= starts[-1]:
                continue
            handle.seek(nominal)
            window = handle.read(BOUNDARY_SCAN)
            newline = window.find(b"\n")
            if newline >= 0 and nominal + newline + 1 < size:
                starts.append(nominal + newline + 1)
    return list(zip(starts, starts[1:] + [size]))


def _range_pieces(files: list[str], starts: list[int], ends: list[int], last: list[bool], piece_chars: int):
    """Generator for `IterableDataset.from_generator`: the pieces of byte range [start, end) of each file, decoded
    incrementally and cut exactly as the map path cuts (a bad byte is named by file and offset). `datasets` shards the lists: one range per shard."""
    for file, start, end, file_ends in zip(files, starts, ends, last):
        # Newlines translated as the map path's text-mode reads do (\r\n and \r -> \n, also across reads).
        decoder = io.IncrementalNewlineDecoder(codecs.getincrementaldecoder("utf-8")(), translate=True)
        with open(file, "rb") as handle:
            handle.seek(start)
            position, buffer = start, ""
            while True:
                raw = handle.read(min(piece_chars * 4, end - position))
                try:
                    buffer += decoder.decode(raw, final=not raw)
                except UnicodeDecodeError as exc:
                    raise DataError(f"{file}: not valid UTF-8 near byte {position + exc.start}") from None
                position += len(raw)
                while len(buffer) > piece_chars or (not raw and buffer):
                    cut = cut_point(buffer[:piece_chars]) if len(buffer) > piece_chars else len(buffer)
                    piece, buffer = buffer[:cut], buffer[cut:]
                    yield {"text": piece, "doc": 0, "offset": 0, "end": bool(file_ends and not raw and not buffer),
                           "n_chars": len(piece), "n_bytes": len(piece.encode("utf-8"))}
                if not raw:
                    break


def _text_stream(files: list[Path]) -> IterableDataset:
    shards = [(str(f), start, end, end == f.stat().st_size) for f in files for start, end in text_ranges(f)]
    names, starts, ends, last = (list(column) for column in zip(*shards))
    return IterableDataset.from_generator(
        _range_pieces, features=PIECE_FEATURES,
        gen_kwargs={"files": names, "starts": starts, "ends": ends, "last": last, "piece_chars": PIECE_CHARS})


def _table_stream(ds: IterableDataset, column: str, label: str) -> IterableDataset:
    names = list(ds.features) if ds.features else None
    if names is not None and column not in names:
        raise DataError(f"{label} has no {column!r} field (fields: {', '.join(names)})")
    ds = ds.select_columns([column])
    if column != "text":
        ds = ds.rename_column(column, "text")
    ds = ds.filter(lambda batch: [bool(t and t.strip()) for t in batch["text"]], batched=True)
    return ds.map(_rows_to_pieces, batched=True, with_indices=True, remove_columns=["text"], features=PIECE_FEATURES,
                  fn_kwargs={"first_doc": 0, "piece_chars": PIECE_CHARS})


def stream_documents(paths: list[str | os.PathLike], text_field: str = "text", dataset: str | None = None,
                     dataset_config: str | None = None, split: str = "train") -> IterableDataset:
    """Every input as a stream of pieces (the rows of `sources`, with `doc` and `offset` left 0). Files are named
    and their fields checked up front; their bytes are read only as the stream is consumed."""
    kinds = _expand(paths)
    parts: list[IterableDataset] = []
    if kinds["text"]:
        parts.append(_text_stream(kinds["text"]))
    for kind, builder in (("jsonl", "json"), ("csv", "csv"), ("parquet", "parquet")):
        if kinds[kind]:
            files = [str(p) for p in kinds[kind]]
            _check_first_row(kind, kinds[kind], text_field)
            table = load_dataset(builder, data_files=files, split="train", streaming=True)
            parts.append(_table_stream(table, text_field, ", ".join(files)))
    for path in kinds["saved"]:
        saved = load_from_disk(str(path))
        saved = saved["train"] if hasattr(saved, "keys") and "train" in saved else (
            next(iter(saved.values())) if hasattr(saved, "keys") else saved)
        parts.append(_table_stream(saved.to_iterable_dataset(num_shards=max(1, min(64, len(saved) // 1000))),
                                   text_field, f"dataset at {path}"))
    if dataset:
        try:
            hub = load_dataset(dataset, dataset_config, split=split, streaming=True)
        except Exception as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise DataError(f"could not stream dataset {dataset!r} (config {dataset_config!r}, split {split!r}): "
                            f"{first}") from None
        parts.append(_table_stream(hub, text_field, f"dataset {dataset!r}"))
    if not parts:
        raise DataError(f"no usable input in {', '.join(map(str, paths)) or 'the arguments'}")
    return parts[0] if len(parts) == 1 else concatenate_datasets(parts)


def _check_first_row(kind: str, files: list[Path], column: str) -> None:
    """The checks the map path makes before reading, on each file's first row / header / schema."""
    from . import sources

    if kind == "jsonl":
        problem = sources._bad_json_line([f for f in files if f.suffix.lower() == ".jsonl"], column,
                                         first_row_only=True)
        if problem:
            raise DataError(problem)
    elif kind == "csv":
        import csv

        for file in files:
            with open(file, encoding="utf-8", newline="") as handle:
                header = next(csv.reader(handle), [])
            if column not in header:
                raise DataError(f"{file} has no {column!r} column (header: {', '.join(header)})")
    elif kind == "parquet":
        check_parquet_columns(files, column)


def training_texts(pieces: IterableDataset, validation_fraction: float, max_bytes: int):
    """The first `max_bytes` of training text in the stream (for the tokenizer)."""
    used = 0
    for row in pieces:
        if is_held_out(row["text"], validation_fraction):
            continue
        if used + row["n_bytes"] > max_bytes:
            if used == 0:
                yield row["text"].encode("utf-8")[:max_bytes].decode("utf-8", errors="ignore")
            return
        used += row["n_bytes"]
        yield row["text"]


def held_out_head(pieces: IterableDataset, validation_fraction: float, tokenizer: PreTrainedTokenizerBase,
                  max_tokens: int) -> Dataset:
    """The first held-out pieces of the stream holding at least `max_tokens` tokens (or all there are), in memory;
    `prepare.evaluation_sample` then cuts them exactly at the cap."""
    rows, tokens = [], 0
    for row in pieces:
        if not is_held_out(row["text"], validation_fraction):
            continue
        rows.append(row)
        tokens += len(tokenizer(row["text"], add_special_tokens=False, verbose=False)["input_ids"]) + row["end"]
        if tokens > max_tokens:
            break
    if not rows:
        raise DataError("the stream holds no held-out text: raise --validation-fraction")
    return Dataset.from_list(rows, features=PIECE_FEATURES)


def _packed_blocks(groups: list[list[int]], pieces: IterableDataset, num_shards: int, tokenizer, block_size: int,
                   validation_fraction: float, document_masking: bool, log_shards: bool):
    """Generator for the packed stream: the training pieces of a group of source shards, tokenized in batches and
    cut into blocks, the remainder carried into the next batch and shard. `datasets` calls it once per group."""
    eos = tokenizer.eos_token_id
    for shards in groups:
        if log_shards:
            print(f"[rank {os.environ.get('RANK', '0')}] streaming shards {shards[0]}..{shards[-1]} of {num_shards}",
                  flush=True)
        carry = np.empty(0, dtype=np.int32)
        for index in shards:
            shard = pieces.shard(num_shards=num_shards, index=index) if num_shards > 1 else pieces
            for batch in shard.iter(batch_size=PIECES_PER_BATCH):
                keep = [i for i, text in enumerate(batch["text"]) if not is_held_out(text, validation_fraction)]
                if not keep:
                    continue
                ids = tokenizer([batch["text"][i] for i in keep], add_special_tokens=False,
                                verbose=False)["input_ids"]
                flat = np.concatenate([carry] + [np.asarray(seq + [eos] if batch["end"][i] else seq, dtype=np.int32)
                                                 for seq, i in zip(ids, keep)])
                usable = len(flat) // block_size * block_size
                carry = flat[usable:]
                blocks = flat[:usable].reshape(-1, block_size)
                positions = block_positions(blocks, eos) if document_masking else None
                for number, block in enumerate(blocks):
                    row = {"input_ids": block.tolist()}
                    if positions is not None:
                        row["position_ids"] = positions[number].tolist()
                    yield row


def stream_blocks(pieces: IterableDataset, tokenizer: PreTrainedTokenizerBase, block_size: int,
                  validation_fraction: float, document_masking: bool = False, processes: int = 1,
                  log_shards: bool = False) -> IterableDataset:
    """The training pieces of `pieces` as a stream of packed blocks.

    The source shards are dealt into `processes` contiguous groups, the packed stream's own shards: each process
    packs its group in one go, so only the last partial block of a group is dropped and with one process the
    blocks are exactly the map path's. With fewer source shards than processes there is one group, which every
    process reads (keeping its own batches)."""
    num_shards = max(1, pieces.num_shards)
    count = processes if num_shards >= processes else 1
    bounds = np.linspace(0, num_shards, count + 1).round().astype(int)
    groups = [list(range(bounds[g], bounds[g + 1])) for g in range(count)]
    return IterableDataset.from_generator(
        _packed_blocks, features=_block_features(block_size, document_masking),
        gen_kwargs={"groups": groups, "pieces": pieces, "num_shards": num_shards, "tokenizer": tokenizer,
                    "block_size": block_size, "validation_fraction": validation_fraction,
                    "document_masking": document_masking, "log_shards": log_shards})


def prepare_stream(pieces: IterableDataset, tokenizer: PreTrainedTokenizerBase, block_size: int,
                   validation_fraction: float, max_eval_tokens: int, document_masking: bool = False,
                   processes: int = 1, log_shards: bool = False):
    """The streaming counterpart of `prepare.prepare_data`: packed training blocks as a stream, and the evaluation
    sample (the first held-out text, exactly `max_eval_tokens` tokens or all there is) packed in memory."""
    from .packing import pack_blocks, tokenize_documents
    from .prepare import PackedData, evaluation_sample

    if not max_eval_tokens:
        raise DataError("max_eval_tokens: streaming evaluates a fixed sample of the held-out text; give a cap > 0")
    head = held_out_head(pieces, validation_fraction, tokenizer, max_eval_tokens)
    sample = evaluation_sample(head, tokenizer, max_eval_tokens, bytes_per_token=8.0)
    sample_tokens = tokenize_documents(sample, tokenizer)
    validation = pack_blocks(sample_tokens, block_size, tokenizer.eos_token_id, document_masking)
    if len(validation) == 0:
        raise DataError(f"the held-out text is shorter than one block of {block_size} tokens; lower --block-size "
                        "or raise --validation-fraction")
    from .documents import column, document_texts

    stats = {"streaming": True, "shards": max(1, pieces.num_shards),
             "eval_bytes": int(column(sample, "n_bytes").sum()),
             "eval_tokens": int(column(sample_tokens, "n_tokens").sum()), "eval_blocks": len(validation)}
    train = stream_blocks(pieces, tokenizer, block_size, validation_fraction, document_masking, processes,
                          log_shards)
    return PackedData(train, validation, document_texts(sample), stats)


__all__ = ["SHARD_BYTES", "prepare_stream", "held_out_head", "is_held_out", "stream_blocks", "stream_documents", "text_ranges",
           "training_texts"]
