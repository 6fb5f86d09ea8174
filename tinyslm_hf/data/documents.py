"""The held-out split and bounded samples of document pieces (the row layout is in `sources.py`).

Everything here reads only the small bookkeeping columns as arrays and keeps the text in the `datasets` cache, so
the cost in memory does not grow with the corpus.
"""

from __future__ import annotations

import math

import numpy as np
from datasets import Dataset, DatasetDict

from .sources import DATA_FORMAT, table_to_pieces

BATCH_BYTES = 2 << 20  # text per batch of a map: 256 full pieces, or thousands of short jsonl documents
MANY_DOCUMENTS = 20  # from here on whole documents are held out; below, every document is cut


def as_pieces(docs: Dataset) -> Dataset:
    """`docs` in the piece layout: a plain table with a `text` column is one document per row."""
    return docs if "doc" in docs.column_names else table_to_pieces(docs, "text", "documents")


def column(ds: Dataset, name: str) -> np.ndarray:
    """One column as a numpy array (respecting any selection or filter on `ds`)."""
    return np.asarray(ds.with_format("numpy", columns=[name])[name])


def rows_per_batch(rows: Dataset, column_name: str = "n_bytes", per_batch: float = BATCH_BYTES) -> int:
    """Rows per batch so that a batch holds about `per_batch` of `column_name` (bytes, or tokens): per-batch
    overhead dominates with small rows, memory with large ones."""
    if len(rows) == 0:
        return 256
    mean = float(column(rows, column_name).mean())
    return int(min(16384, max(64, per_batch / max(mean, 1.0))))


def _keep_documents(batch, held: np.ndarray, validation: bool, data_format: int = DATA_FORMAT):
    return (np.isin(np.asarray(batch["doc"]), held) == validation).tolist()


def _cut_documents(batch, points: dict[int, int], head: bool, data_format: int = DATA_FORMAT):
    out = {name: [] for name in batch}
    for text, doc, offset, end, n_chars, n_bytes in zip(batch["text"], batch["doc"], batch["offset"], batch["end"],
                                                        batch["n_chars"], batch["n_bytes"]):
        point, stop = points[doc], offset + n_chars
        if head and offset < point:
            piece, end, new_offset = text[: point - offset], end or stop >= point, offset
        elif not head and stop > point:
            piece, new_offset = text[max(0, point - offset):], max(0, offset - point)
        else:
            continue
        out["text"].append(piece)
        out["doc"].append(doc)
        out["offset"].append(new_offset)
        out["end"].append(end)
        out["n_chars"].append(len(piece))
        out["n_bytes"].append(n_bytes if len(piece) == n_chars else len(piece.encode("utf-8")))
    return out


def split_documents(docs: Dataset, validation_fraction: float = 0.1, seed: int = 0) -> DatasetDict:
    """Hold out a validation split.

    With few documents (e.g. one corpus file) every document is cut at (1 - fraction) of its characters and the
    tail goes to validation: for Tiny Shakespeare this is exactly nanoGPT's 90/10 split, so numbers compare.
    With many documents, whole documents are held out at random (seeded).
    """
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction}")
    docs = as_pieces(docs)
    ids = column(docs, "doc")
    unique, inverse = np.unique(ids, return_inverse=True)
    batch = rows_per_batch(docs)
    if len(unique) >= MANY_DOCUMENTS:
        n_held = min(len(unique) - 1, max(1, math.ceil(len(unique) * validation_fraction - 1e-9)))
        held = np.sort(np.random.default_rng(seed).choice(unique, n_held, replace=False))
        return DatasetDict({
            name: docs.filter(_keep_documents, batched=True, batch_size=batch, writer_batch_size=batch,
                              fn_kwargs={"held": held, "validation": validation, "data_format": DATA_FORMAT},
                              desc=f"{name} documents")
            for name, validation in (("train", False), ("validation", True))})
    totals = np.bincount(inverse, weights=column(docs, "n_chars"))
    points = {int(doc): int(total * (1.0 - validation_fraction)) for doc, total in zip(unique, totals)}
    return DatasetDict({
        name: docs.map(_cut_documents, batched=True, batch_size=batch, writer_batch_size=batch,
                       remove_columns=docs.column_names, features=docs.features,
                       fn_kwargs={"points": points, "head": head, "data_format": DATA_FORMAT},
                       desc=f"{name} part of each document")
        for name, head in (("train", True), ("validation", False))})


def even_sample(rows: Dataset, max_bytes: int) -> Dataset:
    """Rows spread evenly over `rows` (every k-th), at most `max_bytes` UTF-8 bytes in all: a sample whose size
    does not depend on the corpus. A budget smaller than one piece gets the start of the first piece."""
    sizes = column(rows, "n_bytes")
    if sizes.sum() <= max_bytes:
        return rows
    step = math.ceil(sizes.sum() / max_bytes)
    chosen = np.arange(0, len(rows), step)
    chosen = chosen[np.cumsum(sizes[chosen]) <= max_bytes]
    if len(chosen):
        return rows.select(chosen)
    head = rows[0]["text"].encode("utf-8")[:max_bytes].decode("utf-8", errors="ignore")
    return Dataset.from_dict({"text": [head], "doc": [rows[0]["doc"]], "offset": [0], "end": [False],
                              "n_chars": [len(head)], "n_bytes": [len(head.encode("utf-8"))]}, features=rows.features)


def document_texts(rows: Dataset) -> list[str]:
    """The pieces of `rows` put back together, one string per document (in row order)."""
    texts, current = [], []
    for batch in rows.iter(batch_size=256):
        for text, end in zip(batch["text"], batch["end"]):
            current.append(text)
            if end:
                texts.append("".join(current))
                current = []
    if current:
        texts.append("".join(current))
    return texts


def texts_of(rows: Dataset):
    """The pieces' texts, streamed (for training a tokenizer without holding them)."""
    for batch in rows.iter(batch_size=256):
        yield from batch["text"]


__all__ = ["as_pieces", "column", "document_texts", "even_sample", "rows_per_batch", "split_documents", "texts_of"]
