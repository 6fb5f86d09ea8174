"""Run a formula string on a Table with the `formulas` package (an Excel formula engine), never Python's eval.

Whatever the model writes, `execute` returns an `ExecResult`: a value, or an error message when the formula does
not parse, names an unknown function, or refers to something that is not a cell. Execution accuracy compares
`ExecResult.value`s with `values_equal`.
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from .table import Table, col_index, col_letter

# schedula logs a full traceback for every formula that fails; a wrong prediction is an expected outcome here.
logging.getLogger("schedula").setLevel(logging.CRITICAL)
logging.getLogger("formulas").setLevel(logging.CRITICAL)

_REF = re.compile(r"^\$?([A-Z]{1,3})\$?(\d+)$")
_RANGE = re.compile(r"^\$?([A-Z]{1,3})\$?(\d+)?:\$?([A-Z]{1,3})\$?(\d+)?$")
_MAX_CELLS = 200_000  # a typo like A2:XFD1048576 must not allocate a giant grid
# A single cell outside quoted text and ranges: `C6` in `=ABS(C6-D6)`, not `C2:C9`, `"B7"` or `RANK.EQ(`.
_SINGLE_CELL = re.compile(r'"(?:[^"]|"")*"|\$?[A-Z]{1,3}\$?\d+:\$?[A-Z]{1,3}\$?\d+|'
                          r'(?<![A-Za-z0-9_.$])\$?([A-Z]{1,3})\$?(\d+)(?![\d(:])')


def single_cells(formula: str) -> set[tuple[str, int]]:
    """(column letter, row) of each single cell a formula uses (`=ABS(C6-D6)` -> C6, D6); ranges and quoted text
    are skipped, `$` signs dropped."""
    return {(m.group(1), int(m.group(2))) for m in _SINGLE_CELL.finditer(formula) if m.group(1)}


@dataclass(frozen=True)
class ExecResult:
    value: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@lru_cache(maxsize=1)
def _empty():
    import schedula

    return schedula.EMPTY


def _cell(table: Table, letter: str, row: int) -> Any:
    value = table.cell(letter, row)
    return _empty() if value is None else value


def _input_value(table: Table, name: str) -> Any:
    """Values for one input of a compiled formula: a scalar for a cell, a 2-D object array for a range."""
    name = name.split("!")[-1].upper()
    m = _REF.match(name)
    if m:
        return _cell(table, m.group(1), int(m.group(2)))
    m = _RANGE.match(name)
    if not m:
        raise ValueError(f"unknown name {name!r}")
    c1, r1, c2, r2 = m.group(1), m.group(2), m.group(3), m.group(4)
    if (r1 is None) != (r2 is None):
        raise ValueError(f"bad range {name!r}")
    if r1 is None:  # whole columns, e.g. C:C -> the header row to the last data row
        r1, r2 = 1, table.last_row
    r1, r2 = int(r1), int(r2)
    i1, i2 = sorted((col_index(c1), col_index(c2)))
    r1, r2 = sorted((r1, r2))
    if (i2 - i1 + 1) * (r2 - r1 + 1) > _MAX_CELLS:
        raise ValueError(f"range {name!r} is too large")
    grid = np.empty((r2 - r1 + 1, i2 - i1 + 1), dtype=object)
    for ri, row in enumerate(range(r1, r2 + 1)):
        for ci, idx in enumerate(range(i1, i2 + 1)):
            grid[ri, ci] = _cell(table, col_letter(idx), row)
    return grid


_WILDCARD = re.compile(r"(?<!~)[?*]")
# Criterion texts that look like a whole date (`2024-03-01`, `2024/3/1`, `3/1/2024`, `1-Mar-2024`, `Mar 5, 2024`,
# `Mar 2024`), TRUE/FALSE or an error value: the engine's own reading of them is Excel's. Numbers go to the engine
# too; any other text is compared as text.
_ENGINE_PARSES = re.compile(r"\s*(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}"
                            r"|\d{1,2}[- ][a-z]{3,9}\.?[- ,]+\d{2,4}|[a-z]{3,9}\.?[- ]\d{1,2}(,? \d{4})?"
                            r"|[a-z]{3,9}\.?[- ]\d{4}|true|false|#.*)\s*", re.IGNORECASE)


def _wildcard_pattern(text: str) -> re.Pattern:
    """Excel's `?` (one character) and `*` (any run), `~?` and `~*` their literal selves; case ignored."""
    pieces = _WILDCARD.split(text)
    wilds = [".*" if w == "*" else "." for w in _WILDCARD.findall(text)] + [""]
    literal = [re.escape(_unescaped(p)) for p in pieces]
    return re.compile("".join(lit + wild for lit, wild in zip(literal, wilds)), re.IGNORECASE | re.DOTALL)


def _unescaped(text: str) -> str:
    return text.replace("~?", "?").replace("~*", "*")


def _excel_criterion(original):
    """The engine's criteria test (shared by COUNTIF(S), SUMIF(S), AVERAGEIF(S), MAXIFS, MINIFS) with the cases it
    gets wrong answered as Excel answers them: a wildcard criterion (`*popcorn*`, `<>A*`) matches a text cell as a
    whole and ignoring case (the engine matched case, only the text's start, blank cells, and no wildcard after
    `<>`); `<>` alone counts the cells that are not blank and `=` alone the blank ones (the engine counted every
    cell and none); `<>` before a number or a date also counts blank and text cells; a text that is neither a
    number nor a whole date (`2A`, `T-105`) is compared as text ignoring case (the engine read `2A` as 2 AM today,
    so it matched every unit ending in A, and `T-105` as a day of 2005)."""

    from formulas.tokens.operand import XlError

    def is_text(value) -> bool:  # not blank, and not an Excel error (the engine's errors are `str`s too)
        return isinstance(value, str) and value != "" and not isinstance(value, XlError)

    def test(test_range, condition):
        if not isinstance(condition, str):
            return original(test_range, condition)
        negate = condition.startswith("<>")
        text = condition[2:] if negate else condition[1:] if condition.startswith("=") else condition
        if text.startswith(("<", ">", "=")):
            return original(test_range, condition)
        raw = test_range["raw"]
        if not text and condition in ("<>", "="):
            blank = np.vectorize(lambda value: value == "" or value is None, otypes=[bool])(raw)
            return ~blank if negate else blank
        if _WILDCARD.search(text):
            match = _wildcard_pattern(text).fullmatch

            def hit(value) -> bool:
                return is_text(value) and bool(match(value))
        elif text and not _is_number_text(text) and not _ENGINE_PARSES.fullmatch(text):
            folded = _unescaped(text).casefold()

            def hit(value) -> bool:
                return is_text(value) and value.casefold() == folded
        elif negate and text:
            return ~original(test_range, text)
        else:
            return original(test_range, condition)
        found = np.vectorize(hit, otypes=[bool])(raw)
        return ~found if negate else found

    return test


def _is_number_text(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _excel_datedif(original):
    """DATEDIF with its unit in any case, as Excel takes it (the engine refused a lower-case `"d"`)."""
    return lambda start, end, unit: original(start, end, unit.upper() if isinstance(unit, str) else unit)


@lru_cache(maxsize=1)
def _engine():
    """The `formulas` package, with the criteria and DATEDIF fixes above applied once."""
    import formulas
    import formulas.functions as functions
    from formulas.functions import date as dates

    criterion = "__xfilter"  # module-level name, looked up by the engine's conditional aggregates at each call
    setattr(functions, criterion, _excel_criterion(getattr(functions, criterion)))
    dates.FUNCTIONS["DATEDIF"] = functions.wrap_ufunc(_excel_datedif(dates.xdatedif),
                                                       input_parser=lambda *a: functions.text2num(a))
    return formulas


# `--` where an argument or a comparison starts (`SUMPRODUCT(--(A2:A9="x"))`): Excel's double negation, which turns
# TRUE/FALSE into 1/0. The engine cancels the two signs into a `+` that keeps the booleans (so the SUMPRODUCT gave
# 0); `1*` is the same coercion. After an arithmetic operator the engine's operator coerces already, and `1*` would
# bind wrongly (`E2/--E3`). Quoted texts are matched first and kept as they are.
_DOUBLE_NEGATION = re.compile(r'"(?:[^"]|"")*"|(?<=[(,=&<>])(\s*)--(?!-)')


def _with_coercing_negations(formula: str) -> str:
    return _DOUBLE_NEGATION.sub(lambda m: m.group(0) if m.group(1) is None else m.group(1) + "1*", formula)


@lru_cache(maxsize=4096)
def _compile(formula: str):
    return _engine().Parser().ast(_with_coercing_negations(formula))[1].compile()


def is_valid_syntax(formula: str) -> bool:
    """True when the `formulas` parser accepts the text as an Excel formula (it must start with '=')."""
    if not isinstance(formula, str) or not formula.startswith("="):
        return False
    try:
        _engine().Parser().ast(formula)
    except Exception:
        return False
    return True


def normalize(value: Any) -> Any:
    """Unwrap the engine's arrays/numpy scalars to plain Python: float, str, bool, ('#ERR', text) or a tuple."""
    from formulas.tokens.operand import XlError

    if isinstance(value, np.ndarray):
        if value.size == 1:
            return normalize(value.reshape(-1)[0])
        return tuple(normalize(v) for v in value.reshape(-1))
    if isinstance(value, XlError):
        return ("#ERR", str(value))
    if value is _empty():
        return 0.0  # Excel shows an empty reference as 0
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    if isinstance(value, str):
        return value
    return str(value)


def execute(formula: str, table: Table) -> ExecResult:
    """Evaluate `formula` against `table`. Never raises: failures come back as `ExecResult(error=...)`."""
    if not isinstance(formula, str) or not formula.strip().startswith("="):
        return ExecResult(error="not a formula (must start with '=')")
    formula = formula.strip()
    try:
        func = _compile(formula)
        args = [_input_value(table, name) for name in func.inputs]
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            value = normalize(func(*args))
    except Exception as exc:  # the engine raises many types; any of them means "wrong"
        return ExecResult(error=f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}")
    if isinstance(value, tuple) and value and value[0] == "#ERR" and len(value) == 2:
        return ExecResult(value=value, error=f"Excel error {value[1]}")
    return ExecResult(value=value)


def values_equal(a: Any, b: Any, rel_tol: float = 1e-6, abs_tol: float = 1e-6) -> bool:
    """Excel-result equality: numbers within a tolerance, text exactly, arrays element-wise."""
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(values_equal(x, y, rel_tol, abs_tol) for x, y in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return False
        return math.isclose(a, b, rel_tol=rel_tol, abs_tol=abs_tol)
    return a == b


def is_correct(formula: str, table: Table, expected: Any) -> bool:
    """Execution accuracy for one prediction: it runs without error and gives the expected value."""
    result = execute(formula, table)
    return result.ok and values_equal(result.value, expected)
