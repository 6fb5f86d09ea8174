"""Repaired copies of beam candidates: one part of a formula filled in from what the request and the table say.

A small model gets the shape of a formula right far more often than the one value, column, comparison or label it
has never seen. Each function here follows candidates (best first) with copies that repair one such part from the
request (its linked cell values, its stated comparison, its IF labels) or the table (the column that holds a value,
the key of a named record); `ranking.pick_candidate` then decides between a beam and its copies on the same checks,
so a copy wins only where it meets more of them. `repaired` applies them all, in the order they were measured.
"""

from __future__ import annotations

import re
from collections import defaultdict

from .linking import link_columns, request_comparisons, request_labels
from .ranking import (CELL_RANGE, call_arguments, comparison_sites, formula_comparisons, if_arguments, if_results,
                      quoted_values, text_column, text_criteria, unasked_reshapings)


def repaired(candidates: list[str], table, reading: str, written: str) -> list[str]:
    """`candidates` (best first) with every repair's copies: a named record looked up, criteria values filled in
    from the linked cells, criteria moved to the column holding their value, the stated comparison written in, text
    columns dropped from a sum, an IF's labels from the request. `reading` is what the model read (the request, or
    its rewrite), `written` the request as typed (labels and cue words are read from it)."""
    candidates = with_record_lookups(candidates, table, reading, written)
    candidates = with_criteria_columns(with_linked_values(candidates, table, reading), table, reading)
    candidates = with_text_dropped(with_stated_comparison(candidates, reading), table)
    return with_request_labels(candidates, request_labels(written))


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

        for m, marks, text, wildcard in text_criteria(formula):
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


def with_criteria_columns(candidates: list[str], table, request: str) -> list[str]:
    """`candidates` (best first), then their copies in which a text criterion on a column where the request names
    no value is moved to a column where it names one, with that value:
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
        criteria = list(text_criteria(formula))
        tested = {m.group(1) for m, *_ in criteria}
        for m, marks, text, wildcard in criteria:
            source = m.group(1)
            if marks not in ("", "=") or wildcard or source in named:  # a value named in its column: filled in there
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
        return re.sub(r"[A-Z]+", new, m.group(0))  # `$` signs kept
    return _RANGE_OR_STRING.sub(move, text)


_RANGE_OR_STRING = re.compile(r'"(?:[^"]|"")*"?|(?<![A-Z$])\$?([A-Z]{1,3})\$?(\d+):\$?([A-Z]{1,3})\$?(\d+)')


def with_stated_comparison(candidates: list[str], request: str) -> list[str]:
    """`candidates` (best first), each that tests one comparison, not the one comparison the request states,
    followed by its copy testing the stated one instead: `=IF(G14>145,"late","on time")` for "late if it was kept
    over 14 days" also as `=IF(G14>14,"late","on time")`; `=COUNTIF(H2:H15,">"&DATE(2024,12,1))` for "announced
    after feb 1 2024" also as `=COUNTIF(H2:H15,">"&DATE(2024,2,1))`.

    The model puts the comparison in the right place far more often than it copies its number (or date, or
    operator) right, and `linking.request_comparisons` reads what the request states only where it is sure (every
    generated, hand-written and independent reference tests what it reads). A formula with several comparisons, or
    a request stating several, is left alone: which goes where is the model's call; so is a comparison that is part
    of an expression (`">"&3+1`). An IF that tests the stated comparison the other way round with its labels swapped
    is right, and keeps its place ahead of its copy (`ranking.tests_stated`)."""
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
        sites = comparison_sites(formula)
        if len(sites) != 1 or sites[0][2] is None:
            continue
        (start, end, cell), = sites
        if formula[end:].lstrip()[:1] not in ("", ",", ")") or formula[:start].rstrip()[-1:] in tuple("+-*/^&"):
            continue  # `">"&3+1`, `B3>3*2`, `A3+B3>15`: part of an expression
        written = cell + op + (date or value) if cell else f'"{op}"&{date}' if date else f'"{op}{value}"'
        out.append(formula[:start] + written + formula[end:])
    return list(dict.fromkeys(out))


def with_text_dropped(candidates: list[str], table) -> list[str]:
    """`candidates` (best first), each that sums, averages or takes the max or min of ranges some of which are
    text columns followed by its copy over the number columns alone: `=SUMPRODUCT(A2:A15,E2:E15)` for "total
    volunteer hours" (names times hours: 0) also as `=SUM(E2:E15)`. The model pairs the column it means with
    another it has linked; text is never what such a function was asked to add up (`ranking.sums_numbers`)."""
    if not table.has_values:
        return candidates
    out: list[str] = []
    for formula in candidates:
        out.append(formula)
        call = call_arguments(formula)
        if not call or call[0] not in ("SUM", "SUMPRODUCT", "AVERAGE", "MAX", "MIN", "MEDIAN"):
            continue
        name, args = call
        numbers = [a for a in args if not text_column(table, a)]
        if numbers and len(numbers) < len(args) and all(CELL_RANGE.fullmatch(a) for a in args):
            out.append(f"={'SUM' if name == 'SUMPRODUCT' and len(numbers) == 1 else name}({','.join(numbers)})")
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
        if if_results(formula) is not None:
            out.append(f"=IF({if_arguments(formula)[0]},{yes},{no})")
    return list(dict.fromkeys(out))


_RESHAPED_CELL = re.compile(r"=\s*([A-Z][A-Z0-9.]*)\(\s*\$?([A-Z]{1,3})\$?(\d+)(?![\d:(])", re.IGNORECASE)


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
    unasked = unasked_reshapings(table, request, written, links)
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
