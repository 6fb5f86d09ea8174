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

from .executor import single_cells
from .linking import (ISO_DATE, QUOTED_TEXT, addressed_cells, empty_kind, filters_rows, joining_character,
                      link_columns, mentioned_rows, normalise_number, ordered_comparisons, presence_asked,
                      request_fallback, request_labels, request_mid_start, request_numbers, request_replacement,
                      spread_asked, states_a_comparison)
from .ranking import (CALL_NAME, CELL_RANGE, HOW_MANY, MID_CALL, ROUNDING_CALLS, aggregate_agrees, aggregates_asked,
                      asks_rounding, averages_or_extremes_under_condition, blank_strings, call_arguments, calls_of,
                      comparison_sites, date_criteria, date_piece_cells, formula_comparisons, holds_text, if_arguments,
                      if_results, is_number, is_number_column, joined_pieces, piece_asked, places_given,
                      places_written, quoted_values, range_column, ranges_span_data, stated_numbers, stated_places,
                      string_literal, text_column, text_criteria, totals_by_default, unasked_reshapings)
from .table import DATE, NUMBER, TEXT


def repaired(candidates: list[str], table, reading: str, written: str) -> list[str]:
    """`candidates` (best first) with every repair's copies: a named record looked up, criteria values filled in
    from the linked cells, criteria moved to the column holding their value, the stated comparison written in, text
    columns dropped from a sum, the aggregate the request asks for (a total where it names none), a rounding nobody
    asked for dropped or made to round to the stated places, a ratio of two named columns, a count of the rows where
    a named column is empty or filled in, the piece of a text or the part of a date asked for, values joined with the
    character named, the span between a column's extremes, criteria nothing supports dropped, a named value added as
    a criterion, a stated span of days added as criteria, date criteria moved to a date column, column ranges over
    the data rows, a lookup with the fallback the request gives, arguments in the request's order, an IF's labels
    from the request. `reading` is what the model read (the request, or its rewrite), `written` the request as typed
    (labels and cue words are read from it)."""
    candidates = with_record_lookups(candidates, table, reading, written)
    candidates = with_criteria_columns(with_linked_values(candidates, table, reading), table, reading)
    candidates = with_text_dropped(with_stated_comparison(candidates, reading), table)
    candidates = with_asked_aggregate(candidates, table, reading, written)
    candidates = with_stated_places(with_unasked_rounding_dropped(candidates, reading, written), reading, written)
    candidates = with_ratios_built(candidates, table, reading, written)
    candidates = with_presence_counts(candidates, table, reading, written)
    candidates = with_text_pieces_built(candidates, table, reading, written)
    candidates = with_date_pieces_built(candidates, table, reading, written)
    candidates = with_spread_built(with_joining_character(candidates, written), table, reading)
    candidates = with_unsupported_criteria_dropped(candidates, table, reading, written)
    candidates = with_named_criteria_added(candidates, table, reading)
    candidates = with_stated_span_added(candidates, table, reading)
    candidates = with_date_criteria_columns(candidates, table, reading)
    candidates = with_data_ranges(candidates, table, reading)
    candidates = with_fallback_lookup(candidates, table, reading, written)
    candidates = with_argument_order(candidates, written)
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
                    out.append(formula[:start] + marks + string_literal(value)[1:-1] + wildcard + formula[end:])

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
                moved += [head + string_literal(value)[1:-1] + wildcard + tail for value in values]
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
    """`candidates` (best first), each that tests as many comparisons as the request states, not all of them, followed
    by its copy testing the stated ones instead, in the order the request states them: `=IF(G14>145,"late","on
    time")` for "late if it was kept over 14 days" also as `=IF(G14>14,"late","on time")`;
    `=COUNTIF(H2:H15,">"&DATE(2024,12,1))` for "announced after feb 1 2024" also as
    `=COUNTIF(H2:H15,">"&DATE(2024,2,1))`; `=IF(AND(A6>25,C6<6),...)` for "if assists more than 6 and goals under 25"
    also as `=IF(AND(A6>6,C6<25),...)`; a month's two bounds (`in April 2024`) in a SUMIFS.

    The model puts the comparisons in the right places far more often than it copies their numbers (or dates, or
    operators) right, and `linking.ordered_comparisons` reads what the request states only where it is sure (every
    generated, hand-written and independent reference tests what it reads). A formula testing another number of
    comparisons than the request states is left alone (which goes where is the model's call), and so is one whose
    comparison is part of an expression (`">"&3+1`). Each site keeps its cell; of several, the n-th gets the n-th
    stated comparison (every generated, hand-written and independent reference with several conditions names them in
    the request's order), unless the formula tests the stated operators in the reverse order: then it seems to test
    the conditions in another order, and writing them in order would put each on the wrong column. An IF that tests
    the stated comparison the other way round with its labels swapped is right, and keeps its place ahead of its
    copy (`ranking.tests_stated`)."""
    stated = ordered_comparisons(request)
    if not stated:
        return candidates
    targets = [(op, _date_call(value) if "-" in value[1:] else None, value)
               for op, value in stated]
    out: list[str] = []
    for formula in candidates:
        out.append(formula)
        if set(stated) <= formula_comparisons(formula):
            continue
        sites = sorted(comparison_sites(formula))
        if len(sites) != len(stated) or any(cell is None or _in_expression(formula, start, end)
                                            for start, end, cell in sites):
            continue
        operators, asked = [_site_operator(formula[start:end]) for start, end, _ in sites], [op for op, _ in stated]
        if len(sites) > 1 and operators != asked and operators == asked[::-1]:
            continue  # several conditions, seemingly in the other order than the request's: which goes where is unsure
        copy = formula
        for (start, end, cell), (op, date, value) in reversed(list(zip(sites, targets))):
            site = cell + op + (date or value) if cell else f'"{op}"&{date}' if date else f'"{op}{value}"'
            copy = copy[:start] + site + copy[end:]
        out.append(copy)
    return list(dict.fromkeys(out))


def _date_call(iso: str) -> str:
    """An ISO date as the formula writes it: `2024-03-01` -> `DATE(2024,3,1)`."""
    return "DATE({},{},{})".format(*map(int, iso.split("-")))


def _site_operator(site: str) -> str:
    """The operator a comparison site tests (`">="&DATE(...)` -> `>=`, `B4<50` -> `<`)."""
    return re.search(r"[<>]=?|=", site).group(0)


def _in_expression(formula: str, start: int, end: int) -> bool:
    """Whether the comparison at formula[start:end] is part of an expression (`">"&3+1`, `B3>3*2`, `A3+B3>15`)."""
    return formula[end:].lstrip()[:1] not in ("", ",", ")") or formula[:start].rstrip()[-1:] in tuple("+-*/^&")


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


# One layout, several families: swapping the name keeps the arguments right (`MAXIFS(v,c,k)` -> `MINIFS(v,c,k)`).
_SAME_LAYOUT = ({"SUM": "SUM", "AVERAGE": "AVERAGE", "MEDIAN": "MEDIAN", "MAX": "MAX", "MIN": "MIN"},
                {"SUM": "SUMIFS", "AVERAGE": "AVERAGEIFS", "MAX": "MAXIFS", "MIN": "MINIFS"},
                {"SUM": "SUMIF", "AVERAGE": "AVERAGEIF"},
                {"MAX": "LARGE", "MIN": "SMALL"})


def with_unasked_rounding_dropped(candidates: list[str], request: str, written: str = "") -> list[str]:
    """`candidates` (best first), each formula that is one ROUND / ROUNDUP / ROUNDDOWN to a number of places the
    request does not state (`ranking.stated_places`) followed by what it rounds: `=ROUND(AVERAGE(D2:D36),2)` for
    "weight averaged over every row" also as `=AVERAGE(D2:D36)`. The model rounds where its training requests often
    do; the ranking refuses the made-up places (`ranking.rounds_as_stated`), and the copy is what was asked."""
    places = stated_places(request, written)
    out: list[str] = []
    for formula in candidates:
        out.append(formula)
        call = call_arguments(formula)
        if call and call[0] in ROUNDING_CALLS and len(call[1]) == 2 and not places_written(call[1], places):
            out.append("=" + call[1][0].strip())
    return list(dict.fromkeys(out))


def with_stated_places(candidates: list[str], request: str, written: str = "") -> list[str]:
    """`candidates` (best first), each formula that is one ROUND / ROUNDUP / ROUNDDOWN to a number of places the
    request does not state followed by the same rounding to each number of places it gives (`_places_to_write`):
    `=ROUND(G7/F7,0)` for "postage per kg for row 7, rounded to 2 places" also as `=ROUND(G7/F7,2)`, and
    `=ROUND(AVERAGE(E2:E15),2)` for "rounded to the nearest km" also as `=ROUND(AVERAGE(E2:E15),0)`. The model
    writes the places its training requests most often give, not always the ones this request gives; the ranking
    wants every stated number written (`Checks.numbers`), so the copy wins where the rest of the formula is right."""
    places = _places_to_write(request, written)
    out: list[str] = []
    for formula in candidates:
        out.append(formula)
        call = call_arguments(formula)
        if call and call[0] in ROUNDING_CALLS and len(call[1]) == 2 and is_number(call[1][1]) and (
                normalise_number(call[1][1].strip()) not in places):
            out.extend(f"={call[0]}({call[1][0].strip()},{p})" for p in places)
    return list(dict.fromkeys(out))


def _places_to_write(request: str, written: str) -> list[str]:
    """The numbers of places a rounding for the request should write, most places first: those it states
    (`2 dp`, `nearest hundred`), or 0 where it only asks for a rounding (`rounded`, `to the nearest km`)."""
    given = places_given(request, written)
    return sorted(given or ({"0"} if asks_rounding(request, written) else set()), key=int, reverse=True)


# What stands between the two columns of a ratio: `postage per kg`, `bill divided by covers`, `all rejects / all
# loaves`, `total fees divided by total visits` (the second column's own total word is part of the connector).
_RATIO_BETWEEN = re.compile(r"^\s*(?:per|divided\s+by|/|\u00f7)\s*(?:(?:the\s+)?(?:total|all|sum\s+of)\s+)?"
                            r"(?:the\s+)?$", re.IGNORECASE)
_DIVIDED = re.compile(r"\bdivided\s+by\b|[/\u00f7]", re.IGNORECASE)
_WHOLE_COLUMNS = re.compile(r"\b(?:total|all|whole)\b", re.IGNORECASE)


def with_ratios_built(candidates: list[str], table, request: str, written: str = "") -> list[str]:
    """`candidates` followed by the ratio the request spells out between two number columns it names, when it asks
    for a rounding or says `divided by` / `/`: "postage per kg for row 7, rounded to 2 places" -> `=ROUND(G7/F7,2)`,
    "spend per person on T-104 (bill divided by covers), 2 dp" -> `=ROUND(F5/E5,2)` (the record's row), "overall
    reject rate (all rejects / all loaves), 3 decimal places" -> `=ROUND(SUM(G2:G16)/SUM(E2:E16),3)` (no row named,
    and a word for the whole column). The first column named is divided by the second.

    The model's training requests round an aggregate of one column and divide only inside IFERROR, so a rounded
    ratio is a shape it never writes, though it is one of the commonest things people ask of two columns. The copies
    come after every candidate, one per number of places the request states (0 where it only says to round), and
    `pick_candidate` takes one only when no candidate meets as many of its checks (the columns named, the places
    stated)."""
    rounding = asks_rounding(request, written)
    if not rounding and not _DIVIDED.search(request):
        return candidates
    links = link_columns(table, request)
    numbers = sorted((link for link in links if link.kind == "header" and is_number_column(table, link.letter)),
                     key=lambda link: link.start)
    pairs = [(a.letter, b.letter) for a, b in zip(numbers, numbers[1:])
             if a.letter != b.letter and _RATIO_BETWEEN.match(request[a.end:b.start])]
    rows = mentioned_rows(table, request, links)
    # a value that filters the rows (`for DHL`) asks for a conditional ratio, which is not built
    if (not pairs or len(rows) > 1 or filters_rows(links) or not rows and (
            not _WHOLE_COLUMNS.search(request) or "AVERAGE" in aggregates_asked(table, request, written))):
        return candidates
    first, last = table.first_row, table.last_row
    part = (lambda c: f"{c}{rows[0]}") if rows else (lambda c: f"SUM({c}{first}:{c}{last})")
    places = _places_to_write(request, written)
    built = [f"{part(a)}/{part(b)}" for a, b in pairs]
    copies = [f"=ROUND({ratio},{p})" for ratio in built for p in places] if rounding else [f"={r}" for r in built]
    return list(dict.fromkeys(candidates + copies))


def with_presence_counts(candidates: list[str], table, request: str, written: str = "") -> list[str]:
    """`candidates` followed, for a count of rows where a named column is empty or filled in
    (`linking.presence_asked`), by that count: "how many episodes have no sponsor?" -> `=COUNTBLANK(H2:H16)`, "how
    many parcels have a transit time recorded" -> `=COUNT(H2:H17)` (COUNTA for a column of text), "how many loans
    had no late fee" -> `=COUNTIF(H2:H17,0)` (a column of numbers without empty cells says none with 0).

    The model's COUNTBLANK requests name the empty cells (`how many blank cells in ...`); a person names what the
    rows lack, and the model answers with some other count. The copies come after every candidate, so one wins only
    where no candidate meets as many checks (`ranking.counts_presence_as_asked` refuses the opposite count)."""
    presence = presence_asked(table, request)
    # `how many` alone too: in `how many parcels have a transit time`, `parcels` weakly links a number column, and
    # `aggregates_asked` reads `how many <number column>` as a sum
    if not presence or not ("COUNT" in aggregates_asked(table, request, written) or HOW_MANY.search(request)):
        return candidates
    return list(dict.fromkeys(candidates + [_presence_count(table, letter, there) for letter, there in
                                            presence.items()]))


def _presence_count(table, letter: str, there: bool) -> str:
    """The count of the rows where column `letter` is filled in (`there`) or empty, by how it says "none"."""
    cells = f"{letter}{table.first_row}:{letter}{table.last_row}"
    if empty_kind(table, letter) == "zero":
        return f'=COUNTIF({cells},"<>0")' if there else f"=COUNTIF({cells},0)"
    return f"=COUNT{'' if is_number_column(table, letter) else 'A'}({cells})" if there else f"=COUNTBLANK({cells})"


_PIECES = {"before": "=LEFT({c},FIND({x},{c})-1)", "after": "=RIGHT({c},LEN({c})-FIND({x},{c}))",
           "position": "=FIND({x},{c})", "without": '=SUBSTITUTE({c},{x},"")'}


def with_text_pieces_built(candidates: list[str], table, request: str, written: str = "") -> list[str]:
    """`candidates` followed by the piece of one text cell the request asks for (`linking.text_piece_asked`):
    "just the first name of the member in A3" -> `=LEFT(A3,FIND(" ",A3)-1)`, "driver's surname in H4" ->
    `=RIGHT(H4,LEN(H4)-FIND(" ",H4))`, "the part of the email in B2 before the @" -> `=LEFT(B2,FIND("@",B2)-1)`,
    "position of the @ sign in Carlos Vega's email" -> `=FIND("@",B3)`, "plate in A7 without the dash" ->
    `=SUBSTITUTE(A7,"-","")`. The cell is the one the request names by address, else a text cell of the row it
    names that a candidate uses; where the table has values, one that holds the character.

    The generator splits texts only by a count of characters (`first 3 letters`) and finds or replaces only quoted
    texts, so a piece named by what it is (a first name, the part before a character) is a shape the model does not
    write; `ranking.splits_as_asked` then wants the character written."""
    piece = piece_asked(table, request, written)
    if piece is None:
        return candidates
    what, character = piece
    rows = set(mentioned_rows(table, request))
    cells = addressed_cells(table, request) + [
        cell for formula in candidates for cell in sorted(single_cells(formula), key=lambda c: formula.find(
            f"{c[0]}{c[1]}")) if cell[1] in rows]
    usable = [f"{letter}{row}" for letter, row in dict.fromkeys(cells)
              if _holds_character(table, letter, row, character)]
    built = [_PIECES[what].format(c=cell, x=string_literal(character)) for cell in usable[:2]]
    return list(dict.fromkeys(candidates + built))


def _holds_character(table, letter: str, row: int, character: str) -> bool:
    """Whether a cell is text that holds `character` (any text cell, in a table known by its headers alone)."""
    if not any(column.letter == letter for column in table.columns) or table.column(letter).kind in (NUMBER, DATE):
        return False
    value = table.cell(letter, row)
    return not table.has_values or isinstance(value, str) and character in value


def with_date_pieces_built(candidates: list[str], table, request: str, written: str = "") -> list[str]:
    """`candidates` followed by the part of a date the request asks for (`ranking.date_piece_cells`): "what year was
    S1E05 published" -> `=YEAR(E6)`, "month number of the latest check-in" -> `=MONTH(MAX(D2:D19))`, "day of the
    week of the check-in in row 10" -> `=TEXT(D10,"dddd")`, "ship date of PX100235 in the form 2024-01-31" ->
    `=TEXT(E6,"yyyy-mm-dd")`. The generator has no request for a part of a date or a date written as a sample shows,
    so the model answers with the whole date or something else; `ranking.dates_as_asked` then wants the part."""
    found = date_piece_cells(table, request, written or request, link_columns(table, request))
    if found is None:
        return candidates
    piece, dates = found
    built = [f"={piece}({date})" if piece in ("YEAR", "MONTH") else f'=TEXT({date},"{piece}")' for date in dates]
    return list(dict.fromkeys(candidates + built))


_SEPARATOR = re.compile(r'"([^"\w]{1,3})"')  # a string literal of spaces and punctuation: what a join puts between


def with_joining_character(candidates: list[str], request: str) -> list[str]:
    """`candidates` (best first), each that joins values with a separator followed by its copy with the character
    the request names (`linking.joining_character`): `=A7&" "&B7` for "rep and region of row 7 joined with a dash"
    also as `=A7&"-"&B7`. The model joins with the separators its training requests quote; a named one it misses."""
    character = joining_character(request)
    if character is None:
        return candidates
    out: list[str] = []
    for formula in candidates:
        out.append(formula)
        if joined_pieces(formula) and _SEPARATOR.search(formula):
            out.append(_SEPARATOR.sub(lambda m: string_literal(character), formula))
    return list(dict.fromkeys(out))


def with_spread_built(candidates: list[str], table, request: str) -> list[str]:
    """`candidates` followed by the span between the extremes of each number or date column the request names, when
    it asks for one (`linking.spread_asked`): "gap in km between the highest and lowest odometer readings" ->
    `=MAX(E2:E15)-MIN(E2:E15)`. The model writes one of the two ends (`=MAX(E2:E15)`)."""
    if not spread_asked(request):
        return candidates
    letters = dict.fromkeys(link.letter for link in link_columns(table, request) if link.kind == "header"
                            and table.column(link.letter).kind in (NUMBER, DATE))
    cells = [f"{letter}{table.first_row}:{letter}{table.last_row}" for letter in letters]
    return list(dict.fromkeys(candidates + [f"=MAX({c})-MIN({c})" for c in cells]))


def with_asked_aggregate(candidates: list[str], table, request: str, written: str = "") -> list[str]:
    """`candidates` (best first), each that aggregates in a family the request does not ask for followed by its
    copies in the families it does (`ranking.aggregates_asked`): `=MAXIFS(E2:E19,B2:B19,"Standard")` for "fewest
    visits among Standard plan members" also as `=MINIFS(E2:E19,B2:B19,"Standard")`; `=AVERAGEIF(D2:D15,"North",
    G2:G15)` for "total fuel used by the north depot" also as `=SUMIF(D2:D15,"North",G2:G15)`; `=SUMIFS(F2:F15,
    D2:D15,"East")` for "count of cars in the east depot" also as `=COUNTIFS(D2:D15,"East")` (`_as_count`).

    The model gets the columns and criteria of a conditional aggregate right far more often than the one word that
    picks the function, and "cheapest", "fewest" and "most" are words it reads poorly. A function is swapped only for
    one with the same arguments (SUM / AVERAGE / MAX ... of a range, the -IFS family, SUMIF / AVERAGEIF, LARGE /
    SMALL); SUMIF and AVERAGEIF also become MAXIFS / MINIFS with their arguments reordered, and back. A formula
    combining aggregates (`=SUM(D2:D5)/COUNT(D2:D5)`) is not one family's (`ranking.single_aggregate`): no copy.
    A request that names no family and no word that may ask for another than a total asks for a total
    (`ranking.totals_by_default`): "tips Anna made" gets `=SUMIFS(...)` after the model's `=MAXIFS(...)`."""
    asked = aggregates_asked(table, request, written)
    if not asked:
        concerned = any(averages_or_extremes_under_condition(formula) for formula in candidates)
        if concerned and totals_by_default(table, request, written, asked=asked):
            return _with_totals(candidates)
        return candidates
    out: list[str] = []
    for formula in candidates:
        out.append(formula)
        if aggregate_agrees(formula, asked):
            continue
        out.extend(_aggregate_swaps(formula, asked))
    return list(dict.fromkeys(out))


def _with_totals(candidates: list[str]) -> list[str]:
    """`candidates` (best first), each conditional average or extreme followed by its total
    (`ranking.totals_by_default`): `=MAXIFS(E2:E15,C2:C15,"Food Bank")` also as `=SUMIFS(E2:E15,C2:C15,"Food Bank")`."""
    out: list[str] = []
    for formula in candidates:
        out.append(formula)
        if averages_or_extremes_under_condition(formula):
            out.extend(_aggregate_swaps(formula, {"SUM"}))
    return list(dict.fromkeys(out))


def _aggregate_swaps(formula: str, asked: set[str]) -> list[str]:
    """`formula` (one aggregate call) with that call rewritten into each asked family it can take."""
    copies = []
    code = blank_strings(formula)
    for family in sorted(asked, key=lambda family: (family == "COUNT", family)):  # a count last: the rarer reading
        copy = formula
        for m in reversed(list(CALL_NAME.finditer(code))):  # function names are code: never text inside a string
            name = m.group(1).upper()
            for layout in _SAME_LAYOUT:
                if name in layout.values():
                    copy = copy[:m.start(1)] + layout.get(family, name) + copy[m.end(1):]
                    break
        if copy != formula:
            copies.append(copy)
        call = call_arguments(formula)
        if call and call[0] in ("SUMIF", "AVERAGEIF") and len(call[1]) == 3 and family in ("MAX", "MIN"):
            criteria, value, target = call[1]
            copies.append(f"={family}IFS({target},{criteria},{value})")
        elif call and call[0] in ("MAXIFS", "MINIFS") and len(call[1]) == 3 and family in ("SUM", "AVERAGE"):
            target, criteria, value = call[1]
            copies.append(f"={family}IF({criteria},{value},{target})")
        if call and family == "COUNT":
            copies += _as_count(*call)
    return copies


def _as_count(name: str, args: list[str]) -> list[str]:
    """A conditional aggregate as the count of the rows its criteria pick (`=SUMIFS(F2:F15,D2:D15,"East")` ->
    `=COUNTIFS(D2:D15,"East")`), a plain one as the count of its column's entries (`=SUM(F2:F15)` ->
    `=COUNTA(F2:F15)`): what is counted is the rows, so the column aggregated goes."""
    if name in _IFS_PLAIN and len(args) >= 3 and len(args) % 2:
        return [f"=COUNTIFS({','.join(args[1:])})"]
    if name in ("SUMIF", "AVERAGEIF") and len(args) in (2, 3):
        return [f"=COUNTIF({args[0]},{args[1]})"]
    plain = name in ("SUM", "AVERAGE", "MEDIAN", "MAX", "MIN") and len(args) == 1
    if plain and CELL_RANGE.fullmatch(args[0].strip()):
        return [f"=COUNTA({args[0].strip()})"]
    return []


_IFS_PLAIN = {"SUMIFS": "SUM", "AVERAGEIFS": "AVERAGE", "MAXIFS": "MAX", "MINIFS": "MIN"}
# `">4"`, `"<>0"`, `"<="&DATE(...)`, `">"&150`; not `"<>West"`, `"<>"` (not blank) or `">"&AVERAGE(...)`
_COMPARISON_CRITERION = re.compile(r'"(?:>=|<=|<>|>|<)(?=-?[\d.]|"\s*&\s*(?:-?\d|DATE\())', re.IGNORECASE)


def with_unsupported_criteria_dropped(candidates: list[str], table, request: str, written: str = "") -> list[str]:
    """`candidates` (best first), each COUNTIFS / SUMIFS / AVERAGEIFS / MAXIFS / MINIFS with criteria nothing
    supports followed by its copy without them: a comparison when the request states no number and words no
    comparison (`=MAXIFS(E2:E15,C2:C15,"Events",G2:G15,"<="&DATE(2023,9,1))` for "most hours on the Events committee"
    also as `=MAXIFS(E2:E15,C2:C15,"Events")`), and a text its column does not hold (`D2:D16,"Downloads"`: a header word
    tested against the season numbers; a word tested against a date column). With no criteria left, the aggregate of the
    whole column (`=MAX(G2:G16)` for "most downloads for a single episode"). A count whose every criterion is a made-up
    comparison is also offered, after every candidate, as the count of the entries of the column it tested
    (`=COUNTA(A2:A11)` for "how many reps are listed"); not one testing a text the column lacks, whose answer may
    well be 0 (`how many horror films`).

    The model has learnt that conditional aggregates often carry a date range or a second criterion, and adds one
    the request never asked for; a criterion that matches nothing, or one made up, changes the answer."""
    invented_comparisons = not any(stated_numbers(r, link_columns(table, r)) or states_a_comparison(r)
                                   for r in dict.fromkeys((request, written)))
    out: list[str] = []
    counts: list[str] = []  # COUNTA copies, offered after every candidate: the last resort, never a tie-breaker
    for formula in candidates:
        out.append(formula)
        call = call_arguments(formula)
        if not call or call[0] not in (*_IFS_PLAIN, "COUNTIFS"):
            continue
        name, args = call
        target, pairs = (None, args) if name == "COUNTIFS" else (args[0], args[1:])
        if len(pairs) % 2 or not pairs:
            continue
        kept = [(rng, crit) for rng, crit in zip(pairs[::2], pairs[1::2])
                if not (invented_comparisons and _COMPARISON_CRITERION.match(crit))
                and not _unheld_text(table, rng, crit)]
        if len(kept) == len(pairs) // 2:
            continue
        if kept:
            head = [target] if target is not None else []
            out.append(f"={name}({','.join(head + [x for pair in kept for x in pair])})")
        elif target is not None and CELL_RANGE.fullmatch(target):
            out.append(f"={_IFS_PLAIN[name]}({target})")
        elif target is None and range_column(pairs[0]) and all(
                invented_comparisons and _COMPARISON_CRITERION.match(crit) for crit in pairs[1::2]):
            counts.append(f"=COUNTA({pairs[0].strip()})")  # every criterion made up: the column's entries
    return list(dict.fromkeys(out + counts))


def _unheld_text(table, reference: str, criterion: str) -> bool:
    """Whether `criterion` is a plain text (no comparison, no wildcard) that no cell of the one-column range
    `reference` holds, ignoring case; False for a table without values."""
    letter = range_column(reference)
    text = criterion.strip()
    if not table.has_values or letter is None or not re.fullmatch(r'"=?[^"*?~<>=]+"', text):
        return False
    value = text[1:-1].lstrip("=").lower()
    if is_number(value):  # Excel matches `"4"` to a cell holding 4.0
        return False
    try:
        column = table.column(letter)
    except (KeyError, ValueError):
        return False
    return not holds_text(column, value)


_WITH_CRITERIA = {"SUM": "SUMIFS", "AVERAGE": "AVERAGEIFS", "MAX": "MAXIFS", "MIN": "MINIFS", "COUNTA": "COUNTIFS",
                  "COUNT": "COUNTIFS"}


def with_named_criteria_added(candidates: list[str], table, request: str) -> list[str]:
    """`candidates` (best first), each conditional aggregate (or plain SUM / AVERAGE / MAX / MIN / COUNTA of a column)
    that leaves out a cell value the request names, followed by its copy with that value as one more criterion on
    its column: `=SUMIFS(D2:D31,B2:B31,"Dr Ford")` for "total of column D when col B = Dr Ford together with unit =
    Ortho" also as `=SUMIFS(D2:D31,B2:B31,"Dr Ford",F2:F31,"Ortho")`; SUMIF / AVERAGEIF / COUNTIF become their -IFS
    form. Only columns where the request names one value are added (which of several is the model's call).

    The model writes one criterion far more often than two: most training requests have one. The `Links:` line has
    found every named value's column, so the criterion it left out is a known range and a copied value. A yes/no
    column named by its header names its `Yes` ("members who have a locker") or, negated, its `No` ("parcels still
    not delivered"): `_flags_named`."""
    links = link_columns(table, request)
    named = {letter: values[0] for letter, values in _named_values(table, request, links).items() if len(values) == 1}
    for letter, flag in _flags_named(table, request, links).items():
        named.setdefault(letter, flag)
    if not named:
        return candidates
    out: list[str] = []
    for formula in candidates:
        out.append(formula)
        call = call_arguments(formula)
        if not call:
            continue
        quoted = quoted_values(formula)
        missing = [(letter, value) for letter, value in named.items() if value.lower() not in quoted]
        if not missing:
            continue
        pairs = [f"{letter}{table.first_row}:{letter}{table.last_row},{string_literal(value)}"
                 for letter, value in missing]
        if (copy := _criteria_added(*call, pairs)) is not None:
            out.append(copy)
    return list(dict.fromkeys(out))


def _criteria_added(name: str, args: list[str], pairs: list[str]) -> str | None:
    """A call with more (range, criterion) pairs: an -IFS call extended, SUMIF / AVERAGEIF / COUNTIF in their -IFS
    form, a plain aggregate of one range in its conditional form; None for any other call."""
    if name in ("SUMIFS", "AVERAGEIFS", "MAXIFS", "MINIFS", "COUNTIFS"):
        return f"={name}({','.join(args + pairs)})"
    if name == "COUNTIF" and len(args) == 2:
        return f"=COUNTIFS({','.join(args + pairs)})"
    if name in ("SUMIF", "AVERAGEIF") and len(args) == 3:
        return f"={name}S({','.join([args[2], *args[:2], *pairs])})"
    if name in _WITH_CRITERIA and len(args) == 1 and CELL_RANGE.fullmatch(args[0]):
        head = [] if name.startswith("COUNT") else args
        return f"={_WITH_CRITERIA[name]}({','.join(head + pairs)})"
    return None


def with_stated_span_added(candidates: list[str], table, request: str) -> list[str]:
    """`candidates` (best first), then, for each conditional aggregate (or plain SUM / AVERAGE / MAX / MIN / COUNT /
    COUNTA of a column) that tests no date while the request states one span of days, its copies testing that span
    on a date column: `=COUNTIF(I2:I17,"North")` for "how many rentals left from the North dock during July 2024"
    also as `=COUNTIFS(I2:I17,"North",D2:D17,">="&DATE(2024,7,1),D2:D17,"<"&DATE(2024,8,1))`.

    The model drops a stated month or year from a count or a total that has another condition far more often than
    it gets the condition wrong: most training requests have one condition. The span is what
    `linking.ordered_comparisons` reads (`in July 2024`, `during 2023`, `before 1 April 2024`), at most one bound on
    each side, so one column can hold it (two conditions on two date columns are not merged onto one); every date
    column is tried, those the request names first (as `with_date_criteria_columns`). The copies come after every
    candidate: a beam that tests the span its own way (a Year column's `2009`, a YEAR() test) keeps its place. A
    table without values says nothing of its columns' kinds."""
    if not table.has_values:
        return candidates
    span = [(op, value) for op, value in ordered_comparisons(request) if ISO_DATE.match(value)]
    lower = [value for op, value in span if op in (">", ">=")]
    upper = [value for op, value in span if op in ("<", "<=")]
    dated = [column.letter for column in table.columns if column.kind == DATE]
    if not span or not dated or len(lower) > 1 or len(upper) > 1 or lower and upper and lower[0] >= upper[0]:
        return candidates
    named = {link.letter for link in link_columns(table, request) if link.kind == "header"}
    dated.sort(key=lambda letter: letter not in named)
    added: list[str] = []
    for formula in candidates:
        call = call_arguments(formula)
        if not call or date_criteria(formula) or set(span) & formula_comparisons(formula):
            continue
        for letter in dated:
            rows = f"{letter}{table.first_row}:{letter}{table.last_row}"
            pairs = [f'{rows},"{op}"&{_date_call(value)}' for op, value in span]
            if (copy := _criteria_added(*call, pairs)) is not None:
                added.append(copy)
    return list(dict.fromkeys(candidates + added))


def with_date_criteria_columns(candidates: list[str], table, request: str) -> list[str]:
    """`candidates` (best first), then their copies in which a date criterion on a column that holds no dates is
    moved to a date column: `=COUNTIFS(A2:A16,">="&DATE(2023,1,1),A2:A16,"<"&DATE(2024,1,1))` for "how many
    episodes came out in 2023?" (A holds episode codes, E the Published dates) also as `=COUNTIFS(E2:E16,...)`.

    The model writes the span of days a request states far more reliably than it finds the column that holds the
    dates: a request says when something happened (`came out`, `went out`), often not the date column's header. A
    criterion tested against a DATE on another column matches nothing (`ranking.compares_like_values` refuses the
    ones `ranking.date_criteria` finds), so every date column is tried, those the request names first; a table
    without values says nothing of its columns' kinds. The copies come after every candidate, as moved criteria do
    (`with_criteria_columns`)."""
    if not table.has_values:
        return candidates
    kinds = {column.letter: column.kind for column in table.columns}
    dated = [letter for letter, kind in kinds.items() if kind == DATE]
    if not dated:
        return candidates
    sites = {formula: [site for site in date_criteria(formula) if kinds.get(site[2]) != DATE]
             for formula in candidates}
    if not any(sites.values()):
        return candidates
    named = {link.letter for link in link_columns(table, request) if link.kind == "header"}
    dated.sort(key=lambda letter: letter not in named)
    moved: list[str] = []
    for formula, found in sites.items():
        for target in dated if found else ():
            copy = formula
            for start, end, _ in reversed(found):
                copy = copy[:start] + re.sub(r"[A-Za-z]+", target, copy[start:end]) + copy[end:]
            moved.append(copy)
    return list(dict.fromkeys(candidates + moved))


def with_data_ranges(candidates: list[str], table, request: str) -> list[str]:
    """`candidates` (best first), each with a column range cut short or run past the table (`=COUNTA(H2:H35)` on a
    table of rows 2-15) followed by its copy over the data rows (`=COUNTA(H2:H15)`). The model writes a column's
    range from the table sizes it saw in training as often as from the `Links:` line; the column is the part it
    chose, the rows are the table's (`ranking.ranges_span_data`, which a range the request types or bounds keeps)."""
    stated = stated_numbers(request, link_columns(table, request))
    out: list[str] = []
    for formula in candidates:
        out.append(formula)
        if ranges_span_data(formula, table, request, stated):
            continue
        blank = blank_strings(formula)

        def spanned(m: re.Match) -> str:
            if blank[m.start()] == " " or m.group(1) != m.group(3) or m.group(2) == m.group(4):
                return m.group(0)  # inside a string, across columns, or one cell
            return f"{m.group(1)}{table.first_row}:{m.group(3)}{table.last_row}"

        out.append(CELL_RANGE.sub(spanned, formula))
    return list(dict.fromkeys(out))


_KEY_TOKEN = re.compile(r"^(?:[A-Z][\w&.'\u2019-]*|[\w-]*\d[\w-]*)$")  # a capitalised word or one with a digit
_KEY_AFTER = re.compile(r"\b(?:of|for|is|in)\s+(.+)$", re.IGNORECASE)  # `minutes of <key>`, `fee for <key>`
_SAYING = re.compile(r"[\s,]*(?:\b(?:or|say|show|return|give|display|write|put|else|otherwise)\b[\s,]*)*$", re.I)


def with_fallback_lookup(candidates: list[str], table, request: str, written: str) -> list[str]:
    """`candidates`, then for a request that asks what to show when its lookup finds nothing
    (`linking.request_fallback`: `runtime of Dune, or "not in collection" if I don't have it`) the lookup itself:
    `=IFERROR(INDEX(D2:D17,MATCH("Dune",A2:A17,0)),"not in collection")`, once for each column the request names by
    header (`_fallback_key` finds the key and its column).

    A key the table does not hold is the point of such a request, and it is the case the model cannot answer: with
    nothing to link, it writes no lookup at all."""
    fallback = request_fallback(written)
    if fallback is None or not table.has_values:
        return candidates
    links = link_columns(table, written)
    found = _fallback_key(table, written, links)
    if found is None:
        return candidates
    key, key_letter = found
    key = key if key.isdigit() and table.column(key_letter).kind == NUMBER else string_literal(key)
    targets = [link.letter for link in links if link.kind == "header" and link.letter != key_letter]
    out = list(candidates)
    for target in dict.fromkeys(targets):
        out.append(f"=IFERROR({_index_match(table, target, key, key_letter)[1:]},{string_literal(fallback)})")
    return list(dict.fromkeys(out))


def _index_match(table, target: str, key: str, key_letter: str) -> str:
    """`=INDEX(<target column>,MATCH(<key>,<key column>,0))` over the data rows; `key` is written as given (a
    string literal or a number)."""
    def column(letter: str) -> str:
        return f"{letter}{table.first_row}:{letter}{table.last_row}"

    return f"=INDEX({column(target)},MATCH({key},{column(key_letter)},0))"


def _fallback_key(table, request: str, links) -> tuple[str, str] | None:
    """(key, key column letter) of the record a fallback request names, or None when it names none for sure. The
    key is what follows `of` / `for` / `is` / `in` before the fallback (`minutes of Schindler's List`, `loaves in
    batch SD-0311`), or what comes before `'s` (`Farid Nowak's Budget`), less the table's header words (`batch`).
    A record the table holds is searched in its own column; otherwise the key must be capitalised words or a code,
    searched in the column of distinct values shaped like it (`SD-0311` among batch codes; a number among distinct
    whole numbers) or, for words, the first column of distinct texts."""
    quote = QUOTED_TEXT.search(request)
    header_words = {w.lower() for c in table.columns for w in re.findall(r"[^\W\d_]+", c.header)}
    key: list[str] = []
    tokens: list[str] = []
    for sentence in reversed(re.split(r"[;.?!]", request[:quote.start()])):
        head = _SAYING.sub("", sentence).strip()
        if not head or re.match(r"(?:if|when|whenever)\b", head, re.IGNORECASE):
            continue  # `If not found, say "none"`: the key is in the sentence before
        after = _KEY_AFTER.search(head)
        possessive = re.split(r"['\u2019]s\s", head)[0] if re.search(r"['\u2019]s\s", head) else ""
        phrase = after.group(1) if after else possessive
        tokens = [t for t in phrase.replace(",", " ").split() if t.lower() not in header_words]
        while tokens and _KEY_TOKEN.match(tokens[-1]):
            key.insert(0, tokens.pop())
        break
    key_text = " ".join(key) if key else " ".join(tokens)
    for link in links:
        if link.row and link.text.lower() == key_text.lower():  # the table holds it: its own column
            return link.value, link.letter
    if not key or len(key) > 6:
        return None
    if key_text.isdigit():
        whole = [c for c in table.columns if c.kind == NUMBER and len(set(c.values)) == len(c.values)
                 and all(isinstance(v, (int, float)) and float(v).is_integer() for v in c.values)]
        return (key_text, whole[0].letter) if whole else None
    keys = [c for c in table.columns if c.kind == TEXT and None not in c.values and len(set(c.values)) == len(c.values)]
    if any(ch.isdigit() for ch in key_text):
        keys = [c for c in keys if all(_shape(str(v)) == _shape(key_text) for v in c.values)] or keys
    return (key_text, keys[0].letter) if keys else None


def _shape(text: str) -> str:
    """Letters as `a`, digits as `9`, runs collapsed: `SD-0311` -> `a-9`, `PX100250` -> `a9`."""
    return re.sub(r"([a9])\1+", r"\1", re.sub(r"\d", "9", re.sub(r"[^\W\d_]", "a", text)))


def _flags_named(table, request: str, links) -> dict[str, str]:
    """Column letter -> `Yes` or `No` for each yes/no column (two values, one of them yes) the request names by its
    header and by none of its values: a flag named is asked to be set ("bookings that include breakfast"), or unset
    after a negation right before it ("not delivered", "without a locker"). `links`: `link_columns(table, request)`."""
    if not table.has_values:
        return {}
    flags: dict[str, str] = {}
    for link in links:
        if link.kind != "header" or link.weak:
            continue
        values = {str(v).strip() for v in table.column(link.letter).values if v not in (None, "")}
        lowered = {v.lower() for v in values}
        if len(values) != 2 or not lowered & _YES or not lowered & _NO:
            continue
        negated = _NEGATION_BEFORE.search(request[:link.start])
        wanted = _NO if negated else _YES
        flags[link.letter] = next(v for v in sorted(values) if v.lower() in wanted)
    return flags


_YES = frozenset({"yes", "y", "true"})
_NO = frozenset({"no", "n", "false"})
_NEGATION_BEFORE = re.compile(r"(?:\b(?:not|no|never|without|non)|n't)\s+(?:\w+\s+){0,2}$", re.IGNORECASE)


def _named_values(table, request: str, links=None) -> dict[str, list[str]]:
    """Column letter -> the cell values the request names in that column, in request order (`links`: the request's
    `link_columns` when the caller has them)."""
    named: dict[str, list[str]] = defaultdict(list)
    for link in link_columns(table, request) if links is None else links:
        if link.kind == "value" and link.value not in named[link.letter]:
            named[link.letter].append(link.value)
    return named


def with_argument_order(candidates: list[str], request: str) -> list[str]:
    """`candidates` (best first), each with a SUBSTITUTE that writes the request's texts in other places and each MID
    that starts at the length the request gives, followed by its copy in the request's order:
    `=SUBSTITUTE(D3,"Eco","Mini")` for `row 3 SKU Name with "Mini" replaced by "Eco"` also as
    `=SUBSTITUTE(D3,"Mini","Eco")` (and `"Maria","Maria"` as `"Lucy","Maria"`); `=MID(F38,2,4)` for `2 characters
    starting at 4` also as `=MID(F38,4,2)` (`ranking.argument_order` prefers it). The model copies both texts, or
    both numbers, far more reliably than it orders them."""
    replacement, start = request_replacement(request), request_mid_start(request)
    if replacement is None and start is None:
        return candidates
    texts = list(map(string_literal, replacement)) if replacement else []
    numbers = request_numbers(request)
    out: list[str] = []
    for formula in candidates:
        out.append(formula)
        calls = calls_of(formula, "SUBSTITUTE") if texts else []
        if calls and texts not in [args[1:3] for _, _, args in calls]:
            for begin, end, args in reversed(calls):  # the innermost call writing one of the texts
                if len(args) in (3, 4) and set(args[1:3]) & set(texts):
                    count = args[3:] if args[3:] and not args[3].startswith('"') else []  # which one to replace
                    out.append(formula[:begin] + f"SUBSTITUTE({','.join([args[0], *texts, *count])})" + formula[end:])
                    break
        if start:
            swapped = MID_CALL.sub(lambda m: f"MID({m[1]},{m[3]},{m[2]})" if m[3] == start != m[2] and m[2] in numbers
                                   else m[0], formula)
            out.append(swapped)
    return list(dict.fromkeys(out))


def with_request_labels(candidates: list[str], labels: tuple[str, str] | None) -> list[str]:
    """`candidates` (best first), each IF that shows text followed by its copy showing the request's labels
    (`linking.request_labels`): `=IF(H9>5,"Above","chase")` for `show "chase up" if the late fee is above 5,
    otherwise "ok"` also as `=IF(H9>5,"chase up","ok")`. The copy keeps the condition and drops anything past the
    third argument (IF takes three). `pick_candidate` prefers a formula that shows the labels (in either order: a
    request may state the condition the other way round) over one showing other text, so the copy wins over its beam
    and loses to a higher beam that already has them."""
    if labels is None:
        return candidates
    yes, no = (string_literal(label) for label in labels)
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
    out: list[str] = []
    for formula in candidates:
        out.append(formula)
        m = _RESHAPED_CELL.match(formula)
        if not m or m.group(1).upper() not in unasked:
            continue
        letter, row = m.group(2).upper(), int(m.group(3))
        for record in (r for r in records if r.row == row):
            key = string_literal(record.value)
            for target in dict.fromkeys([letter, *headers]):
                if target != record.letter:
                    out.append(_index_match(table, target, key, record.letter))
    return list(dict.fromkeys(out))


# The key a lookup searches for, and the column it searches: `MATCH("WS-008",A2:A16`, `XLOOKUP("x",A2:A16`,
# `VLOOKUP("x",A2:H16` (the first column of its table).
# A lookup over a header row (`MATCH("Q2",C1:D1,0)`) searches headers, not the cells a request names: not filled.
_LOOKUP_KEY = re.compile(r'\b(MATCH|XLOOKUP|VLOOKUP)\(\s*"((?:[^"]|"")*)"\s*,\s*\$?([A-Z]{1,3})\$?(\d+):',
                         re.IGNORECASE)
