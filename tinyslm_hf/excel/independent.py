"""Evaluation sets nobody designed the model for: hand-written requests on tables outside the generator's topics.

The generated test split shares its templates and topics with training, so it measures how well the model learned
the generator, not how it copes with wording nobody planned for. These requests were written one at a time, the way
people type into a help box (terse, wordy, lowercase, with typos), over tables on other subjects (a library loans
log, a lab's samples, a festival line-up...). Every set is for evaluation only: never train on one.

* `independent`: the first set. Ranking rules and repairs were later written from its failures, so its score says
  how much of that wording the rules cover.
* `blind`: a set by other writers, who saw neither the generator, the code nor the first set. No rule is written
  from its requests or failures: its score is the one that says how the assistant copes with wording nobody looked
  at.
* `independent2`: a set written the same way as the blind one (by other writers again, on other tables), to
  develop on: what fails here may be read and fixed, and the blind set then says whether the fix generalises.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any, Iterable

from .example import Example
from .executor import execute
from .table import table_from_json

SETS = ("independent", "blind", "independent2")
SPLIT = "independent"
_FIELDS = ("id", "table", "request", "formula", "function", "difficulty")
_DIFFICULTIES = ("easy", "medium", "hard")


def _read(name: str) -> str:
    return (resources.files("tinyslm_hf.excel") / "data" / name).read_text(encoding="utf-8")


def _check_set(name: str) -> str:
    if name not in SETS:
        raise ValueError(f"unknown evaluation set {name!r}: one of {', '.join(SETS)}")
    return name


def load_tables(name: str = SPLIT) -> dict[str, dict]:
    """A set's tables: {table name: {"headers": [...], "rows": [[...], ...], "types": [...]}}."""
    return json.loads(_read(f"{_check_set(name)}_tables.json"))


def load_records(name: str = SPLIT) -> list[dict]:
    """A set's requests, one dict per non-blank line of its JSON-lines file."""
    file = f"{_check_set(name)}_requests.jsonl"
    records = []
    for lineno, line in enumerate(_read(file).splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{file}:{lineno}: not a JSON line ({exc})") from exc
    return records


def load_examples(tables: dict[str, dict], records: Iterable[dict[str, Any]], split: str = SPLIT) -> list[Example]:
    """One Example per record, its `expected` value computed by running the reference formula on its table.

    `split` names the set in each Example. Raises ValueError naming the record id when a record lacks a field,
    names an unknown table, or its reference does not give one plain value (an Excel error, a parse failure or an
    array).
    """
    examples = []
    for record in records:
        rid = record.get("id", "?") if isinstance(record, dict) else "?"
        missing = [f for f in _FIELDS if not isinstance(record, dict) or not isinstance(record.get(f), str)]
        if missing:
            raise ValueError(f"{split} record {rid}: missing or non-text field(s) {', '.join(missing)}")
        if record["table"] not in tables:
            raise ValueError(f"{split} record {rid}: unknown table {record['table']!r}")
        if record["difficulty"] not in _DIFFICULTIES:
            raise ValueError(f"{split} record {rid}: difficulty must be one of {_DIFFICULTIES}")
        try:
            table = table_from_json(tables[record["table"]])  # one Table per example: nothing shares mutable state
        except ValueError as exc:
            raise ValueError(f"{split} table {record['table']}: {exc}") from exc
        result = execute(record["formula"], table)
        if not result.ok:
            raise ValueError(f"{split} record {rid}: reference {record['formula']} does not run ({result.error})")
        if isinstance(result.value, tuple):
            raise ValueError(f"{split} record {rid}: reference {record['formula']} gives an array, not one value")
        examples.append(Example(id=record["id"], split=split, table=table, request=record["request"],
                                formula=record["formula"], expected=result.value, function=record["function"],
                                difficulty=record["difficulty"], family=record["function"]))
    return examples


def set_examples(name: str) -> list[Example]:
    """Every example of a shipped set (`SETS`; a fresh list on each call)."""
    return load_examples(load_tables(name), load_records(name), split=name)


def independent_examples() -> list[Example]:
    """Every example of the first independent set (a fresh list on each call)."""
    return set_examples("independent")
