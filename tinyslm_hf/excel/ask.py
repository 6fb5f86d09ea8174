"""Answer requests with a trained model: one request against a described schema, or a JSONL batch of tables."""

from __future__ import annotations

import os
import re

from .evaluate import predict_formulas
from .synonyms import request_reader
from .example import read_json_lines, write_json_lines
from .table import Table, schema_table, table_from_json

_COLUMN = re.compile(r"^\s*([A-Za-z]{1,3})\s*=\s*(.+?)\s*$")


def parse_columns(spec: str) -> dict[str, str]:
    """'A=Region,B=Rep,C=Sales' -> {'A': 'Region', ...} (letters upper-cased, order kept)."""
    columns: dict[str, str] = {}
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        m = _COLUMN.match(part)
        if not m:
            raise ValueError(f"bad column {part.strip()!r} in --columns (want e.g. A=Region,B=Rep,C=Sales)")
        letter = m.group(1).upper()
        if letter in columns:
            raise ValueError(f"column {letter} given twice in --columns")
        columns[letter] = m.group(2)
    if not columns:
        raise ValueError("--columns is empty (want e.g. A=Region,B=Rep,C=Sales)")
    return columns


def parse_rows(spec: str) -> tuple[int, int]:
    """'2:40' -> (2, 40)."""
    m = re.match(r"^\s*(\d+)\s*[:\-]\s*(\d+)\s*$", spec or "")
    if not m:
        raise ValueError(f"bad --rows {spec!r} (want FIRST:LAST, e.g. 2:40)")
    first, last = int(m.group(1)), int(m.group(2))
    if first < 2 or last < first:
        raise ValueError(f"bad --rows {spec!r}: data start at row 2 or later (row 1 holds the headers) and LAST >= FIRST")
    return first, last


def ask(model, tokenizer, request: str, columns: dict[str, str], rows: tuple[int, int],
        constrained: bool = False, candidates: int = 1, synonyms: bool = False, readings: int = 1) -> str:
    """The formula for one request about a table known only by its headers and data row range.

    `synonyms`: rewrite request words the model never read in training (`synonyms.RequestRewriter`), trying up to
    `readings` senses of them."""
    if not request or not request.strip():
        raise ValueError("the request is empty")
    table = schema_table(columns, *rows)
    return predict_formulas(model, tokenizer, [(table, request, False)], batch_size=1, constrained=constrained,
                            candidates=candidates, rewrite=request_reader(synonyms, readings))[0]


def _batch_item(obj, lineno: int) -> tuple[object, Table, str]:
    if not isinstance(obj, dict) or "request" not in obj or "table" not in obj:
        raise ValueError('need "id", "table" and "request"')
    if not isinstance(obj["request"], str) or not obj["request"].strip():
        raise ValueError('"request" must be a non-empty string')
    return obj.get("id", lineno), table_from_json(obj["table"]), obj["request"]


def read_batch(path: str | os.PathLike) -> list[tuple[object, Table, str]]:
    """Parse a batch file: one {"id", "table": {"headers", "rows"}, "request"} per line; errors name the line."""
    return read_json_lines(path, _batch_item)


def answer_batch(model, tokenizer, in_path: str | os.PathLike, out_path: str | os.PathLike,
                 constrained: bool = False, batch_size: int = 32, candidates: int = 1,
                 synonyms: bool = False, readings: int = 1) -> int:
    """Answer every line of `in_path` and write {"id", "formula"} lines to `out_path` (atomically); returns the count."""
    items = read_batch(in_path)
    formulas = predict_formulas(model, tokenizer, [(t, r, True) for _, t, r in items], batch_size=batch_size,
                                constrained=constrained, candidates=candidates,
                                rewrite=request_reader(synonyms, readings))
    return write_json_lines(
        ({"id": item_id, "formula": formula} for (item_id, _, _), formula in zip(items, formulas)), out_path)
