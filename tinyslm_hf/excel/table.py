"""The table a request is about: typed columns, a header row (row 1) and data rows from row 2, columns from A.

What a user pastes or describes (`schema_table`), and what examples carry (`table_from_json`); the formula executor,
the prompt and the schema linker read it. Random tables for training live in `synthetic/topics.py`.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

# Excel's serial date 0 is 1899-12-30 (the 1900 leap-year bug is folded into the offset).
EXCEL_EPOCH = _dt.date(1899, 12, 30)


TEXT, CATEGORY, NUMBER, DATE = "text", "category", "number", "date"


@dataclass
class Column:
    letter: str
    header: str
    kind: str
    values: list[Any] = field(default_factory=list)


@dataclass
class Table:
    """Header row 1, data rows 2..last_row, columns A.. in order. Dates are Excel serial numbers."""

    topic: str
    columns: list[Column]
    first_row: int = 2  # `ask --rows 5:40` describes a table whose data start lower down

    @property
    def n_rows(self) -> int:
        return len(self.columns[0].values) if self.columns else 0

    @property
    def last_row(self) -> int:
        return self.first_row + self.n_rows - 1

    @property
    def has_values(self) -> bool:
        """True if the table holds data (`ask --columns` describes one by its headers, with empty rows): only then
        can a formula be run on it, or a word be told to be a cell value."""
        return any(v is not None for col in self.columns for v in col.values)

    def column(self, letter: str) -> Column:
        for col in self.columns:
            if col.letter == letter:
                return col
        raise KeyError(letter)

    def cell(self, letter: str, row: int) -> Any:
        """Value at e.g. ("C", 5); row 1 is the header; None outside the table."""
        try:
            col = self.column(letter)
        except KeyError:
            return None
        if row == self.first_row - 1:
            return col.header
        idx = row - self.first_row
        return col.values[idx] if 0 <= idx < len(col.values) else None

    def to_json(self) -> dict:
        """The batch-file shape: {"headers": [...], "rows": [[...], ...]} (ISO dates; a blank stays blank)."""
        rows = []
        for i in range(self.n_rows):
            row = []
            for col in self.columns:
                v = col.values[i]
                row.append(serial_to_iso(v) if col.kind == DATE and v not in (None, "") else v)
            rows.append(row)
        return {"headers": [c.header for c in self.columns], "rows": rows}


def col_index(letters: str) -> int:
    """A -> 0, Z -> 25, AA -> 26: the inverse of `col_letter`."""
    index = 0
    for ch in letters.upper():
        index = index * 26 + ord(ch) - 64
    return index - 1


def col_letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def date_to_serial(day: _dt.date) -> int:
    return (day - EXCEL_EPOCH).days


def serial_to_iso(serial: int) -> str:
    return (EXCEL_EPOCH + _dt.timedelta(days=int(serial))).isoformat()


def table_from_json(obj: dict) -> Table:
    """Build a Table from the batch-file shape; ISO date strings become serial numbers, types are inferred."""
    if not isinstance(obj, dict) or not isinstance(obj.get("headers"), list):
        raise ValueError('table must be an object with "headers": [...] and "rows": [[...], ...]')
    headers = [str(h) for h in obj["headers"]]
    rows = obj.get("rows") or []
    if not isinstance(rows, list) or any(not isinstance(r, list) for r in rows):
        raise ValueError('"rows" must be a list of lists')
    types = obj.get("types")
    if types is not None and (not isinstance(types, list) or len(types) != len(headers)
                              or any(t not in (TEXT, CATEGORY, NUMBER, DATE) for t in types)):
        raise ValueError('"types" must list one of text/category/number/date per header')
    columns = []
    for i, header in enumerate(headers):
        raw = [r[i] if i < len(r) else None for r in rows]
        kind, values = _infer(raw)
        if types is not None:
            kind = types[i]
        columns.append(Column(col_letter(i), header, kind, values))
    return Table("user", columns)


def _infer(raw: list[Any]) -> tuple[str, list[Any]]:
    present = [v for v in raw if v not in (None, "")]
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return NUMBER, raw
    if present and all(isinstance(v, str) and _is_iso(v) for v in present):
        return DATE, [date_to_serial(_dt.date.fromisoformat(v)) if v else None for v in raw]
    distinct = {v for v in present}
    kind = CATEGORY if present and len(distinct) <= max(2, len(present) // 2) else TEXT
    return kind, raw


def _is_iso(value: str) -> bool:
    try:
        _dt.date.fromisoformat(value)
    except ValueError:
        return False
    return len(value) == 10


def schema_table(columns: dict[str, str], first_row: int, last_row: int) -> Table:
    """A values-free table for `ask --columns A=Region,... --rows 2:40` (data rows are empty)."""
    if first_row < 1 or last_row < first_row:
        raise ValueError(f"bad row range {first_row}:{last_row} (want e.g. 2:40)")
    cols = [Column(letter, header, TEXT, [None] * (last_row - first_row + 1)) for letter, header in columns.items()]
    return Table("user", cols, first_row=first_row)
