"""An evaluation set nobody designed the model for: hand-written requests on tables outside the generator's topics.

The generated test split shares its templates and topics with training, so it measures how well the model learned
the generator, not how it copes with wording nobody planned for. These requests were written one at a time, the way
people type into a help box (terse, wordy, lowercase, with typos), over twelve tables on other subjects (a library
loans log, a lab's samples, a festival line-up...). The set is for evaluation only: never train on it.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any, Iterable

from .example import Example
from .executor import execute
from .table import table_from_json

TABLES_FILE = "independent_tables.json"
REQUESTS_FILE = "independent_requests.jsonl"
SPLIT = "independent"
_FIELDS = ("id", "table", "request", "formula", "function", "difficulty")
_DIFFICULTIES = ("easy", "medium", "hard")


def _read(name: str) -> str:
    return (resources.files("tinyslm_hf.excel") / "data" / name).read_text(encoding="utf-8")


def load_tables() -> dict[str, dict]:
    """The shipped tables: {name: {"headers": [...], "rows": [[...], ...], "types": [...]}}."""
    return json.loads(_read(TABLES_FILE))


def load_records() -> list[dict]:
    """The shipped requests, one dict per non-blank line of the JSON-lines file."""
    records = []
    for lineno, line in enumerate(_read(REQUESTS_FILE).splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{REQUESTS_FILE}:{lineno}: not a JSON line ({exc})") from exc
    return records


def load_examples(tables: dict[str, dict], records: Iterable[dict[str, Any]]) -> list[Example]:
    """One Example per record, its `expected` value computed by running the reference formula on its table.

    Raises ValueError naming the record id when a record lacks a field, names an unknown table, or its reference
    does not give one plain value (an Excel error, a parse failure or an array).
    """
    examples = []
    for record in records:
        rid = record.get("id", "?") if isinstance(record, dict) else "?"
        missing = [f for f in _FIELDS if not isinstance(record, dict) or not isinstance(record.get(f), str)]
        if missing:
            raise ValueError(f"independent record {rid}: missing or non-text field(s) {', '.join(missing)}")
        if record["table"] not in tables:
            raise ValueError(f"independent record {rid}: unknown table {record['table']!r}")
        if record["difficulty"] not in _DIFFICULTIES:
            raise ValueError(f"independent record {rid}: difficulty must be one of {_DIFFICULTIES}")
        try:
            table = table_from_json(tables[record["table"]])  # one Table per example: nothing shares mutable state
        except ValueError as exc:
            raise ValueError(f"independent table {record['table']}: {exc}") from exc
        result = execute(record["formula"], table)
        if not result.ok:
            raise ValueError(f"independent record {rid}: reference {record['formula']} does not run ({result.error})")
        if isinstance(result.value, tuple):
            raise ValueError(f"independent record {rid}: reference {record['formula']} gives an array, not one value")
        examples.append(Example(id=record["id"], split=SPLIT, table=table, request=record["request"],
                                formula=record["formula"], expected=result.value, function=record["function"],
                                difficulty=record["difficulty"], family=record["function"]))
    return examples


def independent_examples() -> list[Example]:
    """Every shipped independent example (a fresh list on each call)."""
    return load_examples(load_tables(), load_records())
