"""Execution-scored evaluation: run each predicted formula on its table and compare with the expected value.

Reports execution accuracy (the number that matters: different formulas can be equally right), exact match with the
reference, the share of syntactically valid predictions, and the same three per function family and per difficulty.
A prediction that does not parse or fails to evaluate is simply wrong; nothing in here raises on model output.
"""

from __future__ import annotations

import math
import re
import time
from collections import defaultdict
from typing import Any, Callable

import torch
from transformers import LogitsProcessorList

from .constrained import string_literals
from .executor import execute, is_valid_syntax, single_cells, values_equal
from .example import Example
from .linking import (addressed_rows, link_columns, normalise_number, request_comparisons, request_labels,
                      request_numbers, says)
from .synthetic.breadth import INTENTS
from .prompt import build_messages, clean_answer
from .table import DATE, col_index, col_letter


def _stop_ids(tokenizer) -> list[int]:
    from ..tokenization import stop_token_ids

    return stop_token_ids(tokenizer)


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


def _text_criteria(formula: str):
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


def with_linked_values(candidates: list[str], table, request: str) -> list[str]:
    """`candidates` (best first), each followed by its copies with a criterion's text replaced by a cell value the
    request names in that criterion's column: `=AVERAGEIF(E2:E17,"Branch",H2:H17)` for "average late fee at the
    riverside branch" also as `=AVERAGEIF(E2:E17,"Riverside",H2:H17)`.

    The model finds the criteria column far more often than it copies the value it has never seen: it quotes
    another word of the request (`"Branch"`, `"At"`) or a value it memorised (`"Card"`). The `Links:` line has
    already found the value in that column, so filling it in is the value-linking step of text-to-SQL parsers
    (values taken from the database cells a question mentions, not generated). Only criteria of the COUNTIF /
    SUMIF / AVERAGEIF / MAXIFS family are rewritten, and a criterion is kept when it already holds a value the
    request names in its column, is empty or only a mark (`"<>"`: not blank), a number or a comparison (`">15"`).
    The same goes for the key a lookup searches for (`MATCH("WS-008",A2:A16,0)` -> `"WS-007"` for "pH of WS-007"):
    the model writes the lookup and a key of the right shape, but not the one the request names.
    `pick_candidate` decides: a copy sits right after its beam, so it is chosen when it meets more of the checks
    than that beam (it quotes the named value) and at least as many as every later one."""
    named = _named_values(table, request)
    out: list[str] = []
    for formula in candidates:
        out.append(formula)
        if not named:
            continue
        quoted = quoted_values(formula)

        def copies(start: int, end: int, values: list[str], marks: str = "", wildcard: str = "") -> None:
            for value in values:
                if value.lower() not in quoted:
                    out.append(formula[:start] + marks + _string_literal(value)[1:-1] + wildcard + formula[end:])

        for m, marks, text, wildcard in _text_criteria(formula):
            values = named.get(m.group(1), [])
            if (values and not (marks.startswith((">", "<")) and not marks.startswith("<>"))
                    and text.lower() not in {v.lower() for v in values}):
                copies(m.start(3), m.end(3), values, marks, wildcard)
        for m in _LOOKUP_KEY.finditer(formula):
            literal, values = m.group(2), named.get(m.group(3).upper(), [])
            if ('"' not in literal and int(m.group(4)) == table.first_row
                    and literal.lower() not in {v.lower() for v in values}):
                copies(m.start(2), m.end(2), values)
    return list(dict.fromkeys(out))


def if_arguments(formula: str) -> list[str] | None:
    """The top-level arguments of a formula that is one IF call (`=IF(C7<1980,"classic","modern")` ->
    `['C7<1980', '"classic"', '"modern"']`), commas inside strings and nested calls kept; None for anything else."""
    head = re.match(r"\s*=\s*IF\s*\(", formula, re.IGNORECASE)
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
            return args if not body[i + 1:].strip() else None
        elif char == "," and depth == 0:
            args.append(body[start:i].strip())
            start = i + 1
    return None


def _if_results(formula: str) -> list[str] | None:
    """What an IF formula shows, when it shows text: the contents of its second and third arguments (of the second
    alone when there is no third) if each is one string literal (`=IF(A2>5,"big","small")` -> `['big', 'small']`,
    `=IF(A2>5,"big")` -> `['big']`); None for any other formula."""
    args = if_arguments(formula)
    if not args or len(args) < 2 or not all(_STRING.fullmatch(a) for a in args[1:3]):
        return None
    return [a[1:-1].replace('""', '"') for a in args[1:3]]


def with_criteria_columns(candidates: list[str], table, request: str) -> list[str]:
    """`candidates` (best first), then their copies in which a text criterion that holds no value the request
    names in its column is moved to a column where the request names a value, with that value:
    `=COUNTIF(G2:G19,"suite")` for "number of suite bookings" (Suite is a Room Type, column C) also as
    `=COUNTIF(C2:C19,"Suite")`. Elsewhere in the formula the new column's ranges take the old column's place, so a
    criterion the model put on the column it meant to aggregate gets its ranges the right way round:
    `=MAXIFS(C2:C19,F2:F19,"suite")` -> `=MAXIFS(F2:F19,C2:C19,"Suite")`.

    The model often quotes the right word on the wrong column, or swaps the criteria and the aggregated range
    (`criteria_match` already refuses a criterion no cell of its column matches); the `Links:` line knows which
    column holds the value. A column the formula already tests is not used again. The copies come after every
    candidate: moving a column is a larger repair than filling in a value, so `pick_candidate` takes one only when
    no candidate meets as many of its checks (a lower beam that does is more often right)."""
    named = _named_values(table, request)
    moved: list[str] = []
    for formula in candidates:
        criteria = list(_text_criteria(formula))
        tested = {m.group(1) for m, *_ in criteria}
        for m, marks, text, wildcard in criteria:
            source = m.group(1)
            if marks not in ("", "=") or wildcard or text.lower() in {v.lower() for v in named.get(source, [])}:
                continue
            for target, values in named.items():
                if target in tested:
                    continue
                head = (_recolumn(formula[:m.start()], target, source)
                        + _recolumn(formula[m.start():m.start(3) - 1], source, target) + '"' + marks)
                tail = '"' + _recolumn(formula[m.end(3) + 1:], target, source)
                moved += [head + _string_literal(value)[1:-1] + wildcard + tail for value in values]
    return list(dict.fromkeys(candidates + moved))


def _recolumn(text: str, old: str, new: str) -> str:
    """`text` with each one-column range of column `old` (`A2:A17`) moved to column `new`; quoted text left alone."""
    def move(m: re.Match) -> str:
        if m.group(0).startswith('"') or m.group(1) != old or m.group(3) != old:
            return m.group(0)
        return f"{new}{m.group(2)}:{new}{m.group(4)}"
    return _RANGE_OR_STRING.sub(move, text)


_RANGE_OR_STRING = re.compile(r'"(?:[^"]|"")*"?|(?<![A-Z$])\$?([A-Z]{1,3})\$?(\d+):\$?([A-Z]{1,3})\$?(\d+)')


_CELL_COMPARISON_PARTS = re.compile("(" + _CELL + r")\s*" + _OPS + r"\s*(?:" + _NUMBER + r"(?![\d.(])|" + _DATE + ")",
                                    re.I)


def with_stated_comparison(candidates: list[str], request: str) -> list[str]:
    """`candidates` (best first), each that tests one comparison, not the one comparison the request states,
    followed by its copy testing the stated one instead: `=IF(G14>145,"late","on time")` for "late if it was kept
    over 14 days" also as `=IF(G14>14,"late","on time")`; `=COUNTIF(H2:H15,">"&DATE(2024,12,1))` for "announced
    after feb 1 2024" also as `=COUNTIF(H2:H15,">"&DATE(2024,2,1))`.

    The model puts the comparison in the right place far more often than it copies its number (or date, or
    operator) right, and `linking.request_comparisons` reads what the request states only where it is sure (every
    generated, hand-written and independent reference tests what it reads). A formula with several comparisons, or
    a request stating several, is left alone: which goes where is the model's call."""
    stated = request_comparisons(request)
    if len(stated) != 1:
        return candidates
    (op, value), = stated
    date = "DATE({},{},{})".format(*map(int, value.split("-"))) if "-" in value[1:] else None
    out: list[str] = []
    for formula in candidates:
        out.append(formula)
        if stated <= formula_comparisons(formula):
            continue
        blank = _STRING.sub(lambda m: '"' + " " * (len(m.group()) - 2) + '"', formula)  # same offsets, text blanked
        criteria = [m.span() for pattern in (_CRITERION, _DATE_CRITERION) for m in pattern.finditer(formula)]
        cells = list(_CELL_COMPARISON_PARTS.finditer(blank))
        if len(criteria) + len(cells) != 1 or _NUMBER_CELL_COMPARISON.search(blank):
            continue
        if criteria:
            (start, end), = criteria
            written = f'"{op}"&{date}' if date else f'"{op}{value}"'
        else:
            (start, end), written = cells[0].span(), cells[0].group(1) + op + (date or value)
        out.append(formula[:start] + written + formula[end:])
    return list(dict.fromkeys(out))


def _string_literal(text: str) -> str:
    """`text` as an Excel string literal: in double quotes, each quote inside doubled."""
    return '"' + text.replace('"', '""') + '"'


def _named_values(table, request: str) -> dict[str, list[str]]:
    """Column letter -> the cell values the request names in that column, in request order."""
    named: dict[str, list[str]] = defaultdict(list)
    for link in link_columns(table, request):
        if link.kind == "value" and link.value not in named[link.letter]:
            named[link.letter].append(link.value)
    return named


def with_request_labels(candidates: list[str], labels: tuple[str, str] | None) -> list[str]:
    """`candidates` (best first), each IF that shows text followed by its copy showing the request's labels
    (`linking.request_labels`): `=IF(H9>5,"Above","chase")` for `show "chase up" if the late fee is above 5,
    otherwise "ok"` also as `=IF(H9>5,"chase up","ok")`. The copy keeps the condition and drops anything past the
    third argument (IF takes three). `pick_candidate` prefers a formula that shows the labels (in either order: a
    request may state the condition the other way round) over one showing other text, so the copy wins over its beam
    and loses to a higher beam that already has them."""
    if labels is None:
        return candidates
    yes, no = (_string_literal(label) for label in labels)
    out: list[str] = []
    for formula in candidates:
        out.append(formula)
        if _if_results(formula) is not None:
            out.append(f"=IF({if_arguments(formula)[0]},{yes},{no})")
    return list(dict.fromkeys(out))


# Functions that reshape one cell's value, in groups a request asks for with the same words: the intent words of
# training requests (`synthetic.breadth.INTENTS`, which the rewrite maps a user's words onto) and the plain words
# for a case change, a piece, spaces, a replacement or a rank. Which function of a group is the model's call.
_RESHAPING_GROUPS = (
    (("UPPER", "LOWER", "PROPER"), INTENTS["UPPER"] + INTENTS["LOWER"] + INTENTS["PROPER"] + (
        "capital", "capitals", "capitalised", "capitalized", "capitalise", "capitalize", "caps", "casing")),
    (("LEN", "LEFT", "RIGHT", "MID"), INTENTS["LEN"] + INTENTS["LEFT"] + INTENTS["RIGHT"] + INTENTS["MID"] + (
        "characters", "chars", "letters", "digits", "part", "prefix", "suffix")),
    (("TRIM",), INTENTS["TRIM"] + ("blanks", "strip", "clean", "tidy")),
    (("SUBSTITUTE",), INTENTS["REPLACE"] + ("wherever", "instead of", "change", "remove", "removed", "without")),
    (("RANK.EQ", "RANK"), INTENTS["RANK"] + ("standing", "position", "place", "come in", "stack up")),
)
_RESHAPING = frozenset(name for names, _ in _RESHAPING_GROUPS for name in names)
_RESHAPED_CELL = re.compile(r"=\s*([A-Z][A-Z0-9.]*)\(\s*\$?([A-Z]{1,3})\$?(\d+)(?![\d:(])", re.IGNORECASE)
_CALLED = re.compile(r"([A-Za-z][A-Za-z0-9.]*)\s*\(")


def reshapings_asked(*requests: str) -> set[str]:
    """The reshaping functions some word of the requests asks for: `how many characters` -> LEN, LEFT, RIGHT, MID;
    `ranking` -> RANK.EQ, RANK."""
    return {name for names, words in _RESHAPING_GROUPS if any(says(r, words) for r in requests) for name in names}


def _unasked_reshapings(table, request: str, written: str | None, links) -> frozenset[str]:
    """For a request that names a record by its key alone (no row number, no cell address: "pH of WS-007"), the
    reshaping functions none of its words asks for; otherwise none (a request about `row 9` may well want a piece
    of it, and the model has learnt those wordings)."""
    if not any(link.row for link in links) or addressed_rows(table, request):
        return frozenset()
    return _RESHAPING - reshapings_asked(request, written or "")


def with_record_lookups(candidates: list[str], table, request: str, written: str | None = None) -> list[str]:
    """`candidates` (best first), each that reshapes one cell of a record the request names by its key (and by no
    row number or cell address) with a function no word of the request (nor of `written`, the request as typed)
    asks for, followed by lookups of that record's key: `=UPPER(D8)` for "pH of WS-007" also as
    `=INDEX(D2:D16,MATCH("WS-007",A2:A16,0))`, and as the same lookup of each column the request names by header
    (`=TRIM(A11)` for "bill for ticket T-110" -> the Bill column).

    A bare question about a record ("pH of WS-007", "who directed Heat?") has no function word: the model finds the
    record's row (the `Links:` line gives it) and the column, but wraps the cell in a function it has seen with a
    row, most often LEN, UPPER or RANK.EQ. `pick_candidate` holds such a request to reshaping functions it asks for
    (`request_checks`), so the lookup wins over its beam, and a beam that already looks the record up stays first."""
    if not table.has_values:
        return candidates
    links = link_columns(table, request)
    unasked = _unasked_reshapings(table, request, written, links)
    if not unasked:
        return candidates
    records = [link for link in links if link.row]
    headers = [link.letter for link in links if link.kind == "header"]
    span = f"{table.first_row}:{{}}{table.last_row}"
    out: list[str] = []
    for formula in candidates:
        out.append(formula)
        m = _RESHAPED_CELL.match(formula)
        if not m or m.group(1).upper() not in unasked:
            continue
        letter, row = m.group(2).upper(), int(m.group(3))
        for record in (r for r in records if r.row == row):
            key = _string_literal(record.value)
            for target in dict.fromkeys([letter, *headers]):
                if target != record.letter:
                    out.append(f"=INDEX({target}{span.format(target)},MATCH({key},"
                               f"{record.letter}{span.format(record.letter)},0))")
    return list(dict.fromkeys(out))


# The key a lookup searches for, and the column it searches: `MATCH("WS-008",A2:A16`, `XLOOKUP("x",A2:A16`,
# `VLOOKUP("x",A2:H16` (the first column of its table).
# A lookup over a header row (`MATCH("Q2",C1:D1,0)`) searches headers, not the cells a request names: not filled.
_LOOKUP_KEY = re.compile(r'\b(MATCH|XLOOKUP|VLOOKUP)\(\s*"((?:[^"]|"")*)"\s*,\s*\$?([A-Z]{1,3})\$?(\d+):',
                         re.IGNORECASE)


_CELL_RANGE = re.compile(r"(?<![A-Z$])\$?([A-Z]{1,3})\$?(\d+):\$?([A-Z]{1,3})\$?(\d+)")


def ranges_span_data(formula: str, table, request: str = "", stated: set[str] = frozenset()) -> bool:
    """Every range over several rows of one column runs over the table's data rows (`C2:C17` for rows 2-17),
    unless the request types the range or states where it ends (`rows 5 to 9`; `up to row 4` for `$C$2:C4`). A
    column range cut short (`H2:H14`) or run past the table (`H2:H35`) is a number the model garbled, never what a
    request about a column means: every reference of the generated, hand-written and independent sets spans the data
    rows. Ranges across columns (`C3:D3`, a header row `C1:D1`) are not checked."""
    typed = request.upper().replace("$", "")
    for left, first, right, last in _CELL_RANGE.findall(_STRING.sub('""', formula)):
        if left != right or first == last or (int(first), int(last)) == (table.first_row, table.last_row):
            continue
        if f"{left}{first}:{right}{last}" in typed or {first, last} <= stated or \
                (int(first) == table.first_row and last in stated):
            continue
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
    for m, marks, text, wildcard in _text_criteria(formula):
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
    stack: list[str | None] = []
    inside: list[str | None] = []
    in_string = False
    for i, char in enumerate(formula):
        if char == '"':
            in_string = not in_string  # `""` inside a string toggles twice
        elif not in_string and char == "(":
            name = re.search(r"[A-Z][A-Z0-9.]*$", formula[:i].upper())
            stack.append(name.group(0) if name else None)
        elif not in_string and char == ")" and stack:
            stack.pop()
        inside.append(stack[-1] if stack else None)
    return inside


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def pick_candidate(candidates: list[str], table, request: str, written: str | None = None) -> str:
    """Choose among beam candidates (best first) the first that best meets, in this order of importance: it runs on
    `table` without an error, each of its text criteria matches a cell (`criteria_match`) and its ranges span the
    data rows (`ranges_span_data`); it uses every column the request links to (`linking.link_columns`); it tests every
    comparison the request states (`over 4200` -> `">4200"` or `C4>4200`: `linking.request_comparisons`); it quotes
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
    (`with_record_lookups`).
    """
    if not candidates:
        raise ValueError("no candidates to pick from")
    check = request_checks(table, request, written)
    stated = request_numbers(request)
    runs = [ranges_span_data(f, table, request, stated) and (not table.has_values or execute(f, table).ok and
                                                     criteria_match(f, table)) for f in candidates]
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
    unasked = _unasked_reshapings(table, request, written, links)

    def check(formula: str) -> tuple[bool, bool, bool, bool, bool]:
        quoted, cells = quoted_values(formula), single_cells(formula)
        rows = {row for _, row in cells}
        shown = _if_results(formula) if labels else None
        values_ok = all(values & quoted for values in named.values()) and all(
            any(value in quoted or row in rows for value, row in found) for found in records.values()) and (
            shown is None or len(shown) == 2 and set(shown) == set(labels))
        called = {name.upper() for name in _CALLED.findall(_STRING.sub('""', formula))} if unasked else set()
        # a column named by header that holds a named record is also served by that record's cell in another column
        # the request names ("Sarah O'Connor's hours rank among all volunteers": `=RANK.EQ(E6,E2:E15)`)
        columns_ok = all(any(r in record_rows[letter] and other != letter and other in headers for other, r in cells)
                         for letter in linked - referenced_columns(formula))
        return (columns_ok, stated <= formula_comparisons(formula), values_ok,
                numbers <= formula_numbers(formula), not called & unasked)

    return check


@torch.no_grad()
def predict_formulas(model, tokenizer, requests: list[tuple[Any, str, bool]], *, batch_size: int = 32,
                     max_new_tokens: int = 96, constrained: bool = False, top_k: int = 20,
                     copy_strings: bool = True, candidates: int = 1,
                     rewrite: Callable[[str, Any], str | list[str]] | None = None) -> list[str]:
    """Greedy answers for (table, request, show_samples) triples, batched with left padding (sorted by length).

    `constrained`: grammar-constrained decoding, and with `copy_strings` every quoted string must be copied from the
    request or a cell (constrained.py). `candidates` > 1: beam search with that many beams, keeping the best-ranked
    answer by `pick_candidate` (runs without an error with criteria that match a cell and ranges over the data rows,
    uses every linked column, tests every stated comparison, quotes every named value and label, writes every stated
    number, no unasked reshaping of a named record's cell) among the beams and their copies with criteria values and
    lookup keys from the linked cells, IF labels from the request and lookups of a record the request names by key.
    `rewrite(request, table)`: what the model reads instead of the request (`synonyms.RequestRewriter`); the constraint still copies strings from the request as the user
    wrote it. A rewrite may return several readings (the first is the preferred one): each is decoded, and their
    answers are pooled by the model's own length-normalised log-probability before `pick_candidate` ranks them, so
    the reading the model understands best wins unless a lower one's answer passes more of the checks.
    """
    if candidates < 1:
        raise ValueError(f"candidates must be >= 1, got {candidates}")
    readings = [[r] for _, r, _ in requests]
    if rewrite is not None:
        readings = [_as_list(rewrite(r, t)) for t, r, _ in requests]
    rows = [(i, t, reading, s, r) for i, ((t, r, s), texts) in enumerate(zip(requests, readings)) for reading in texts]
    decoded = _decode(model, tokenizer, [(t, reading, s, r) for _, t, reading, s, r in rows], batch_size=batch_size,
                      max_new_tokens=max_new_tokens, constrained=constrained, top_k=top_k, copy_strings=copy_strings,
                      candidates=candidates)
    pooled: list[dict[str, float]] = [{} for _ in requests]
    for (i, *_), answers in zip(rows, decoded):
        for text, logprob in answers:
            pooled[i][text] = max(logprob, pooled[i].get(text, float("-inf")))
    answers = []
    for i, (table, _, _) in enumerate(requests):
        ranked = sorted(pooled[i], key=pooled[i].get, reverse=True)
        several = candidates > 1 or len(readings[i]) > 1
        if several:
            written = requests[i][1]
            ranked = with_record_lookups(ranked, table, readings[i][0], written)
            ranked = with_criteria_columns(with_linked_values(ranked, table, readings[i][0]), table, readings[i][0])
            ranked = with_stated_comparison(ranked, readings[i][0])
            ranked = with_request_labels(ranked, request_labels(written))
        answers.append(pick_candidate(ranked, table, readings[i][0], written) if several else ranked[0])
    return answers


def _as_list(reading: str | list[str]) -> list[str]:
    readings = [reading] if isinstance(reading, str) else list(reading)
    if not readings:
        raise ValueError("a rewrite gave no reading of a request")
    return readings


def _decode(model, tokenizer, rows: list[tuple[Any, str, bool, str]], *, batch_size: int, max_new_tokens: int,
            constrained: bool, top_k: int, copy_strings: bool, candidates: int) -> list[list[tuple[str, float]]]:
    """For each (table, request the model reads, show_samples, request as written): the distinct answers of its
    `candidates` beams (one for greedy) with their length-normalised log-probabilities, best first."""
    from .constrained import FormulaLogitsProcessor  # looked up per call: tests wrap it to watch each row
    prompts = [tokenizer.apply_chat_template(build_messages(t, r, samples=s), tokenize=False, add_generation_prompt=True)
               for t, r, s, _ in rows]
    encoded = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    limit = getattr(model.config, "max_position_embeddings", None)
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    results: list[list[tuple[str, float]]] = [[] for _ in prompts]
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    stop = _stop_ids(tokenizer)
    device = next(model.parameters()).device
    try:
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            longest = max(len(encoded[i]) for i in idx)
            new_tokens = max_new_tokens
            if limit is not None:
                if longest >= limit:
                    raise ValueError(f"prompt of {longest} tokens does not fit the model's context of {limit} "
                                     "(fewer columns, or a model with a longer context)")
                new_tokens = min(max_new_tokens, limit - longest)
            batch = tokenizer([prompts[i] for i in idx], add_special_tokens=False, padding=True, return_tensors="pt")
            batch = {k: v.to(device) for k, v in batch.items()}
            processors = None
            if constrained:
                # beam search runs each prompt's beams as consecutive rows, so each copy list is repeated per beam
                sources = None
                if copy_strings:  # the same list object per beam, so the processor builds its targets once
                    own = [copy_sources(rows[i][0], rows[i][3]) for i in idx]
                    sources = [s for s in own for _ in range(candidates)]
                keep = max(2, 1 + len(stop)) * candidates if candidates > 1 else 1  # what the search can pick
                processors = LogitsProcessorList([FormulaLogitsProcessor(tokenizer, stop, top_k, sources, keep)])
            beams = dict(num_beams=candidates, num_return_sequences=candidates) if candidates > 1 else {}
            out = model.generate(**batch, max_new_tokens=new_tokens, do_sample=False, eos_token_id=stop,
                                 pad_token_id=tokenizer.pad_token_id, logits_processor=processors,
                                 return_dict_in_generate=True, output_scores=candidates > 1,
                                 output_logits=candidates == 1, **beams)
            logprobs = _sequence_logprobs(model, out, candidates, batch["input_ids"].shape[1], stop)
            width = batch["input_ids"].shape[1]
            for row, i in enumerate(idx):
                seen: dict[str, float] = {}
                for k in range(row * candidates, (row + 1) * candidates):
                    text = clean_answer(tokenizer.decode(out.sequences[k][width:], skip_special_tokens=True))
                    seen.setdefault(text, logprobs[k])  # beams that differ only in tokenisation: the best one
                results[i] = list(seen.items())
    finally:
        tokenizer.padding_side = old_side
    return results


def _sequence_logprobs(model, out, candidates: int, width: int, stop: list[int]) -> list[float]:
    """Length-normalised log-probability of each returned sequence under the model itself: beam search's own score
    (it sums the model's log-probabilities; the constraint only masks), or for greedy the mean log-probability of the
    chosen tokens up to and including the first stop token, from the raw logits (after the constraint, which keeps
    one token per step in greedy decoding, every answer would score 0)."""
    if candidates > 1:
        return out.sequences_scores.tolist()
    logprobs = torch.log_softmax(torch.stack(out.logits, dim=1).float(), dim=-1)
    generated = out.sequences[:, width:width + logprobs.shape[1]]
    chosen = logprobs.gather(-1, generated.unsqueeze(-1)).squeeze(-1)
    values = []
    for tokens, scores in zip(generated.tolist(), chosen):
        n = next((j + 1 for j, token in enumerate(tokens) if token in stop), len(tokens))
        values.append(scores[:n].mean().item() if n else float("-inf"))
    return values


def copy_sources(table, request: str) -> list[str]:
    """What a quoted string in the answer may copy: the request, then the table's distinct text cell values."""
    cells = dict.fromkeys(str(v) for col in table.columns for v in col.values if isinstance(v, str) and v)
    return [request, *cells]


def score(examples: list[Example], predictions: list[str]) -> dict:
    """Metrics for predictions aligned with examples; also returns one record per example."""
    if len(examples) != len(predictions):
        raise ValueError("examples and predictions differ in length")
    groups: dict[str, dict[str, list[int]]] = {"function": defaultdict(lambda: [0, 0, 0, 0]),
                                                "difficulty": defaultdict(lambda: [0, 0, 0, 0])}
    totals = [0, 0, 0, 0]  # n, correct, exact, valid
    records = []
    for ex, pred in zip(examples, predictions):
        result = execute(pred, ex.table)
        correct = result.ok and values_equal(result.value, ex.expected)
        exact = pred.replace(" ", "") == ex.formula.replace(" ", "")
        valid = is_valid_syntax(pred)
        for bucket in (totals, groups["function"][ex.function], groups["difficulty"][ex.difficulty]):
            bucket[0] += 1
            bucket[1] += correct
            bucket[2] += exact
            bucket[3] += valid
        records.append({"id": ex.id, "request": ex.request, "reference": ex.formula, "prediction": pred,
                        "correct": correct, "exact": exact, "valid": valid, "function": ex.function,
                        "difficulty": ex.difficulty, "error": result.error})

    def rates(b):
        n = max(b[0], 1)
        return {"n": b[0], "execution_accuracy": b[1] / n, "exact_match": b[2] / n, "valid_syntax": b[3] / n}

    report = rates(totals)
    report["per_function"] = {k: rates(v) for k, v in sorted(groups["function"].items())}
    report["per_difficulty"] = {k: rates(v) for k, v in sorted(groups["difficulty"].items())}
    return {"metrics": report, "records": records}


def evaluate_model(model, tokenizer, examples: list[Example], *, constrained: bool = False, batch_size: int = 32,
                   max_new_tokens: int = 96, candidates: int = 1, synonyms: bool = False,
                   readings: int = 1) -> dict:
    """Predict and score; the result has "metrics" (JSON-ready) and "records".

    `synonyms`: the model reads each request with its unknown words rewritten (`synonyms.default_rewriter`), in up
    to `readings` readings; a record whose request was rewritten carries the first rewritten text as
    "model_request"."""
    from .synonyms import request_reader

    start = time.time()
    reader = request_reader(synonyms, readings)
    read: dict[tuple[int, str], list[str]] = {}  # (table, request) -> what the model read, for the records
    rewrite = None
    if reader is not None:
        def rewrite(request, table):
            read[id(table), request] = _as_list(reader(request, table))
            return read[id(table), request]

    preds = predict_formulas(model, tokenizer, [(e.table, e.request, e.show_samples) for e in examples],
                             batch_size=batch_size, max_new_tokens=max_new_tokens, constrained=constrained,
                             candidates=candidates, rewrite=rewrite)
    result = score(examples, preds)
    for example, record in zip(examples, result["records"]):
        texts = read.get((id(example.table), example.request), [example.request])
        if texts != [example.request]:
            record["model_request"] = texts[0]
            if len(texts) > 1:
                record["model_readings"] = texts
    result["metrics"]["constrained"] = constrained
    result["metrics"]["candidates"] = candidates
    result["metrics"]["synonyms"] = synonyms
    result["metrics"]["readings"] = readings if synonyms else 1
    result["metrics"]["seconds"] = round(time.time() - start, 1)
    return result


def format_report(metrics: dict) -> str:
    """Markdown tables: overall, per function, per difficulty."""
    def row(name, m):
        return (f"| {name} | {m['n']} | {100 * m['execution_accuracy']:.1f} | {100 * m['exact_match']:.1f} | "
                f"{100 * m['valid_syntax']:.1f} |")

    head = "| {} | n | exec acc % | exact % | valid % |\n|---|---:|---:|---:|---:|"
    lines = [head.format("split"), row("all", metrics), "", head.format("function")]
    lines += [row(k, v) for k, v in metrics["per_function"].items()]
    lines += ["", head.format("difficulty")]
    lines += [row(k, v) for k, v in metrics["per_difficulty"].items()]
    return "\n".join(lines)
