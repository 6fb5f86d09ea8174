"""Where training text comes from: text files, folders, globs, jsonl / parquet / csv files, saved datasets and Hub
datasets, all read into one `datasets` table of *document pieces*.

A user's corpus may be one 1 GB file with no newline, 100k small files or a jsonl of millions of rows. Loading a
file as one row makes every later step (filter, split, tokenize) hold the whole corpus in memory several times over,
so every document is cut into pieces of at most `PIECE_CHARS` characters and the pieces carry enough bookkeeping to
put documents back together:

- `text`: the piece; `doc`: the document it belongs to (0, 1, ... in input order); `offset`: characters of the
  document before this piece; `end`: whether the piece ends its document (packing puts end-of-text there);
  `n_chars`, `n_bytes`: the piece's length in characters and UTF-8 bytes (for splitting and sampling without
  reading the text again).

Pieces are cut where byte-level BPE would cut anyway (see `cut_point`), so tokenizing the pieces one by one gives
the same tokens as tokenizing the whole document.
"""

from __future__ import annotations

import codecs
import glob
import json
import os
from pathlib import Path

from datasets import Dataset, DatasetDict, Features, Value, concatenate_datasets, load_dataset, load_from_disk

# `datasets` keys its cache by a module-level function's name and arguments, not its code: bump DATA_FORMAT when
# what the pipeline's functions compute changes, so caches of the old code are not reused.
DATA_FORMAT = 3
PIECE_CHARS = 1 << 13  # the fast tokenizer costs more per byte on longer inputs (docs/data.md)
TEXT_SUFFIXES = {".txt", ".text", ".md"}
JSONL_SUFFIXES = {".jsonl", ".json"}
PARQUET_SUFFIXES = {".parquet"}
CSV_SUFFIXES = {".csv"}
PIECE_FEATURES = Features({
    "text": Value("string"), "doc": Value("int64"), "offset": Value("int64"), "end": Value("bool"),
    "n_chars": Value("int64"), "n_bytes": Value("int64"),
})


class DataError(ValueError):
    """Input the data pipeline cannot use; the message is one line naming the file, field or value."""


def check_text_file(path: Path) -> None:
    """Reject inputs that would silently train on garbage: empty, binary or non-UTF-8 files (with the byte offset
    of the first bad byte, read incrementally so a 1 GB file costs no memory)."""
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty")
    with open(path, "rb") as handle:
        head = handle.read(1 << 16)
        if b"\x00" in head:
            raise DataError(f"{path} looks binary (contains NUL bytes); pass UTF-8 text, jsonl or a saved dataset")
        handle.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        offset = 0
        while True:
            block = handle.read(1 << 20)
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                raise DataError(f"{path} is not valid UTF-8 (byte {offset - pending + exc.start}): re-encode it as "
                                "UTF-8") from None
            if not block:
                return
            offset += len(block)


def cut_point(text: str) -> int:
    """Where to end a piece taken from the start of `text`: the last place in its second half where the GPT-2
    pre-tokenizer splits anyway, so the cut changes no token.

    A line break between two non-space characters is always its own pre-token; so is the boundary before a space
    that separates two non-space characters (" word"). Text with neither (a very long run of one script without
    spaces) is cut at the end: the only place a piece may change a token.
    """
    half, last = len(text) // 2, len(text) - 1
    pos = text.rfind("\n", half, last)
    while pos > half:
        if not text[pos - 1].isspace() and not text[pos + 1].isspace():
            return pos + 1
        pos = text.rfind("\n", half, pos)
    pos = text.rfind(" ", half, last)
    while pos > half:
        if not text[pos - 1].isspace() and not text[pos + 1].isspace():
            return pos
        pos = text.rfind(" ", half, pos)
    return len(text)


def split_pieces(text: str, piece_chars: int = PIECE_CHARS) -> list[str]:
    """`text` as consecutive pieces of at most `piece_chars` characters, cut at `cut_point`."""
    pieces = []
    while len(text) > piece_chars:
        cut = cut_point(text[:piece_chars])
        pieces.append(text[:cut])
        text = text[cut:]
    pieces.append(text)
    return pieces


def _file_pieces(files: list[str], docs: list[int], stamps: list, piece_chars: int, data_format: int):
    """Generator for `Dataset.from_generator`: each file read incrementally and yielded as pieces of document
    `docs[i]`. `datasets` may shard the lists, so each file carries its own id; `stamps` (sizes and modification
    times) only key the cache."""
    del stamps, data_format
    for file, doc in zip(files, docs):
        with open(file, encoding="utf-8") as handle:
            buffer, offset = "", 0
            while True:
                block = handle.read(piece_chars)
                buffer += block
                while len(buffer) > piece_chars or (not block and buffer):
                    cut = cut_point(buffer[:piece_chars]) if len(buffer) > piece_chars else len(buffer)
                    piece, buffer = buffer[:cut], buffer[cut:]
                    yield {"text": piece, "doc": doc, "offset": offset, "end": not block and not buffer,
                           "n_chars": len(piece), "n_bytes": len(piece.encode("utf-8"))}
                    offset += len(piece)
                if not block:
                    break


def _text_files_to_pieces(files: list[Path]) -> Dataset:
    names = [str(f) for f in files]
    stamps = [(f.stat().st_size, f.stat().st_mtime_ns) for f in files]
    return Dataset.from_generator(
        _file_pieces, features=PIECE_FEATURES, writer_batch_size=256,
        gen_kwargs={"files": names, "docs": list(range(len(files))), "stamps": stamps,
                    "piece_chars": PIECE_CHARS, "data_format": DATA_FORMAT})


def _rows_to_pieces(batch, indices, first_doc: int, piece_chars: int, data_format: int = DATA_FORMAT):
    out = {name: [] for name in PIECE_FEATURES}
    for text, index in zip(batch["text"], indices):
        pieces, offset = split_pieces(text, piece_chars), 0
        for number, piece in enumerate(pieces):
            out["text"].append(piece)
            out["doc"].append(first_doc + index)
            out["offset"].append(offset)
            out["end"].append(number == len(pieces) - 1)
            out["n_chars"].append(len(piece))
            out["n_bytes"].append(len(piece.encode("utf-8")))
            offset += len(piece)
    return out


def table_to_pieces(ds: Dataset, column: str, label: str, first_doc: int = 0) -> Dataset:
    """Rows of a table (one document each) as pieces; empty and missing texts are dropped."""
    if column not in ds.column_names:
        raise DataError(f"{label} has no {column!r} field (fields: {', '.join(ds.column_names)})")
    dtype = getattr(ds.features[column], "dtype", None)
    if dtype not in ("string", "large_string"):
        raise DataError(f"{label}: field {column!r} holds {ds.features[column]}, not text")
    ds = ds.select_columns([column])
    if column != "text":
        ds = ds.rename_column(column, "text")
    ds = ds.filter(lambda batch: [bool(t and t.strip()) for t in batch["text"]], batched=True,
                   desc="drop empty documents")
    return ds.map(_rows_to_pieces, batched=True, with_indices=True, remove_columns=["text"], features=PIECE_FEATURES,
                  fn_kwargs={"first_doc": first_doc, "piece_chars": PIECE_CHARS, "data_format": DATA_FORMAT},
                  desc="cut documents into pieces")


def _expand(paths: list[str | os.PathLike]) -> dict[str, list[Path]]:
    """Paths, folders and globs -> files by kind. Named files are used whatever their suffix (as text unless
    jsonl/parquet/csv); in folders only known suffixes are read and empty files are skipped."""
    kinds: dict[str, list[Path]] = {"text": [], "jsonl": [], "parquet": [], "csv": [], "saved": []}

    def add(file: Path, named: bool) -> None:
        suffix = file.suffix.lower()
        kind = ("jsonl" if suffix in JSONL_SUFFIXES else "parquet" if suffix in PARQUET_SUFFIXES
                else "csv" if suffix in CSV_SUFFIXES else "text" if suffix in TEXT_SUFFIXES or named else None)
        if kind and (named or file.stat().st_size > 0):
            kinds[kind].append(file)

    for raw in paths:
        path = Path(raw)
        if not path.exists():
            if glob.has_magic(str(raw)):
                matches = sorted(Path(m) for m in glob.glob(str(raw), recursive=True) if Path(m).is_file())
                if not matches:
                    raise DataError(f"no file matches {raw}")
                for match in matches:
                    add(match, named=True)
                continue
            raise FileNotFoundError(f"data path not found: {path}")
        if path.is_dir() and ((path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists()):
            kinds["saved"].append(path)
        elif path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
            if not files:
                raise DataError(f"{path} contains no files")
            before = sum(len(v) for v in kinds.values())
            for file in files:
                add(file, named=False)
            if sum(len(v) for v in kinds.values()) == before:
                known = sorted(TEXT_SUFFIXES | JSONL_SUFFIXES | PARQUET_SUFFIXES | CSV_SUFFIXES)
                raise DataError(f"{path} holds no non-empty file with a known suffix ({' '.join(known)})")
        else:
            add(path, named=True)
    return kinds


def _bad_json_line(files: list[Path], column: str, first_row_only: bool = False) -> str | None:
    """'FILE:LINE: ...' for the first line that is not a JSON object with a `column` field, if any; with
    `first_row_only`, only each file's first row is read (a missing field is named before `datasets` parses 1 GB)."""
    for file in files:
        rows = 0
        with open(file, encoding="utf-8") as handle:
            for lineno, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                rows += 1
                try:
                    row = json.loads(line)
                except ValueError as exc:
                    return f"{file}:{lineno}: not valid JSON ({exc})"
                if not isinstance(row, dict):
                    return f"{file}:{lineno}: each line must be a JSON object, got {type(row).__name__}"
                if column not in row:
                    return f"{file}:{lineno}: no {column!r} field (fields: {', '.join(row) or 'none'})"
                if first_row_only:
                    break
        if not rows:
            return f"{file} has no rows"
    return None


def _load_jsonl(files: list[Path], column: str) -> Dataset:
    for file in files:
        check_text_file(file)
    problem = _bad_json_line([f for f in files if f.suffix.lower() == ".jsonl"], column, first_row_only=True)
    if problem:
        raise DataError(problem)
    try:
        return load_dataset("json", data_files=[str(p) for p in files], split="train")
    except Exception as exc:  # datasets' DatasetGenerationError wraps the parser's error: name the line
        raise DataError(_bad_json_line(files, column) or f"could not read {', '.join(map(str, files))}: "
                        f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc


def check_parquet_columns(files: list[Path], column: str) -> None:
    """Every parquet file is readable and has `column`, checked from the schemas before any data is read."""
    import pyarrow.parquet as pq

    for file in files:
        try:
            names = pq.read_schema(file).names
        except Exception as exc:
            raise DataError(f"{file} is not a readable parquet file ({exc})") from None
        if column not in names:
            raise DataError(f"{file} has no {column!r} column (columns: {', '.join(names)})")


def _load_parquet(files: list[Path], column: str) -> Dataset:
    check_parquet_columns(files, column)
    return load_dataset("parquet", data_files=[str(p) for p in files], split="train")


def _load_csv(files: list[Path], column: str) -> Dataset:
    import csv

    for file in files:
        check_text_file(file)
        with open(file, encoding="utf-8", newline="") as handle:
            header = next(csv.reader(handle), [])
        if column not in header:
            raise DataError(f"{file} has no {column!r} column (header: {', '.join(header)})")
    return load_dataset("csv", data_files=[str(p) for p in files], split="train")


def _load_saved(path: Path) -> Dataset:
    ds = load_from_disk(str(path))
    if isinstance(ds, DatasetDict):
        ds = ds["train"] if "train" in ds else next(iter(ds.values()))
    return ds


def load_hub_dataset(name: str, config: str | None = None, split: str = "train") -> Dataset:
    """A dataset by Hub name (or a local dataset folder `load_dataset` understands), one split. Offline, only what
    the `datasets` cache already holds loads."""
    try:
        ds = load_dataset(name, config, split=split)
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"could not load dataset {name!r} (config {config!r}, split {split!r}): {first}") from None
    return ds


def load_documents(paths: list[str | os.PathLike], text_field: str = "text", dataset: str | None = None,
                   dataset_config: str | None = None, split: str = "train") -> Dataset:
    """Every input as document pieces (see the module docstring). Every file is checked before any is read."""
    kinds = _expand(paths)
    for file in kinds["text"]:
        check_text_file(file)
    tables: list[tuple[Dataset, str]] = []
    if kinds["jsonl"]:
        tables.append((_load_jsonl(kinds["jsonl"], text_field), ", ".join(map(str, kinds["jsonl"]))))
    if kinds["parquet"]:
        tables.append((_load_parquet(kinds["parquet"], text_field), ", ".join(map(str, kinds["parquet"]))))
    if kinds["csv"]:
        tables.append((_load_csv(kinds["csv"], text_field), ", ".join(map(str, kinds["csv"]))))
    for path in kinds["saved"]:
        tables.append((_load_saved(path), f"dataset at {path}"))
    if dataset:
        tables.append((load_hub_dataset(dataset, dataset_config, split), f"dataset {dataset!r}"))
    if not kinds["text"] and not tables:
        raise DataError(f"no usable input in {', '.join(map(str, paths)) or 'the arguments'}")

    parts, first_doc = [], 0
    if kinds["text"]:
        parts.append(_text_files_to_pieces(kinds["text"]))
        first_doc = len(kinds["text"])
    for table, label in tables:
        pieces = table_to_pieces(table, text_field, label, first_doc)
        if len(pieces):
            parts.append(pieces)
            first_doc = int(pieces[-1]["doc"]) + 1
    docs = concatenate_datasets(parts) if len(parts) > 1 else parts[0] if parts else None
    if docs is None or len(docs) == 0:
        raise DataError("all input documents are empty")
    return docs


__all__ = ["DataError", "PIECE_CHARS", "check_text_file", "cut_point", "load_documents", "load_hub_dataset",
           "split_pieces", "table_to_pieces"]
