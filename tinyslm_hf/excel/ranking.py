"""Choosing among candidate formulas: what a formula does, read from its text, held to what the request asks for.

`pick_candidate` keeps, among a request's candidates (beams and their repaired copies, `repairs.py`), the first that
best meets the checks in order: it runs on the user's table (no Excel error, text criteria that match a cell, ranges
over the data rows, no column of text summed), then `request_checks`: the columns the request names, the
comparisons, cell values and IF labels it states, the numbers it writes, no reshaping function it does not ask for.
Everything here is plain string matching on the formula and the request; nothing runs a model.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict

from .constrained import string_literals
from .executor import execute, single_cells
from .linking import (NEGATED, addressed_rows, link_columns, normalise_number, request_comparisons, request_labels,
                      request_numbers, says)
from .synthetic.breadth import INTENTS
from .table import CATEGORY, DATE, TEXT, col_index, col_letter


_CELL_REF = re.compile(r'"(?:[^"]|"")*"?'  # a string literal (to the end if unclosed): skipped
                       r'|(?<![A-Za-z0-9_.$])\$?([A-Z]{1,3})\$?([0-9]+)?:\$?([A-Z]{1,3})\$?([0-9]+)?(?![A-Za-z0-9_(])'
                       r'|(?<![A-Za-z0-9_.$])\$?([A-Z]{1,3})\$?[0-9]+(?![A-Za-z0-9_(])')


def referenced_columns(formula: str) -> set[str]:
    """Column letters a formula reads: those of its cell references and every column a range spans (`A2:D9` reads
    A-D, `B:B` reads B); text inside string literals does not count."""
    columns: set[str] = set()
    for m in _CELL_REF.finditer(formula.upper()):
        if m.group(1):
            first, last = sorted((col_index(m.group(1)), col_index(m.group(3))))
            columns.update(col_letter(n) for n in range(first, min(last, first + 1000) + 1))
        elif m.group(5):
            columns.add(m.group(5))
    return columns


_OPS = r"(>=|<=|<>|>|<)"


_NUMBER = r"(-?\d+(?:\.\d+)?)"


_DATE = r"DATE\(\s*(\d{4})\s*,\s*(\d{1,2})\s*,\s*(\d{1,2})\s*\)"


_STRING = re.compile(r'"(?:[^"]|"")*"')


_CRITERION = re.compile(r'"' + _OPS + _NUMBER + r'"(?!\s*&)|"' + _OPS + r'"\s*&\s*' + _NUMBER + r"(?![\d.(])")


_DATE_CRITERION = re.compile(r'"' + _OPS + r'"\s*&\s*' + _DATE, re.I)


_CELL = r"(?<![A-Za-z0-9_.$])\$?[A-Z]{1,3}\$?\d+(?![\d(])"


_CELL_COMPARISON = re.compile(_CELL + r"\s*" + _OPS + r"\s*(?:" + _NUMBER + r"(?![\d.(])|" + _DATE + ")", re.I)


_NUMBER_CELL_COMPARISON = re.compile(r"(?<![\w.$])" + _NUMBER + r"\s*" + _OPS + r"\s*" + _CELL)


_FLIPPED = {">": "<", "<": ">", ">=": "<=", "<=": ">=", "<>": "<>"}


_CRITERION_MARKS = re.compile(r"^(?:<>|>=|<=|=|>|<)?\*?|\*$")  # `<>West`, `*West*`: the value inside


def _iso(y: str, m: str, d: str) -> str:
    return f"{int(y):04d}-{int(m):02d}-{int(d):02d}"


def formula_comparisons(formula: str) -> set[tuple[str, str]]:
    """(operator, value) pairs a formula tests, in the form `linking.request_comparisons` gives: criteria
    (`">4200"`, `">"&4200`, `"<"&DATE(2024,3,1)`) and cell comparisons outside strings (`B4>=50`, `D4<DATE(...)`,
    and `50<=B4` read as `B4>=50`)."""
    found = set()
    for m in _CRITERION.finditer(formula):
        op, num = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        found.add((op, normalise_number(num)))
    found |= {(op, _iso(y, mo, d)) for op, y, mo, d in _DATE_CRITERION.findall(formula)}
    code = _STRING.sub('""', formula)  # cell comparisons are code, never text inside a string
    for op, num, y, mo, d in _CELL_COMPARISON.findall(code):
        found.add((op, normalise_number(num) if num else _iso(y, mo, d)))
    found |= {(_FLIPPED[op], normalise_number(num)) for num, op in _NUMBER_CELL_COMPARISON.findall(code)}
    return found


_CELL_COMPARISON_PARTS = re.compile("(" + _CELL + r")\s*" + _OPS + r"\s*(?:" + _NUMBER + r"(?![\d.(])|" + _DATE + ")",
                                    re.I)


def _blanked(formula: str) -> str:
    """`formula` with the text inside its string literals replaced by spaces: the same offsets, no code in strings."""
    return _STRING.sub(lambda m: '"' + " " * (len(m.group()) - 2) + '"', formula)


def comparison_sites(formula: str) -> list[tuple[int, int, str | None]]:
    """Where a formula tests a comparison, as (start, end, cell): a criterion (`">4200"`, `">"&DATE(2024,3,1)`)
    with cell `""`; a cell comparison outside strings (`B4>=50`) with its cell (`B4`); a number compared with a
    cell (`50<=B4`) with None."""
    blank = _blanked(formula)
    sites = [(*m.span(), "") for pattern in (_CRITERION, _DATE_CRITERION) for m in pattern.finditer(formula)]
    sites += [(*m.span(), m.group(1)) for m in _CELL_COMPARISON_PARTS.finditer(blank)]
    return sites + [(*m.span(), None) for m in _NUMBER_CELL_COMPARISON.finditer(blank)]


def tests_stated(formula: str, stated: set[tuple[str, str]], labels: tuple[str, str] | None = None) -> bool:
    """Whether `formula` tests every comparison in `stated`. An IF may test the one stated comparison the other way
    round when it shows the request's `labels` (true one first) swapped (`=IF(B2<10,"fail","pass")` for `"pass" if
    the score is 10 or more, otherwise "fail"`); any other IF must test it as stated."""
    found = formula_comparisons(formula)
    if len(stated) != 1 or if_arguments(formula) is None:
        return stated <= found
    (op, value), = stated
    direct, negated = (op, value) in found, (NEGATED[op], value) in found
    shown = if_results(formula) if labels else None
    return negated if shown and shown == list(reversed(labels)) else direct  # request_labels are never equal


def formula_numbers(formula: str) -> set[str]:
    """Every number written in a formula, in strings too (`">4200"`, `"7B"`) and in cell references (`B8`), in the
    form `linking.request_numbers` gives."""
    return {normalise_number(n) for n in re.findall(r"\d+(?:\.\d+)?", formula)}


def quoted_values(formula: str) -> set[str]:
    """The text values a formula's strings hold, lower-cased, without criteria marks (`"<>West"`, `"*west*"` ->
    `west`)."""
    return {_CRITERION_MARKS.sub("", content).lower() for content in string_literals(formula)[0]}


# A criteria pair: a one-column range, then the string literal it is tested against (`D2:D17,"Sci"`,
# `C2:C9,"<>West"`); a string joined on with `&` (`"*"&B1&"*"`) is an expression, not a literal to rewrite.
_CRITERIA_PAIR = re.compile(r'\$?([A-Z]{1,3})\$?\d+:\$?([A-Z]{1,3})\$?\d+\s*,\s*"((?:[^"]|"")*)"(?!\s*&)')


_CRITERION_PARTS = re.compile(r"^((?:<>|>=|<=|=|>|<)?\*?)(.*?)(\*?)$", re.S)  # marks, the value, a closing wildcard


CRITERIA_FUNCTIONS = frozenset({"COUNTIF", "COUNTIFS", "SUMIF", "SUMIFS", "AVERAGEIF", "AVERAGEIFS", "MAXIFS",
                                "MINIFS"})


def text_criteria(formula: str):
    """The text criteria of the COUNTIF / SUMIF / AVERAGEIF / MAXIFS family in `formula`, as (match of
    `_CRITERIA_PAIR`, marks, text, closing wildcard): a one-column range tested against a literal with some text that
    is not a number. Empty criteria, bare marks (`"<>"`), numbers and literals holding a quote are left out; so are
    pairs outside those functions (`MATCH`, `IF`), whose strings are not criteria."""
    functions = _enclosing_functions(formula)
    for m in _CRITERIA_PAIR.finditer(formula):
        literal = m.group(3)
        marks, text, wildcard = _CRITERION_PARTS.match(literal).groups()
        if (m.group(1) == m.group(2) and functions[m.start()] in CRITERIA_FUNCTIONS and text and '"' not in literal
                and not _is_number(text)):
            yield m, marks, text, wildcard


def call_arguments(formula: str) -> tuple[str, list[str]] | None:
    """The function and top-level arguments of a formula that is one call (`=IF(C7<1980,"classic","modern")` ->
    `('IF', ['C7<1980', '"classic"', '"modern"'])`), commas inside strings and nested calls kept; None for anything
    else."""
    head = re.match(r"\s*=\s*([A-Z][A-Z0-9.]*)\s*\(", formula, re.IGNORECASE)
    if not head:
        return None
    body = formula.rstrip()
    args, depth, start, in_string = [], 0, head.end(), False
    for i in range(head.end(), len(body)):
        char = body[i]
        if char == '"':
            in_string = not in_string  # `""` inside a string toggles twice
        elif in_string:
            continue
        elif char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
        elif char == ")":
            args.append(body[start:i].strip())
            return (head.group(1).upper(), args) if not body[i + 1:].strip() else None
        elif char == "," and depth == 0:
            args.append(body[start:i].strip())
            start = i + 1
    return None


def if_arguments(formula: str) -> list[str] | None:
    """The top-level arguments of a formula that is one IF call; None for anything else."""
    call = call_arguments(formula)
    return call[1] if call and call[0] == "IF" else None


def text_column(table, reference: str) -> bool:
    """Whether `reference` is a one-column range (`A2:A15`) of a text or category column of `table`."""
    m = CELL_RANGE.fullmatch(reference.strip())
    if not m or m.group(1) != m.group(3):
        return False
    try:
        return table.column(m.group(1)).kind in (TEXT, CATEGORY)
    except (KeyError, ValueError):
        return False


def if_results(formula: str) -> list[str] | None:
    """What an IF formula shows, when it shows text: the contents of its second and third arguments (of the second
    alone when there is no third) if each is one string literal (`=IF(A2>5,"big","small")` -> `['big', 'small']`,
    `=IF(A2>5,"big")` -> `['big']`); None for any other formula."""
    args = if_arguments(formula)
    if not args or len(args) < 2 or not all(_STRING.fullmatch(a) for a in args[1:3]):
        return None
    return [a[1:-1].replace('""', '"') for a in args[1:3]]


# Functions that reshape one cell's value, in groups a request asks for with the same words: the intent words of
# training requests (`synthetic.breadth.INTENTS`, which the rewrite maps a user's words onto) and the plain words
# for a case change, a piece, spaces, a replacement or a rank. Which function of a group is the model's call.
_RESHAPING_GROUPS = (
    (("UPPER", "LOWER", "PROPER"), INTENTS["UPPER"] + INTENTS["LOWER"] + INTENTS["PROPER"] + (
        "capital", "capitals", "capitalised", "capitalized", "capitalise", "capitalize", "caps", "casing")),
    (("LEN", "LEFT", "RIGHT", "MID"), INTENTS["LEN"] + INTENTS["LEFT"] + INTENTS["RIGHT"] + INTENTS["MID"] + (
        "characters", "chars", "letters", "digits", "prefix", "suffix")),
    (("TRIM",), INTENTS["TRIM"] + ("blanks", "strip", "clean", "tidy")),
    (("SUBSTITUTE",), INTENTS["REPLACE"] + ("wherever", "instead of", "change", "remove", "removed")),
    (("RANK.EQ", "RANK"), INTENTS["RANK"] + ("standing", "position", "place", "come in", "stack up")),
)


_RESHAPING = frozenset(name for names, _ in _RESHAPING_GROUPS for name in names)


_CALLED = re.compile(r"([A-Za-z][A-Za-z0-9.]*)\s*\(")


def reshapings_asked(*requests: str) -> set[str]:
    """The reshaping functions some word of the requests asks for: `how many characters` -> LEN, LEFT, RIGHT, MID;
    `ranking` -> RANK.EQ, RANK."""
    return {name for names, words in _RESHAPING_GROUPS if any(says(r, words) for r in requests) for name in names}


def unasked_reshapings(table, request: str, written: str | None, links) -> frozenset[str]:
    """For a request that names a record by its key alone (no row number, no cell address: "pH of WS-007"), the
    reshaping functions none of its words asks for; otherwise none (a request about `row 9` may well want a piece
    of it, and the model has learnt those wordings)."""
    if not any(link.row for link in links) or addressed_rows(table, request):
        return frozenset()
    return _RESHAPING - reshapings_asked(request, written or "")


CELL_RANGE = re.compile(r"(?<![A-Z$])\$?([A-Z]{1,3})\$?(\d+):\$?([A-Z]{1,3})\$?(\d+)")


def ranges_span_data(formula: str, table, request: str = "", stated: set[str] = frozenset()) -> bool:
    """Every range over several rows of one column runs over the table's data rows (`C2:C17` for rows 2-17),
    unless the request types the range or states where it ends (`rows 5 to 9`; `up to row 4` for `$C$2:C4`). A
    column range cut short (`H2:H14`) or run past the table (`H2:H35`) is a number the model garbled, never what a
    request about a column means: every reference of the generated, hand-written and independent sets spans the data
    rows. Ranges across columns (`C3:D3`, a header row `C1:D1`) are not checked."""
    typed = request.upper().replace("$", "")
    for left, first, right, last in CELL_RANGE.findall(_STRING.sub('""', formula)):
        if left != right or first == last or (int(first), int(last)) == (table.first_row, table.last_row):
            continue
        if f"{left}{first}:{right}{last}" in typed or {first, last} <= stated or \
                (int(first) == table.first_row and last in stated):
            continue
        return False
    return True


# Arguments that must hold numbers: function -> argument positions (None: every argument). A text column there is
# summed, averaged or compared as zeros: Excel gives a number, never what was asked.
_NUMERIC_ARGUMENTS = {"SUM": None, "AVERAGE": None, "MIN": None, "MAX": None, "MEDIAN": None, "SUMPRODUCT": None,
                      "LARGE": {0}, "SMALL": {0}, "SUMIF": {2}, "AVERAGEIF": {2}, "SUMIFS": {0}, "AVERAGEIFS": {0},
                      "MAXIFS": {0}, "MINIFS": {0}}


def _argument_sites(formula: str) -> list[tuple[str | None, int] | None]:
    """For each character of `formula`, the innermost call it is an argument of and the argument's position
    (`=SUMIF(A2:A9,"x",C2:C9)`: `C2:C9` is in ("SUMIF", 2)); None outside any call. A bare parenthesis (`(C2:C9="x")`)
    is a call with no name; text inside string literals does not open or close calls."""
    stack: list[list] = []
    sites: list[tuple[str | None, int] | None] = []
    in_string = False
    for i, char in enumerate(formula):
        if char == '"':
            in_string = not in_string
        elif not in_string and char == "(":
            name = re.search(r"[A-Z][A-Z0-9.]*$", formula[:i].upper())
            stack.append([name.group(0) if name else None, 0])
        elif not in_string and char == ")" and stack:
            stack.pop()
        elif not in_string and char == "," and stack:
            stack[-1][1] += 1
        sites.append(tuple(stack[-1]) if stack else None)
    return sites


def sums_numbers(formula: str, table) -> bool:
    """No column of text is an argument a function reads as numbers (`_NUMERIC_ARGUMENTS`): `=SUMPRODUCT(A2:A15,
    E2:E15)` over the volunteers' names, `=MAX(A2:A16)` over batch codes, `=MAXIFS(C2:C19,...)` over room types all
    run, and give 0 or a number nobody asked for. Date columns are numbers to Excel and pass; so does a table
    without values."""
    if not table.has_values:
        return True
    sites = _argument_sites(formula)
    for m in CELL_RANGE.finditer(_blanked(formula)):
        left, right = m.group(1), m.group(3)
        site = sites[m.start()]
        if left != right or site is None or site[0] not in _NUMERIC_ARGUMENTS:
            continue
        positions = _NUMERIC_ARGUMENTS[site[0]]
        if positions is not None and site[1] not in positions:
            continue
        if text_column(table, m.group(0)):
            return False
    return True


def criteria_match(formula: str, table) -> bool:
    """Every text criterion of the COUNTIF / SUMIF / AVERAGEIF / MAXIFS family in `formula` equals some cell of its
    criteria column (as Excel compares: ignoring case). `=MAXIFS(B2:B17,G2:G17,"marco")` tests names against the
    tips column and matches nothing; like an #N/A, that is almost never what was asked. Comparisons, numbers,
    wildcards (`*`, `?`, `~`), `<>`, expressions and criteria on a date column are not checked; neither is a table
    without values."""
    if not table.has_values:
        return True
    for m, marks, text, wildcard in text_criteria(formula):
        if marks not in ("", "=") or wildcard or any(c in text for c in "*?~"):
            continue
        letter = m.group(1)
        try:
            column = table.column(letter)
        except (KeyError, ValueError):
            return False
        if column.kind == DATE:  # cells hold serial numbers; "2024-01-01" still matches one
            continue
        if text.lower() not in {str(v).lower() for v in column.values if v is not None}:
            return False
    return True


def _enclosing_functions(formula: str) -> list[str | None]:
    """For each character of `formula`, the name of the innermost function call it is inside (None outside any;
    text inside string literals does not open or close calls)."""
    return [site[0] if site else None for site in _argument_sites(formula)]


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def pick_candidate(candidates: list[str], table, request: str, written: str | None = None) -> str:
    """Choose among beam candidates (best first) the first that best meets, in this order of importance: it runs on
    `table` without an error, each of its text criteria matches a cell (`criteria_match`), its ranges span the
    data rows (`ranges_span_data`) and it sums no column of text (`sums_numbers`); it uses every column the request
    links to (`linking.link_columns`); it tests every comparison the request states (`over 4200` -> `">4200"` or
    `C4>4200`: `linking.request_comparisons`; an IF may test it the other way round with its labels swapped); it quotes
    every cell value the request names (`for 7B` -> `"7B"`, ignoring case as Excel's criteria do); it writes every
    number the request states (`3 chars starting at 2` -> `MID(A3,2,3)`: `linking.request_numbers`).

    Execution-guided: a formula that gives #N/A, #DIV/0! or #VALUE! on the user's own table is almost never what
    was asked (a value that is not in the column, a criterion on the wrong column), and the next beam often is.
    Schema-consistent: a column the user named is almost always one the formula needs. Comparison-consistent: the
    model flips operators (`"<153"` for "> 153") and garbles numbers more than any other argument, and a lower beam
    often has them right; so does a value swapped for another of its column (`"7A"` for "7B"); a request word that
    matches several cell values is satisfied by any of them. A table without values (`ask --columns`) cannot be
    run, so there the other rules count. An IF that shows text must show the two labels the request gives, in either
    order (`linking.request_labels`, read from `written`: the request as the user wrote it, when `request` is a
    rewrite). Last, a formula for a request that names a record by its key alone ("pH of WS-007") should call no
    function that reshapes a value (LEN, UPPER, RANK.EQ, ...) unless one of its words asks for one
    (`repairs.with_record_lookups`).
    """
    if not candidates:
        raise ValueError("no candidates to pick from")
    check = request_checks(table, request, written)
    stated = request_numbers(request)
    runs = [ranges_span_data(f, table, request, stated) and (not table.has_values or execute(f, table).ok and
                                                     criteria_match(f, table) and sums_numbers(f, table))
            for f in candidates]
    scores = [(ok, *check(formula)) for formula, ok in zip(candidates, runs)]
    best = max(scores)
    return candidates[scores.index(best)]


def request_checks(table, request: str, written: str | None = None):
    """What a formula should do given what the request says (`pick_candidate`'s rules after "it runs"), as a
    function of the formula returning one bool per rule: columns, comparisons, values (the cell values the request
    names, and the labels it gives an IF), numbers, no reshaping function it does not ask for.

    Weak links (a header named in part, by stem or with a typo) are hints for the model, not requirements; a
    record named by its key (`T-105`) is served by the key quoted (a lookup) or by a cell of its row (row-level),
    and the record's column named by header ("among all volunteers") by that row's cell of another named column."""
    links = link_columns(table, request)
    linked = {link.letter for link in links if not link.weak and not link.row}
    headers = {link.letter for link in links if link.kind == "header"}
    record_rows: dict[str, set[int]] = defaultdict(set)  # column -> rows of the records named in it
    for link in links:
        if link.row:
            record_rows[link.letter].add(link.row)
    named: dict[tuple[int, int], set[str]] = defaultdict(set)  # span -> every cell value it matched
    records: dict[tuple[int, int], set[tuple[str, int]]] = defaultdict(set)  # span -> (value, row) of records
    for link in links:
        if link.kind == "value" and link.row:
            records[(link.start, link.end)].add((link.value.lower(), link.row))
        elif link.kind == "value":
            named[(link.start, link.end)].add(link.value.lower())
    stated = request_comparisons(request)
    numbers = request_numbers(request)
    labels = request_labels(request if written is None else written)
    unasked = unasked_reshapings(table, request, written, links)

    def check(formula: str) -> tuple[bool, bool, bool, bool, bool]:
        quoted, cells = quoted_values(formula), single_cells(formula)
        rows = {row for _, row in cells}
        shown = if_results(formula) if labels else None
        values_ok = all(values & quoted for values in named.values()) and all(
            any(value in quoted or row in rows for value, row in found) for found in records.values()) and (
            shown is None or len(shown) == 2 and set(shown) == set(labels))
        called = {name.upper() for name in _CALLED.findall(_STRING.sub('""', formula))} if unasked else set()
        # a column named by header that holds a named record is also served by that record's cell in another column
        # the request names ("Sarah O'Connor's hours rank among all volunteers": `=RANK.EQ(E6,E2:E15)`)
        columns_ok = all(any(r in record_rows[letter] and other != letter and other in headers for other, r in cells)
                         for letter in linked - referenced_columns(formula))
        return (columns_ok, tests_stated(formula, stated, labels), values_ok,
                numbers <= formula_numbers(formula), not called & unasked)

    return check
