"""Training data with `datasets`: text / jsonl / saved-dataset inputs -> documents -> tokens -> packed blocks.

`datasets` caches every `map` by fingerprint (under `HF_DATASETS_CACHE`), so a second run on the same files and
tokenizer reuses the tokenized blocks instead of re-tokenizing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from datasets import Dataset, DatasetDict, concatenate_datasets, load_dataset, load_from_disk
from transformers import PreTrainedTokenizerBase

from .corpus import embedded_corpus_path

TEXT_SUFFIXES = {".txt", ".text", ".md"}
JSONL_SUFFIXES = {".jsonl", ".json"}


def _check_text_file(path: Path) -> None:
    """Reject inputs that would silently train on garbage: empty, binary or non-UTF-8 files."""
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is empty")
    with open(path, "rb") as handle:
        head = handle.read(1 << 16)
    if b"\x00" in head:
        raise ValueError(f"{path} looks binary (contains NUL bytes); pass UTF-8 text, jsonl or a saved dataset")
    try:
        with open(path, encoding="utf-8") as handle:
            while handle.read(1 << 20):
                pass
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not valid UTF-8 (byte {exc.start}): re-encode it as UTF-8") from exc


def _expand(paths: list[str | os.PathLike]) -> tuple[list[Path], list[Path], list[Path]]:
    texts, jsonls, saved = [], [], []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise FileNotFoundError(f"data path not found: {path}")
        if path.is_dir() and ((path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists()):
            saved.append(path)
            continue
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            suffix = file.suffix.lower()
            if suffix in JSONL_SUFFIXES:
                jsonls.append(file)
            elif suffix in TEXT_SUFFIXES or not path.is_dir():
                texts.append(file)
        if path.is_dir() and not files:
            raise ValueError(f"{path} contains no files")
    return texts, jsonls, saved


def _first_bad_json_line(files: list[Path]) -> str | None:
    """'FILE:LINE: not valid JSON (...)' for the first line that does not parse, if any."""
    import json

    for file in files:
        with open(file, encoding="utf-8") as handle:
            for lineno, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except ValueError as exc:
                    return f"{file}:{lineno}: not valid JSON ({exc})"
                if not isinstance(row, dict):
                    return f"{file}:{lineno}: each line must be a JSON object, got {type(row).__name__}"
    return None


def load_documents(paths: list[str | os.PathLike], text_field: str = "text") -> Dataset:
    """One row per document with a `text` column: each text file is a document, each jsonl row is one."""
    texts, jsonls, saved = _expand(paths)
    parts: list[Dataset] = []
    for file in texts + jsonls:
        _check_text_file(file)
    if texts:
        parts.append(load_dataset("text", data_files=[str(p) for p in texts], sample_by="document", split="train"))
    if jsonls:
        try:
            ds = load_dataset("json", data_files=[str(p) for p in jsonls], split="train")
        except Exception as exc:  # datasets' DatasetGenerationError wraps the parser's error: name the line
            raise ValueError(_first_bad_json_line(jsonls) or f"could not read {[str(p) for p in jsonls]}: "
                             f"{exc}") from exc
        if text_field not in ds.column_names:
            raise ValueError(f"jsonl input has no {text_field!r} field (fields: {ds.column_names})")
        parts.append(ds.select_columns([text_field]).rename_column(text_field, "text") if text_field != "text"
                     else ds.select_columns(["text"]))
    for path in saved:
        ds = load_from_disk(str(path))
        if isinstance(ds, DatasetDict):
            ds = ds["train"] if "train" in ds else next(iter(ds.values()))
        if text_field not in ds.column_names:
            raise ValueError(f"dataset at {path} has no {text_field!r} column (columns: {ds.column_names})")
        parts.append(ds.select_columns([text_field]).rename_column(text_field, "text") if text_field != "text"
                     else ds.select_columns(["text"]))
    if not parts:
        raise ValueError(f"no usable input files in {[str(p) for p in paths]}")
    docs = concatenate_datasets(parts) if len(parts) > 1 else parts[0]
    docs = docs.filter(lambda batch: [bool(t and t.strip()) for t in batch["text"]], batched=True)
    if len(docs) == 0:
        raise ValueError("all input documents are empty")
    return docs


def split_documents(docs: Dataset, validation_fraction: float = 0.1, seed: int = 0) -> DatasetDict:
    """Hold out a validation split.

    With few documents (e.g. one corpus file) every document is cut at (1 - fraction) of its characters and the
    tail goes to validation: for Tiny Shakespeare this is exactly nanoGPT's 90/10 split, so numbers compare.
    With many documents, whole documents are held out at random.
    """
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction}")
    if len(docs) >= 20:
        split = docs.train_test_split(test_size=validation_fraction, seed=seed)
        return DatasetDict(train=split["train"], validation=split["test"])

    def cut(batch, keep_head: bool):
        out = []
        for text in batch["text"]:
            point = int(len(text) * (1.0 - validation_fraction))
            out.append(text[:point] if keep_head else text[point:])
        return {"text": out}

    return DatasetDict(
        train=docs.map(cut, batched=True, fn_kwargs={"keep_head": True}),
        validation=docs.map(cut, batched=True, fn_kwargs={"keep_head": False}),
    )


@dataclass
class PackedData:
    train: Dataset
    validation: Dataset
    validation_text: str  # the raw held-out text, for tokenizer-independent bits per byte


def document_positions(block: list[int], eos: int) -> list[int]:
    """Position ids that restart at 0 at every eos and at the block's start.

    Given to the model without an attention mask, they make each document attend only to itself (transformers
    derives the packed-sequence mask from restarting positions). The eos opens the segment of the document after it,
    like a BOS: the eos is predicted from its own document, and the next document's first token from the eos
    alone. A document cut by a block boundary continues at position 0, since it cannot see its earlier part there.
    """
    positions, position = [], 0
    for index, token in enumerate(block):
        position = 0 if index == 0 or token == eos else position + 1
        positions.append(position)
    return positions


def tokenize_and_pack(
    docs: Dataset, tokenizer: PreTrainedTokenizerBase, block_size: int, num_proc: int | None = None,
    document_masking: bool = False,
) -> Dataset:
    """Tokenize (batched, multi-process), append end-of-text to every document, pack into `block_size` blocks.

    Packing concatenates documents, so no padding is ever trained on; the eos between documents teaches the model
    where texts end. The incomplete last block is dropped. With `document_masking`, every block also gets
    `position_ids` (see `document_positions`) so that attention stays inside each document.
    """
    if block_size < 2:
        raise ValueError(f"block_size must be at least 2, got {block_size}")
    eos = tokenizer.eos_token_id

    def tokenize(batch):
        # Whole documents are longer than the context on purpose: they are packed into blocks below.
        ids = tokenizer(batch["text"], add_special_tokens=False, verbose=False)["input_ids"]
        return {"input_ids": [seq + [eos] for seq in ids]}

    def pack(batch):
        flat = [tok for seq in batch["input_ids"] for tok in seq]
        usable = (len(flat) // block_size) * block_size
        blocks = [flat[i : i + block_size] for i in range(0, usable, block_size)]
        if document_masking:
            return {"input_ids": blocks, "position_ids": [document_positions(b, eos) for b in blocks]}
        return {"input_ids": blocks}

    num_proc = num_proc if (num_proc or 0) > 1 and len(docs) >= 2 * (num_proc or 1) else None
    tokenized = docs.map(tokenize, batched=True, num_proc=num_proc, remove_columns=docs.column_names,
                         desc="tokenize")
    # One packing batch spans many documents; documents are long texts here so 1000 rows is plenty.
    return tokenized.map(pack, batched=True, batch_size=1000, desc=f"pack into {block_size}-token blocks")


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


def prepare_data(
    paths: list[str | os.PathLike],
    tokenizer: PreTrainedTokenizerBase,
    block_size: int,
    validation_fraction: float = 0.1,
    seed: int = 0,
    num_proc: int | None = None,
    text_field: str = "text",
    document_masking: bool = False,
) -> PackedData:
    """Files -> documents -> train/validation split -> packed token blocks (+ the raw validation text)."""
    splits = split_documents(load_documents(paths, text_field), validation_fraction, seed)
    train = tokenize_and_pack(splits["train"], tokenizer, block_size, num_proc, document_masking)
    validation = tokenize_and_pack(splits["validation"], tokenizer, block_size, num_proc, document_masking)
    if len(train) == 0:
        raise ValueError(f"training text is shorter than one block of {block_size} tokens; lower --block-size")
    if len(validation) == 0:
        raise ValueError(f"validation text is shorter than one block of {block_size} tokens; lower --block-size "
                         "or raise --validation-fraction")
    return PackedData(train, validation, "\n\n".join(splits["validation"]["text"]))


def training_texts(paths: list[str | os.PathLike], validation_fraction: float = 0.1, seed: int = 0,
                   text_field: str = "text"):
    """The training split's texts only (for training the tokenizer without seeing validation text)."""
    splits = split_documents(load_documents(paths, text_field), validation_fraction, seed)
    for row in splits["train"]:
        yield row["text"]


__all__ = [
    "PackedBlockCollator",
    "PackedData",
    "document_positions",
    "embedded_corpus_path",
    "load_documents",
    "prepare_data",
    "split_documents",
    "tokenize_and_pack",
    "training_texts",
]
