"""One example of the task - a request about a table, the reference formula and the value it evaluates to - and its
JSON-lines form (written atomically), shared by the synthetic data, the evaluation and `excel ask --batch`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .table import Table, table_from_json

@dataclass
class Example:
    """One request about one table, with the reference formula and the value it evaluates to."""

    id: str
    split: str
    table: Table
    request: str
    formula: str
    expected: Any
    function: str
    difficulty: str
    family: str
    show_samples: bool = True

    def to_json(self) -> dict:
        table = self.table.to_json()
        table["types"] = [c.kind for c in self.table.columns]
        return {"id": self.id, "split": self.split, "table": table, "request": self.request, "formula": self.formula,
                "expected": self.expected, "function": self.function, "difficulty": self.difficulty,
                "family": self.family, "show_samples": self.show_samples}

    @classmethod
    def from_json(cls, obj: dict) -> Example:
        return cls(id=str(obj["id"]), split=obj.get("split", ""), table=table_from_json(obj["table"]),
                   request=obj["request"], formula=obj["formula"], expected=_expected_from_json(obj["expected"]),
                   function=obj.get("function", "?"), difficulty=obj.get("difficulty", "?"),
                   family=obj.get("family", "?"), show_samples=obj.get("show_samples", True))


def _expected_from_json(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_expected_from_json(v) for v in value)
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def write_json_lines(rows, path: str | os.PathLike) -> int:
    """Write dicts as JSON lines atomically (tmp file + rename; the tmp file is removed on error); returns the count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    count = 0
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
                count += 1
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return count


def write_jsonl(examples, path: str | os.PathLike) -> int:
    """Write examples as JSON lines atomically; returns the count."""
    return write_json_lines((ex.to_json() for ex in examples), path)


def read_json_lines(path: str | os.PathLike, parse, what: str = "") -> list:
    """`parse(obj, lineno)` for every non-blank JSON line of `path`; a bad line raises ValueError naming the file and
    line (`what` describes the expected line in the message)."""
    items = []
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                items.append(parse(json.loads(line), lineno))
            except (ValueError, KeyError, TypeError) as exc:  # json.JSONDecodeError is a ValueError
                detail = f"{what} ({exc})" if what else str(exc)
                raise ValueError(f"{path}:{lineno}: {detail}") from exc
    return items


def read_jsonl(path: str | os.PathLike) -> list[Example]:
    return read_json_lines(path, lambda obj, _: Example.from_json(obj), "not a valid example line")
