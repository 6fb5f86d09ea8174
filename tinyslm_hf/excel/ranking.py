"""Choosing among candidate formulas: what a formula does, read from its text, held to what the request asks for.

`pick_candidate` keeps, among a request's candidates (beams and their repaired copies, `repairs.py`), the first that
best meets the checks in order: it runs on the user's table (one value, no Excel error, text criteria that match a
cell, ranges over the data rows, no column of text summed, no value combined with itself, no comparison of unlike
values), then `request_checks`: the columns the request names, the comparisons, cell values and IF labels it states,
the numbers it writes (and no count, rank order or rounding it does not), no reshaping function it does not ask for
or rules out, no join it does not ask for, no aggregate of a family it does not ask for.
Everything here is plain string matching on the formula and the request; nothing runs a model.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
import string
from collections import defaultdict
from functools import lru_cache
from typing import NamedTuple

from .constrained import string_literals
from .executor import execute, single_cells
from .linking import (ISO_DATE, NEGATED, NUMBER_WORDS, QUOTED_TEXT, YEAR_NUMBER, addressed_rows, date_piece_asked,
                      empty_kind, filters_rows, joining_character, link_columns, mentioned_rows, month_after,
                      names_the_records, normalise_number, one_edit, presence_asked, request_comparisons,
                      request_fallback, request_labels, request_mid_start, request_numbers, request_replacement, says,
                      spread_asked, states_a_comparison, text_piece_asked)
from .senses import load_senses
from .synonyms import load_thesaurus
from .synthetic import phrasings
from .synthetic.breadth import INTENTS
from .table import CATEGORY, DATE, NUMBER, TEXT, col_index, col_letter


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


_YEAR_COMPARISON = re.compile(r"\bYEAR\([^()]*\)\s*" + _OPS + r"\s*(\d{4})(?![\d.(])", re.I)


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
    found |= set(_YEAR_COMPARISON.findall(code))  # `YEAR(E2:E5)<2022`: years, compared as numbers
    # a year held as a number (a Year column) tested with < or >= is the same test as against its first day:
    # `"<1990"` answers "released before 1990" as `"<"&DATE(1990,1,1)` does on a date column
    found |= {(op, f"{value}-01-01") for op, value in found if op in ("<", ">=") and YEAR_NUMBER.fullmatch(value)}
    for op, y, m, d in _EOMONTH_CRITERION.findall(formula):  # `"<="&EOMONTH(DATE(2024,5,1),0)`: the month's last day
        if (after := _next_month(y, m)) is not None:
            found.add((op, (after - _dt.timedelta(days=1)).isoformat()))
    for _, month, year in _MONTH_AND_YEAR.findall(code):  # `(MONTH(C2:C5)=5)*(YEAR(C2:C5)=2024)`: every day of May 2024
        if (after := _next_month(year, month)) is not None:
            found |= {(">=", _iso(year, month, "1")), ("<", after.isoformat())}
    for year in filter(None, (a or b for a, b in _YEAR_EQUALS.findall(formula))):  # `YEAR(E2:E5)=2023`, `C7=2023`,
        found |= {(">=", f"{year}-01-01"), ("<", f"{int(year) + 1}-01-01")}  # a Year column's criterion `2023`
    # dates are whole days: `<=DATE(2024,4,30)` is `<DATE(2024,5,1)`, `>DATE(2024,3,31)` is `>=DATE(2024,4,1)`
    found |= {bound for op, value in found for bound in _same_bound_by_day(op, value)}
    return found


_EOMONTH_CRITERION = re.compile(r'"' + _OPS + r'"\s*&\s*EOMONTH\(\s*' + _DATE + r"\s*,\s*0\s*\)", re.I)
_MONTH_AND_YEAR = re.compile(r"\bMONTH\(([^()]*)\)\s*=\s*(\d{1,2})\b[^;]*?\bYEAR\(\1\)\s*=\s*(\d{4})\b", re.I)
_BY_DAY = {"<=": ("<", 1), "<": ("<=", -1), ">": (">=", 1), ">=": (">", -1)}
_YEAR_EQUALS = re.compile(r"(?:\bYEAR\([^()]*\)|" + _CELL + r")\s*=\s*((?:19|20)\d\d)(?![\d.(])"
                          r'|\$?[A-Z]{1,3}\$?\d+:\$?[A-Z]{1,3}\$?\d+\s*,\s*"?=?((?:19|20)\d\d)"?\s*[,)]', re.I)


def _date(y: str, m: str, d: str) -> _dt.date | None:
    try:
        return _dt.date(int(y), int(m), int(d))
    except ValueError:  # `DATE(2024,2,31)`: no such day
        return None


def _next_month(y: str, m: str) -> _dt.date | None:
    """The first day of the month after month `m` of year `y`; None for no such month (`MONTH()=13`) or none after
    it (December 9999: a model can write any year)."""
    if (first := _date(y, m, "1")) is None:
        return None
    try:
        return month_after(first)
    except ValueError:
        return None


def _same_bound_by_day(op: str, value: str) -> list[tuple[str, str]]:
    """The same bound on whole days written the other way (`<=` 2024-04-30 is `<` 2024-05-01); none for a number."""
    if op not in _BY_DAY or not ISO_DATE.match(value) or (day := _date(*value.split("-"))) is None:
        return []
    other, step = _BY_DAY[op]
    try:
        return [(other, (day + _dt.timedelta(days=step)).isoformat())]
    except OverflowError:
        return []


_CELL_COMPARISON_PARTS = re.compile("(" + _CELL + r")\s*" + _OPS + r"\s*(?:" + _NUMBER + r"(?![\d.(])|" + _DATE + ")",
                                    re.I)


def blank_strings(formula: str) -> str:
    """`formula` with the text inside its string literals replaced by spaces: the same offsets, no code in strings."""
    return _STRING.sub(lambda m: '"' + " " * (len(m.group()) - 2) + '"', formula)


def comparison_sites(formula: str) -> list[tuple[int, int, str | None]]:
    """Where a formula tests a comparison, as (start, end, cell): a criterion (`">4200"`, `">"&DATE(2024,3,1)`)
    with cell `""`; a cell comparison outside strings (`B4>=50`) with its cell (`B4`); a number compared with a
    cell (`50<=B4`) with None."""
    blank = blank_strings(formula)
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


# The rank LARGE and SMALL take is one the user gives (`2nd biggest`); a count LEFT, RIGHT and MID take may come from
# the data (`area code` is 3 characters) but not from the row the request names (argument indices).
_RANK_ARGUMENTS = {"LARGE": 1, "SMALL": 1}
_CHARACTER_COUNTS = {"LEFT": (1,), "RIGHT": (1,), "MID": (1, 2)}  # the arguments that copy the row together
_ORDINAL_WORDS = {word: str(n) for n, word in enumerate(
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth".split(), 1)}
_ORDINAL_WORD = re.compile(r"\b(" + "|".join(_ORDINAL_WORDS) + r")\b", re.IGNORECASE)
# a number of places or characters (`row 2, 2 dp`, `row 2, 2 characters`) is no row of the list (training words
# only: `char`, `digits`, `place` are the held-out split's, `_cue_words`)
_ROW_NUMBER = (r"(?:#\s*)?(?:\d+|" + "|".join(NUMBER_WORDS) + r")\b"
               r"(?!\s*(?:dp\b|d\.?p\b|decimals?\b|places\b|characters?\b|chars\b|letters?\b))")
_ROW_NUMBERS = re.compile(rf"\brows?\s+{_ROW_NUMBER}(?:\s*(?:,|-|to|and|through)\s*{_ROW_NUMBER})*", re.IGNORECASE)
_CELL_ROW = re.compile(r"^\$?[A-Z]{1,3}\$?(\d+)$")


def _numbers_outside_rows(request: str) -> set[str]:
    """The numbers a request states (`linking.request_numbers`) outside its row numbers: `row 3` names a row, so it
    is no count and no number of places."""
    return request_numbers(_ROW_NUMBERS.sub(" ", request))


def stated_counts(*requests: str) -> set[str]:
    """The numbers the requests could mean as a count or a rank: 1 (one character, the top value), the numbers they
    state outside row numbers (`first 3`, `2nd`, `two`; `row 3` names a row, not how many characters) and their
    ordinal words (`second biggest` -> 2)."""
    return {"1"} | {number for r in requests for number in _numbers_outside_rows(r)} | {
        _ORDINAL_WORDS[word.lower()] for r in requests for word in _ORDINAL_WORD.findall(r)}


def counts_stated(formula: str, counts: set[str]) -> bool:
    """Every rank LARGE / SMALL take, where the formula writes it as a number, is one of `counts` (`stated_counts`):
    `=LARGE(E2:E14,3)` for "biggest one" makes its rank up. A count of characters LEFT / RIGHT / MID take may be the
    data's (a 5-digit zip code), but one that is only the row of the cell it cuts (`=RIGHT(A3,3)` or `=MID(A3,3,3)`,
    start and count both, for "row 3 with no uppercase", `=RIGHT(B5,5)` for the record in row 5) is the model copying
    the row, not a count."""
    for name, index in _RANK_ARGUMENTS.items():
        for _, _, args in calls_of(formula, name):
            written = args[index].strip() if len(args) > index else ""
            if is_number(written) and normalise_number(written) not in counts:
                return False
    for name, indices in _CHARACTER_COUNTS.items():
        for _, _, args in calls_of(formula, name):
            written = [args[i].strip() if len(args) > i else "" for i in indices]
            cell = _CELL_ROW.match(args[0].strip())
            if cell and all(is_number(w) and normalise_number(w) not in counts and w == cell[1] for w in written):
                return False
    return True


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
                and not is_number(text)):
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


def range_column(reference: str) -> str | None:
    """The column letter of a one-column range (`A2:A15` -> A, `$B$2:$B$9` -> B); None for a cell, a range over
    several columns or anything else."""
    m = CELL_RANGE.fullmatch(reference.strip())
    return m.group(1) if m and m.group(1) == m.group(3) else None


def text_column(table, reference: str) -> bool:
    """Whether `reference` is a one-column range (`A2:A15`) of a text or category column of `table`."""
    letter = range_column(reference)
    if letter is None:
        return False
    try:
        return table.column(letter).kind in (TEXT, CATEGORY)
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


def _cue_words(*pools: tuple[str, ...]) -> tuple[str, ...]:
    """The words and phrases of `pools`, less any with a word only the held-out split's wording uses (`peak`,
    `standing`, `tidy`, ...): that split measures how the assistant reads words its training never showed, so no rule
    here may know them either."""
    held_out_only = phrasings.held_out_phrasing_words() - phrasings.training_phrasing_words()
    return tuple(p for pool in pools for p in pool if not set(re.findall(r"[a-z]+", p.lower())) & held_out_only)


# Places a request gives in words. A number word right before `decimal` / `dp` (`one decimal place`, `a single
# decimal`, `no decimals`); a fraction's name (`tenths`, `the nearest hundredth`, `nearest cent`); a power of ten to
# round to, in digits or words, after `nearest` or `to (the)` (`nearest 1,000`, `nearest $100`, `to the nearest ten
# thousand`, `rounded to hundreds`): Excel writes that as minus its number of zeros.
_PLACES_BEFORE_DECIMAL = re.compile(r"\b(no|zero|a|single|one|two|three|four)[\s-]+(?:decimals?\b|dp\b|d\.?p\b)",
                                    re.IGNORECASE)
_FRACTION_PLACES = re.compile(r"\b(tenths?|hundredths?|thousandths?|cents?|penny|pence)\b", re.IGNORECASE)
_MAGNITUDE = re.compile(r"\b(?:nearest|to)\s+(?:the\s+)?(?:\$|£|€)?"
                        r"(\d{1,3}(?:,\d{3})+|\d+|ten|hundred|thousand|million)((?:\s+(?:thousand|million))*)s?\b",
                        re.IGNORECASE)
_WORD_PLACES = {"no": 0, "zero": 0, "a": 1, "single": 1, "one": 1, "two": 2, "three": 3, "four": 4, "tenth": 1,
                "hundredth": 2, "thousandth": 3, "cent": 2, "penny": 2, "pence": 2}
_MAGNITUDE_ZEROS = {"ten": 1, "hundred": 2, "thousand": 3, "million": 6}
_ROUNDING = _cue_words(INTENTS["ROUND"], ("nearest",))
ROUNDING_CALLS = ("ROUND", "ROUNDUP", "ROUNDDOWN")


def _magnitude_places(amount: str, scale: str) -> str | None:
    """`1,000` -> "-3", `ten` + ` thousand` -> "-4"; None for a number that is not a power of ten (`nearest 5`)."""
    digits = amount.replace(",", "").lower()
    zeros = _MAGNITUDE_ZEROS.get(digits)
    if zeros is None:
        if not re.fullmatch(r"10*", digits):
            return None
        zeros = len(digits) - 1
    zeros += sum(_MAGNITUDE_ZEROS[word] for word in scale.lower().split())
    return str(-zeros) if zeros else None


def stated_places(*requests: str) -> set[str]:
    """The numbers of decimal places the requests could mean: the numbers they state outside row numbers
    (`to 2 dp`, `with 0 digits after the point`), places in words (`one decimal place`, `tenths`, `nearest cent` ->
    2, `nearest hundred` or `nearest $100` -> -2) and, when a word asks for rounding (`rounded`, `nearest`,
    `decimals`) and no places are given as such (`places_given`), 0: a whole number. Number words are read as
    numbers, as `linking.request_numbers` reads them."""
    places = set()
    for r in requests:
        places |= _numbers_outside_rows(r)
        places |= {str(_WORD_PLACES[m[1].lower()]) for m in _PLACES_BEFORE_DECIMAL.finditer(r)}
        for m in _FRACTION_PLACES.finditer(r):  # tenths, cents: the singular's places
            places.add(_fraction_places(m[1]))
        places |= {p for m in _MAGNITUDE.finditer(r) if (p := _magnitude_places(m[1], m[2])) is not None}
    if not places_given(*requests) and any(says(r, _ROUNDING) for r in requests):
        places.add("0")
    return places


def _fraction_places(word: str) -> str:
    word = word.lower()
    return str(_WORD_PLACES.get(word, _WORD_PLACES.get(word.removesuffix("s"))))


# Places given as such: `2 dp`, `3 decimals`, `1 decimal place`, `rounded to 2 places`, `round ... to 2` at the end
# of a clause (not `rows 2 to 5`); a fraction after `to (the)` / `nearest` (`to the nearest cent`). Not `place`
# alone: only the held-out wording uses it.
_PLACES_IN_DIGITS = re.compile(r"\b(\d)\s*(?:dp\b|d\.p\.?|decimals?\b)|\bto\s+(\d)\s+places\b"
                               r"|\bround(?:ed)?\b[^,.;]{0,40}?(?<![\d\s])\s+to\s+(\d)\s*(?=$|[,;)]|dp\b|decimals?\b)",
                               re.IGNORECASE)
_FRACTION_GIVEN = re.compile(r"\b(?:to|nearest)\s+(?:the\s+)?(tenths?|hundredths?|thousandths?|cents?|penny|pence)\b",
                             re.IGNORECASE)
# What asks for a rounded result (`asks_rounding`; `stated_places` reads the broader `_ROUNDING` words, typos too,
# since it only allows places): `round` (not `year round`, `round trip`, `round 3`), `nearest` before a whole, a
# power of ten, a fraction or a unit (`nearest km`; not `nearest to 3` or `nearest 50`: a lookup or a multiple).
_ROUNDING_ASKED = re.compile(
    r"(?<!year\s)(?<!year-)\bround(?:ed|ing)?\b(?!\s+(?:\d|trips?\b|robin\b))"
    r"|\bnearest\s+(?!to\b)(?:the\s+)?(?:whole|integer|number|unit|[$\u00a3\u20ac]?1(?:0+|(?:,000)+)\b|ten"
    r"|hundred|thousand|million|tenth|hundredth|thousandth|cent|penny|pence|dollar|euro|pound|minute|hour|day"
    r"|[a-z]{1,3}\b)",
    re.IGNORECASE)


def places_given(*requests: str) -> set[str]:
    """The numbers of places the requests give as such (`2 dp`, `three decimal places`, `rounded to 1`, `nearest
    hundred` -> -2, `to the nearest cent` -> 2), not every number they state: `over 5, rounded to 2 places` gives 2,
    and `nearest 5` none (that is MROUND's multiple)."""
    places = set()
    for r in requests:
        places |= {m[1] or m[2] or m[3] for m in _PLACES_IN_DIGITS.finditer(_ROW_NUMBERS.sub(" ", r))}
        places |= {str(_WORD_PLACES[m[1].lower()]) for m in _PLACES_BEFORE_DECIMAL.finditer(r)
                   if m[1].lower() != "a" or not re.search(r"\bas\s+$", r[:m.start()])}  # `as a decimal`: none
        places |= {p for m in _MAGNITUDE.finditer(r) if (p := _magnitude_places(m[1], m[2])) is not None}
        places |= {_fraction_places(m[1]) for m in _FRACTION_GIVEN.finditer(r)}
    return places


def asks_rounding(*requests: str) -> bool:
    """Whether a request asks for a rounded result at all: `round` / `rounded` / `nearest` (`_ROUNDING_ASKED`) or
    places given as such (`2 dp`, `one decimal place`). Not `what per cent`, `the tenth parcel`, `as a decimal`,
    `the value nearest to 3`, `open all year round`."""
    return any(_ROUNDING_ASKED.search(r) for r in requests) or bool(places_given(*requests))


def rounds_as_stated(formula: str, places: set[str]) -> bool:
    """Every ROUND / ROUNDUP / ROUNDDOWN rounds to a number of places in `places` (`stated_places`), where it writes
    one as a number: `=ROUND(AVERAGE(D2:D36),2)` for "weight averaged over every row" makes the rounding up (the
    model rounds where its training requests often do)."""
    return all(places_written(args, places) for name in ROUNDING_CALLS for _, _, args in calls_of(formula, name))


# Calls that give a result to some number of places: a request asking for a rounding wants one of them (or a TEXT
# with a number format, `"0.00"`, not a date's `"mmm"`).
ROUNDING_RESULTS = frozenset(ROUNDING_CALLS) | {"MROUND", "INT", "TRUNC", "FIXED", "DOLLAR"}


def rounds_if_asked(formula: str, rounding: bool) -> bool:
    """A formula for a request that asks for a rounding (`asks_rounding`: "total fees divided by total visits,
    rounded to 2 decimals") rounds, or writes its result to a number of places (`FIXED`, a TEXT with a number
    format); without one, `=SUMPRODUCT(D2:D19,E2:E19)` meets every other check that request gives."""
    return not rounding or bool(called_functions(formula) & ROUNDING_RESULTS) or any(
        len(args) == 2 and re.fullmatch(r'\s*"[^"]*[0#][^"]*"\s*', args[1]) for _, _, args in calls_of(formula, "TEXT"))


def places_written(args: list[str], places: set[str]) -> bool:
    """Whether a rounding call's arguments round to one of `places` (or to places written as an expression)."""
    written = args[1].strip() if len(args) > 1 else ""
    return not is_number(written) or normalise_number(written) in places


def _alternation(phrases) -> str:
    """A regex alternation of `phrases`, longest first (so `how many times` is tried before `how many`)."""
    return "|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True))


# Functions that reshape one cell's value, in groups a request asks for with the same words: the intent words of
# training requests (`synthetic.breadth.INTENTS`, which the rewrite maps a user's words onto) and the plain words
# for a case change, a piece, spaces, a replacement or a rank. Which function of a group is the model's call.
_RESHAPING_GROUPS = (
    (("UPPER", "LOWER", "PROPER"), _cue_words(INTENTS["UPPER"], INTENTS["LOWER"], INTENTS["PROPER"], (
        "capitalised", "capitalized", "capitalise", "capitalize", "caps"))),
    (("LEN", "LEFT", "RIGHT", "MID"), _cue_words(INTENTS["LEN"], INTENTS["LEFT"], INTENTS["RIGHT"], INTENTS["MID"], (
        "characters", "chars", "letters", "prefix", "suffix", "surname", "before the space", "after the space"))),
    (("TRIM",), _cue_words(INTENTS["TRIM"], ("clean",))),
    (("SUBSTITUTE",), _cue_words(INTENTS["REPLACE"], ("change", "remove", "removed", "delete", "taken away"))),
    (("RANK.EQ", "RANK"), _cue_words(INTENTS["RANK"], ("position", "come in", "stack up"))),
)


_RESHAPING = frozenset(name for names, _ in _RESHAPING_GROUPS for name in names)


# What a request asks to aggregate with: the training intent words (`synthetic.breadth.INTENTS`, which the rewrite
# maps a user's words onto) and the plain superlatives of everyday requests. Which function of a family (MAX or
# MAXIFS, MIN or SMALL) is the model's call; the family is the request's.
AGGREGATE_FAMILIES = {
    "SUM": (("SUM", "SUMIF", "SUMIFS", "SUMPRODUCT"), _cue_words(INTENTS["SUM"])),
    "AVERAGE": (("AVERAGE", "AVERAGEIF", "AVERAGEIFS"), _cue_words(INTENTS["AVERAGE"])),
    "MEDIAN": (("MEDIAN",), _cue_words(INTENTS["MEDIAN"])),
    "MAX": (("MAX", "MAXIFS", "LARGE"), _cue_words(INTENTS["MAX"], ("most", "longest", "latest", "heaviest",
                                                                     "priciest"))),
    "MIN": (("MIN", "MINIFS", "SMALL"), _cue_words(INTENTS["MIN"], ("fewest", "cheapest", "shortest", "earliest",
                                                                     "lightest"))),
    "COUNT": (("COUNT", "COUNTA", "COUNTIF", "COUNTIFS", "COUNTBLANK"), _cue_words(INTENTS["COUNT"])),
}
# A count is asked for things the request names in its own words (`how many vehicles`, `count of petrol cars`) or by
# a column that is not a quantity (`tally of Admitted falling within 2024`), not for a column of quantities the
# table names (`how many covers did we serve` sums the Covers column): the count words (and their `of`) must be
# followed by a word that is not a number column's header. `tally up` / `count up` is a sum. The count words are the
# COUNT family's own, longest first.
_COUNT_OF_THINGS = re.compile(rf"\b(?:{_alternation(AGGREGATE_FAMILIES['COUNT'][1])})(?:\s+of\b|(?!\s+of\b))\s"
                              r"(?!up\b)(?=[^\W\d_])", re.IGNORECASE)
_FAMILY_OF = {name: family for family, (names, _) in AGGREGATE_FAMILIES.items() for name in names}
# A bound is a comparison, not an aggregate (`at least 4`, `at most 3`, `a minimum of 11`, `max 5 nights`), and
# `50 min` is minutes.
_BOUND_WORDS = re.compile(r"\bat\s+(?:least|most)\b|\b(?:minimum|maximum|min|max)\s+(?:of\s+)?[$]?\d|\d\s*min\b",
                          re.IGNORECASE)


def without_links(request: str, links, kinds: tuple[str, ...] = ("header", "value")) -> str:
    """`request` with the spans of its `links` of those kinds blanked out (same offsets): what the words the table
    names (`Min Stock`, `Four Seasons`) leave of it."""
    chars = list(request)
    for link in links:
        if link.kind in kinds:
            chars[link.start:link.end] = " " * (link.end - link.start)
    return "".join(chars)


def stated_numbers(request: str, links) -> set[str]:
    """The numbers the request states (`linking.request_numbers`) outside the cell values it names: `Four Seasons`
    and `Route 66` are names, which the value rule holds the formula to, not numbers it must write."""
    return request_numbers(without_links(request, links, ("value",)))


def _aggregate_words(request: str, links) -> str:
    """What of `request` may ask for an aggregate: not the words the table names, nor bounds."""
    return _BOUND_WORDS.sub(" ", without_links(request, links))


def aggregates_asked(table, *requests: str) -> set[str]:
    """The aggregate families (`AGGREGATE_FAMILIES`) some word of the requests asks for: `cheapest act's fee` ->
    {"MIN"}; `gap between the highest and lowest` -> {"MAX", "MIN"}; `how many vehicles` -> {"COUNT"}. Words the
    table links to a header or a cell (`Min Stock`, a member called Max) and bounds (`at least 4`, `a minimum of 11`)
    ask for none, and count words right before a number column's header ask for no count (`_COUNT_OF_THINGS`)."""
    asked = set()
    for request in dict.fromkeys(requests):  # a request read as typed is read once
        links = link_columns(table, request) if table is not None else ()
        text = _aggregate_words(request, links)
        asked |= {family for family, (_, words) in AGGREGATE_FAMILIES.items()
                  if family != "COUNT" and says(text, words)}
        quantities = [link for link in links if link.kind == "header" and is_number_column(table, link.letter)]
        if _COUNT_OF_THINGS.search(without_links(request, quantities)):
            asked.add("COUNT")
    return asked


# A total is what a conditional aggregate means when the request names no aggregate at all: "tips Anna made",
# "fuel used by the north depot", "nights sold for double rooms" ask for a SUMIF, not the MAXIFS or AVERAGEIF the
# model may write. A word that may ask for anything else (`slowest`, `per`, `usual`) leaves the choice to the model.
# Conditional aggregates of the other families:
CONDITIONAL_NON_SUMS = frozenset({"AVERAGEIF", "AVERAGEIFS", "MAXIFS", "MINIFS"})
_IRREGULAR_SUPERLATIVES = frozenset({"best", "worst"})
# Everyday words of an average, a spread or a high mark that no cue word or WordNet relation below covers (none of
# them is a word only the held-out split uses: tested).
NOT_A_TOTAL = frozenset("""per each apiece high record range spread usual usually normal normally standard regular
    middle expected""".split())
# What a WordNet synonym or similar adjective of the request's word may be for it to ask for no total: a maximum or
# minimum cue word, or an extreme itself (`extremum` is a synonym of `peak` in its first sense); and in a noun sense
# only (the statistic, not `mean` the verb or `average` the adjective: `ordinary`, `fair`), an average's or a
# median's cue word (`norm`).
EXTREME_TARGETS = frozenset(AGGREGATE_FAMILIES["MAX"][1] + AGGREGATE_FAMILIES["MIN"][1]) | {"extreme", "extremum"}
AVERAGE_TARGETS = frozenset(AGGREGATE_FAMILIES["AVERAGE"][1] + AGGREGATE_FAMILIES["MEDIAN"][1])
_ONE_WORD_CUES = tuple(sorted(w for w in EXTREME_TARGETS | AVERAGE_TARGETS if " " not in w and len(w) >= 3))


def is_superlative(word: str) -> bool:
    """Whether `word` is an adjective's superlative by its form: `slowest` (slow), `heaviest` (heavy), `biggest`,
    `best`, `uppermost`; not `forest`, `guest`, `west` or `retest` (no adjective under the ending, or a noun or verb
    of its own), nor `almost` (no adjective). `modest` passes (`mod` is an adjective): a word that passes wrongly
    only leaves a choice to the model."""
    word = word.lower()
    if word in _IRREGULAR_SUPERLATIVES:
        return True
    inventory = load_senses()
    own = inventory.senses(word)
    if len(word) >= 6 and word.endswith("most"):
        return any(sense.pos == "a" for sense in own)
    if len(word) < 5 or not word.endswith("est"):
        return False
    if own and not any(sense.pos in ("a", "r") for sense in own):  # `forest`, `interest`: a noun or verb of its own
        return False
    return any(len(base) >= 3 and any(sense.pos == "a" for sense in inventory.senses(base))
               for base in load_thesaurus().bases(word)[1:])


@lru_cache(maxsize=4096)
def names_a_non_total(word: str) -> bool:
    """Whether `word` may ask for an average, a median or an extreme rather than a total: an everyday word of one
    (`NOT_A_TOTAL`: `per`, `usual`, `records`), a superlative (`is_superlative`), or a word that has, in one of its
    WordNet senses, a synonym or similar adjective that is a superlative (not a place's: `northernmost`) or an
    extreme target (`utmost` -> maximum, `bottom` -> worst, `peak` -> extremum), or in a noun sense an average
    target (`norm` -> average). Hypernyms are too far (`north` -> `direction`)."""
    word = word.lower()
    inventory = load_senses()
    bases = inventory.base_forms(word) or [word]
    if NOT_A_TOTAL.intersection([word, *bases]) or is_superlative(word):
        return True
    for sense in (sense for base in bases for sense in inventory.senses(base)):
        near = (*sense.lemmas, *sense.similar)
        if any(w in EXTREME_TARGETS or " " not in w and not w.endswith("most") and is_superlative(w) for w in near):
            return True
        if sense.pos == "n" and AVERAGE_TARGETS.intersection(sense.lemmas):
            return True
    return False


@lru_cache(maxsize=4096)
def _misspells_a_non_total(word: str) -> bool:
    """Whether `word`, not an English word, is one edit away from a cue word of an average, a median or an extreme
    (`meean`) or from a word that names one (`botom`, `paek`). A word WordNet has is taken as written: `may`,
    `men` and `cost` are no misspelt `max`, `mean` or `most`."""
    inventory = load_senses()
    if inventory.base_forms(word):
        return False
    return any(one_edit(word, cue) for cue in _ONE_WORD_CUES) or any(
        edit in inventory and names_a_non_total(edit) for edit in _one_edit_words(word))


def _one_edit_words(word: str) -> set[str]:
    """Every string one deletion, adjacent swap, substitution or insertion of a letter away from `word`."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    letters = string.ascii_lowercase
    deleted = {a + b[1:] for a, b in splits if b}
    swapped = {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    replaced = {a + c + b[1:] for a, b in splits if b for c in letters}
    inserted = {a + c + b for a, b in splits for c in letters}
    return (deleted | swapped | replaced | inserted) - {word}


def totals_by_default(table, *requests: str, asked: set[str] | None = None) -> bool:
    """Whether the requests name no aggregate family (`aggregates_asked`; `asked` when the caller has it) and no
    word that may ask for another than a total (`names_a_non_total`, `_misspells_a_non_total`), so that a
    conditional aggregate they ask for is a total (SUMIF / SUMIFS), not an average or an extreme."""
    if asked is None:
        asked = aggregates_asked(table, *requests)
    if asked:
        return False
    for request in dict.fromkeys(requests):
        text = _aggregate_words(request, link_columns(table, request) if table is not None else ())
        for word in re.findall(r"[a-z]{3,}", text.lower()):
            if names_a_non_total(word) or _misspells_a_non_total(word):
                return False
    return True


def averages_or_extremes_under_condition(formula: str) -> bool:
    """Whether `formula` is one conditional average, maximum or minimum (`=MAXIFS(...)`, `=ROUND(AVERAGEIF(...),1)`),
    which a request that names no aggregate does not ask for (`totals_by_default`). A formula combining aggregates
    (`=MAXIFS(...)-MINIFS(...)`: a spread) is no one family's (`single_aggregate`) and passes."""
    conditional = called_functions(formula) & CONDITIONAL_NON_SUMS
    return bool(conditional) and single_aggregate(formula) in ("AVERAGE", "MAX", "MIN")


def _superlatives(family: str) -> str:
    return _alternation(w for w in AGGREGATE_FAMILIES[family][1] if " " not in w)


# Which value a rank counts from: the training intent words (`ascending`, `highest first`) and a superlative said to
# come first or to be 1 (`longest = 1`, `1 = most hours`, `smallest ranks first`).
_FIRST_IS = r"(?:\s+[a-z]+)?\s*(?:=\s*1|first|ranks\s+first)\b"
_RANK_ORDER = {
    order: (_cue_words(INTENTS[intent]),
            re.compile(rf"\b(?:{_superlatives(family)}){_FIRST_IS}|\b1\s*=\s*(?:the\s+)?(?:{_superlatives(family)})\b",
                       re.IGNORECASE))
    for order, intent, family in (("ascending", "ASCENDING", "MIN"), ("descending", "DESCENDING", "MAX"))}


def rank_order_asked(*requests: str) -> str | None:
    """"ascending" or "descending" when a request says which end of the column ranks first, None when it says
    neither or both (Excel's RANK.EQ counts from the largest unless told otherwise, but a user who says nothing may
    mean either, so that is the model's call)."""
    said = {order for order, (words, pattern) in _RANK_ORDER.items()
            if any(says(r, words) or pattern.search(r) for r in requests)}
    return said.pop() if len(said) == 1 else None


def without_rank_orders(request: str) -> str:
    """`request` with what it says of a rank's order blanked out (same offsets): the 1 of `longest = 1` says which
    value ranks first; it is no number a formula writes."""
    for _, pattern in _RANK_ORDER.values():
        request = pattern.sub(lambda m: " " * len(m.group()), request)
    return request


def ranks_in_order(formula: str, order: str | None) -> bool:
    """Every RANK.EQ / RANK counts from the end the request says (`rank_order_asked`): a third argument other than 0
    ranks the smallest first, none or 0 the largest."""
    for name in ("RANK.EQ", "RANK"):
        for _, _, args in calls_of(formula, name):
            third = args[2].strip() if len(args) > 2 else "0"
            ascending = not is_number(third) or float(third) != 0
            if order is not None and ascending != (order == "ascending"):
                return False
    return True


def single_aggregate(formula: str) -> str | None:
    """The family (`AGGREGATE_FAMILIES`) of a formula's one aggregate call when it has exactly one and no arithmetic
    (`=MAXIFS(...)`, `=ROUND(AVERAGE(E2:E15),0)`); None otherwise. `=SUM(D2:D5)/COUNT(D2:D5)` is an average and
    `=MAX(E2:E15)-MIN(E2:E15)` a gap: what a formula combining aggregates computes is not one family's."""
    code = blank_strings(formula)
    calls = [_FAMILY_OF[m.group(1).upper()] for m in CALL_NAME.finditer(code) if m.group(1).upper() in _FAMILY_OF]
    if len(calls) != 1 or re.search(r"[-+*/^]", code[code.find("=") + 1:]):
        return None
    return calls[0]


def is_number_column(table, letter: str) -> bool:
    """Whether column `letter` holds numbers; any column may in a table known by its headers alone."""
    return not table.has_values or any(column.letter == letter and column.kind == NUMBER for column in table.columns)


def aggregated_column(formula: str) -> str | None:
    """The column letter a formula that is one aggregate call aggregates (`=SUMIFS(F2:F15,...)` -> F, `=SUMIF(D2:D15,
    "North",G2:G15)` -> G, `=MAX(E2:E15)` -> E); None for anything else."""
    call = call_arguments(formula)
    if not call or call[0] not in _FAMILY_OF or not call[1]:
        return None
    name, args = call
    return range_column(args[2] if name in ("SUMIF", "AVERAGEIF") and len(args) == 3 else args[0])


def aggregate_agrees(formula: str, asked: set[str]) -> bool:
    """A formula that is one aggregate does it in a way the request asks for: "fewest visits among Standard members"
    is not `=MAXIFS(...)`, "cheapest act's fee" not `=MAX(...)`, "most fuel burned" not `=AVERAGEIFS(...)`. A
    formula that calls none of the families (RANK.EQ, a lookup) or combines several (`single_aggregate`), and a
    request that names none, pass; "count of petrol cars" is no `=SUMIFS(...)`, "total late fees" no `=COUNTIF(...)`."""
    used = single_aggregate(formula)
    return not asked or used is None or used in asked


CALL_NAME = re.compile(r"([A-Za-z][A-Za-z0-9.]*)\s*\(")


def called_functions(formula: str) -> set[str]:
    """The upper-cased names of the functions a formula calls (text inside strings does not count)."""
    return {name.upper() for name in CALL_NAME.findall(_STRING.sub('""', formula))}


# A quoted text the request wants gone (`ID without "KX-"`): SUBSTITUTE with nothing. `without` alone is no cue
# (`the difference without the sign` is ABS).
_WITHOUT_QUOTED = re.compile(r"\bwithout\s+(?:the\s+|any\s+)?[\"\u201c]", re.IGNORECASE)


# A case the request rules out (`with no uppercase`, `without caps`): the user wants the other case throughout, so
# neither the case named nor PROPER (which keeps capitals) is it. The words are training intent words (a user's
# `capital letters` reaches them through the thesaurus reading) but not bare `upper` / `lower`, which also bound
# numbers (`no upper limit`, `not lower than 50`).
_NO_CASE = {
    name: re.compile(r"\b(?:no|without|not in|not)\s+(?:any\s+)?(?:" + "|".join(
        dict.fromkeys(re.escape(word).replace(r"\ ", r"[\s-]*").replace(r"\-", r"[\s-]*")
                      for word in sorted(_cue_words(INTENTS[name]), key=len, reverse=True)
                      if word not in ("upper", "lower"))) + r")\b", re.IGNORECASE)
    for name in ("UPPER", "LOWER")}
_PROPER_CASE = _cue_words(INTENTS["PROPER"])
_CONDITION = re.compile(r"\b(?:if|when|whether|unless)\b", re.IGNORECASE)


def refused_reshapings(*requests: str) -> set[str]:
    """The reshaping functions a request rules out by negating the case they make: `with no uppercase` -> UPPER
    and PROPER; `not in lower case` -> LOWER and PROPER; `proper case, not all caps` -> UPPER only. A condition
    (`say fix if the title is not in upper case`) may need the very function it negates to test the case, so a
    request with one rules out nothing."""
    if any(_CONDITION.search(r) for r in requests):
        return set()
    proper = any(says(r, _PROPER_CASE) for r in requests)
    return {refused for name, pattern in _NO_CASE.items() if any(pattern.search(r) for r in requests)
            for refused in ((name,) if proper else (name, "PROPER"))}


def reshapings_asked(*requests: str) -> set[str]:
    """The reshaping functions some word of the requests asks for: `how many characters` -> LEN, LEFT, RIGHT, MID;
    `ranking` -> RANK.EQ, RANK; `without "-"` -> SUBSTITUTE."""
    asked = {name for names, words in _RESHAPING_GROUPS if any(says(r, words) for r in requests) for name in names}
    return asked | ({"SUBSTITUTE"} if any(_WITHOUT_QUOTED.search(r) for r in requests) else set())


# What asks for values joined into one text: the training intent words for a join and the plain words of a label or
# a separator. A request that quotes a text (a separator, a sample) may want one too.
_JOINING = _cue_words(INTENTS["AMP"], INTENTS["CONCAT"], (
    "together", "label", "followed by", "full name", "separated", "space", "comma", "slash", "dash", "hyphen",
    "initials", "one cell", "plus", "brackets", "parentheses", "after it", "before it"))


_ONE_CHARACTER = re.compile(r"\b(?:the|a|single)\s+(?:letter|character)\b", re.IGNORECASE)


def piece_asked(table, request: str, written: str = "") -> tuple[str, str] | None:
    """`linking.text_piece_asked` of the request as typed (`written`, else `request`), for a request that neither
    counts nor aggregates (`how many emails are without the @` is a COUNTIF), with a piece named by a header left out
    (`first name of the member in row 3` over a First Name column is that column's cell)."""
    typed = written or request
    if text_piece_asked(typed) is None or aggregates_asked(table, request, written) or any(
            HOW_MANY.search(r) for r in (request, typed)):
        return None
    headers = [(link.start, link.end) for link in link_columns(table, typed) if link.kind == "header"]
    return text_piece_asked(typed, headers)


_PART_FORMATS = {"YEAR": {"yyyy", "yy"}, "MONTH": {"m", "mm"}}  # a TEXT taking the same part
_YES_NO_QUESTION = re.compile(r"^\s*(?:is|was|are|were|does|did|do)\b", re.IGNORECASE)


def date_piece_cells(table, request: str, typed: str, links) -> tuple[str, list[str]] | None:
    """What part of a date the request asks for (`linking.date_piece_asked`) and of which dates: the cell of the one
    row it names in each date column it names (or the table's one date column), or, naming no row, a year or month
    of the column's latest or earliest date (`month number of the latest check-in` -> `MAX(D2:D19)`: the MAX / MIN
    family asked, `aggregates_asked`). None where the request asks for no part of a date, counts or totals (`how
    many orders in month number 3`), asks a yes/no question (`is the check-in on a weekday`), names a value that
    filters the rows with no row named, or names a column of numbers that holds years without naming a date column
    as such (`what year was Heat released` over a Release Year column is that column's cell). A table described by
    its headers alone (`ask --columns`) has no date column, so nothing is built there."""
    piece = date_piece_asked(typed)
    if piece is None or _YES_NO_QUESTION.match(typed):
        return None
    plain = [re.sub(r"\bmonth\s+number\b", "month", r, flags=re.IGNORECASE) for r in (request, typed)]
    asked = aggregates_asked(table, *plain)  # `month number` is no count
    if asked - {"MAX", "MIN"} or HOW_MANY.search(typed):
        return None
    named = [link for link in links if link.kind == "header"]
    dates = list(dict.fromkeys(link.letter for link in named if table.column(link.letter).kind == DATE
                               and not link.weak))
    if not dates and piece in ("YEAR", "MONTH") and any(_holds_years_or_months(table, link.letter) for link in named):
        return None
    dates = dates or list(dict.fromkeys(link.letter for link in named if table.column(link.letter).kind == DATE))
    if not dates:
        dates = [c.letter for c in table.columns if c.kind == DATE]
        if len(dates) != 1:
            return None
    rows = mentioned_rows(table, request, links)
    if len(rows) == 1:
        return piece, [f"{letter}{rows[0]}" for letter in dates]
    if not rows and not filters_rows(links) and piece in ("YEAR", "MONTH") and len(asked) == 1:
        extreme = asked.pop()
        return piece, [f"{extreme}({letter}{table.first_row}:{letter}{table.last_row})" for letter in dates]
    return None


def _holds_years_or_months(table, letter: str) -> bool:
    """A column of numbers named for a year or a month, or whose values are years (`Born`: 1987, 1990)."""
    column = table.column(letter)
    values = [v for v in column.values if isinstance(v, (int, float))]
    return column.kind == NUMBER and (bool(re.search(r"\b(?:year|month)\b", column.header, re.IGNORECASE)) or bool(
        values) and all(1900 <= v <= 2100 for v in values))


def dates_as_asked(formula: str, piece: str | None) -> bool:
    """A formula for a request that asks for a part of a date (`date_piece_cells`) takes that part: YEAR for the
    year, MONTH for the month's number (or a TEXT of that part: `"yyyy"`, `"mm"`), a TEXT with a day's name or
    WEEKDAY for a weekday, a TEXT with the asked format for a date written like a sample
    (`=INDEX(E2:E16,MATCH("S1E05",A2:A16,0))` for "what year was S1E05 published" is the whole date)."""
    if piece is None:
        return True
    formats = {args[1].strip().strip('"').lower() for _, _, args in calls_of(formula, "TEXT") if len(args) == 2}
    if piece in ("YEAR", "MONTH"):
        return piece in called_functions(formula) or bool(formats & _PART_FORMATS[piece])
    if piece in ("ddd", "dddd"):
        return "WEEKDAY" in called_functions(formula) or bool(formats & {"ddd", "dddd"})
    return piece.lower() in formats


def splits_as_asked(formula: str, piece: tuple[str, str] | None, counts: set[str]) -> bool:
    """A formula for a request that asks for a piece of a text by a character (`linking.text_piece_asked`: `first
    name` splits at the space, `before the @` at the @, `position of the @`, `without the dash`) writes that
    character, or, for a piece before or after it, takes one by a count of characters the request gives (`counts`: its
    numbers, and 1 for `the letter`; `the letter before the dot` is `=LEFT(G2,1)`): `=UPPER(H4)` for "driver's
    surname in H4" takes no piece at all, and `=LEFT(G2,4)` or `=LEFT(A3,1)` for a first name guesses its length."""
    if piece is None or piece[1] in string_literals(formula)[0]:
        return True
    cuts = [args for name in _CHARACTER_COUNTS for _, _, args in calls_of(formula, name)]
    return piece[0] in ("before", "after") and bool(cuts) and all(
        len(args) > 1 and normalise_number(args[-1].strip()) in counts for args in cuts)


def joins_with(formula: str, character: str | None) -> bool:
    """A formula for a request that names the character to join values with (`linking.joining_character`: `joined
    with a dash`) writes it: `=A7&" "&B7` joins with a space."""
    return character is None or any(character in text for text in string_literals(formula)[0])


_MAXIMA, _MINIMA = {"MAX", "MAXIFS", "LARGE"}, {"MIN", "MINIFS", "SMALL"}


def spreads_as_asked(formula: str, spread: bool) -> bool:
    """A formula for a request that asks for the span between a column's extremes (`linking.spread_asked`) takes a
    maximum and a minimum: `=MAX(E2:E15)` for "gap in km between the highest and lowest odometer readings" is one
    end of it."""
    called = called_functions(formula)
    return not spread or bool(called & _MAXIMA and called & _MINIMA)


def joins_asked(*requests: str) -> bool:
    """Whether some request asks for values joined into one text (`_JOINING`) or quotes a text."""
    return any(says(r, _JOINING) or QUOTED_TEXT.search(r) for r in requests)


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


def _argument_sites(formula: str) -> list[tuple[str | None, int, int] | None]:
    """For each character of `formula`, the innermost call it is an argument of, the argument's position and where
    the call's parenthesis opens (`=SUMIF(A2:A9,"x",C2:C9)`: `C2:C9` is in ("SUMIF", 2, 6)); None outside any call.
    A bare parenthesis (`(C2:C9="x")`) is a call with no name; text inside string literals does not open or close
    calls."""
    stack: list[list] = []
    sites: list[tuple[str | None, int, int] | None] = []
    in_string = False
    for i, char in enumerate(formula):
        if char == '"':
            in_string = not in_string
        elif not in_string and char == "(":
            name = re.search(r"[A-Z][A-Z0-9.]*$", formula[:i].upper())
            stack.append([name.group(0) if name else None, 0, i])
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
    for m in CELL_RANGE.finditer(blank_strings(formula)):
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


def gives_one_value(formula: str, table) -> bool:
    """Whether `formula` runs on `table` without an Excel error and gives one value, not an array: `=ABS(H2:H17)`
    or `=LEN(B2:B15)` would spill a column of results where the user asked for one answer (no reference of the
    generator, the hand-written or the independent set gives an array)."""
    result = execute(formula, table)
    return result.ok and not isinstance(result.value, tuple)


def criteria_match(formula: str, table) -> bool:
    """Every text criterion of the COUNTIF / SUMIF / AVERAGEIF / MAXIFS family in `formula` equals some cell of its
    criteria column (as Excel compares: ignoring case). `=MAXIFS(B2:B17,G2:G17,"marco")` tests names against the tips
    column and matches nothing; like an #N/A, that is almost never what was asked. Comparisons, numbers, wildcards (`*`,
    `?`, `~`), `<>` and expressions are not checked, nor is a text with a digit on a date column (`holds_text`); neither
    is a table without values."""
    if not table.has_values:
        return True
    for m, marks, text, wildcard in text_criteria(formula):
        if marks not in ("", "=") or wildcard or any(c in text for c in "*?~"):
            continue
        try:
            column = table.column(m.group(1))
        except (KeyError, ValueError):
            return False
        if not holds_text(column, text):
            return False
    return True


def holds_text(column, text: str) -> bool:
    """Whether some cell of `column` equals `text` as Excel's criteria compare it (ignoring case). A date column
    holds any text with a digit in it: its cells are serial numbers, and "2024-01-01" or "Mar 5, 2024" still matches
    one; a word without one ("East") matches none unless a cell holds it as text ("TBD")."""
    if column.kind == DATE and any(c.isdigit() for c in text):
        return True
    return text.lower() in {str(v).lower() for v in column.values if v is not None}


# A criterion that compares (`">4"`, `"<="&DATE(2024,3,1)`, `">"&150`) and the one-column range it tests.
_COMPARING_CRITERION = re.compile(r'\$?([A-Z]{1,3})\$?\d+:\$?([A-Z]{1,3})\$?\d+\s*,\s*"' + _OPS +
                                  r'(?:(-?\d+(?:\.\d+)?)"(?!\s*&)|"\s*&\s*(?:' + _NUMBER + r"(?![\d.(])|(DATE)\())",
                                  re.I)


def date_criteria(formula: str) -> list[tuple[int, int, str]]:
    """(start, end, column letter) of each one-column range a criteria function tests against a DATE
    (`A2:A16,">="&DATE(2023,1,1)`): what `compares_like_values` holds to a date column."""
    functions = _enclosing_functions(formula)
    found = []
    for m in _COMPARING_CRITERION.finditer(formula):
        if m.group(6) and m.group(1).upper() == m.group(2).upper() and functions[m.start()] in CRITERIA_FUNCTIONS:
            found.append((m.start(), _ONE_RANGE.match(formula, m.start()).end(), m.group(1).upper()))
    return found


_ONE_RANGE = re.compile(r"\$?[A-Z]{1,3}\$?\d+:\$?[A-Z]{1,3}\$?\d+", re.I)


def compares_like_values(formula: str, table) -> bool:
    """Every comparison in `formula` compares values of one kind: a criterion or a cell tested against a number is
    on a column of numbers or dates, one tested against a DATE is on a date column. `=COUNTIFS(H2:H17,"Thriller",
    H2:H17,">=4")` compares film genres with 4, `">="&DATE(2023,1,1)` on a column of bakers' names or of loaf counts
    matches a date nobody stated: both run, and neither is what was asked (Excel never finds text greater than a
    number in a criterion, and a cell of text compares above every number). A table without values is not checked."""
    if not table.has_values:
        return True
    functions = _enclosing_functions(formula)
    tested = [(m.group(1), bool(m.group(6)), m.start()) for m in _COMPARING_CRITERION.finditer(formula)
              if m.group(1).upper() == m.group(2).upper()]
    tested = [(letter, is_date) for letter, is_date, start in tested if functions[start] in CRITERIA_FUNCTIONS]
    blank = blank_strings(formula)
    tested += [(re.match(r"\$?([A-Za-z]+)", m.group(1)).group(1), bool(m.group(4)))
               for m in _CELL_COMPARISON_PARTS.finditer(blank)]
    for letter, is_date in tested:
        try:
            column = table.column(letter.upper())
        except (KeyError, ValueError):
            return False
        if is_date and column.kind != DATE or column.kind in (TEXT, CATEGORY) and not _mostly_numbers(column.values):
            return False
    return True


def _mostly_numbers(values) -> bool:
    """Whether most filled cells hold numbers: the table reader types a column of numbers with an `N/A` or two as
    text, and a comparison with a number still means something there."""
    filled = [v for v in values if v is not None and v != ""]
    return bool(filled) and sum(isinstance(v, (int, float)) for v in filled) * 2 > len(filled)


_REF = r"\$?[A-Z]{1,3}\$?\d+(?::\$?[A-Z]{1,3}\$?\d+)?"
# `C2-C2` and `C2/C2`, not `C2-C2*10%` (C2 less 10% of itself) nor `A1*C2-C2`: the operands at that precedence
_SELF_OPERANDS = re.compile(rf"(?<![A-Za-z0-9_.$:*/^])({_REF})[-/]({_REF})(?![\w(:*/^%])")
_SELF_PRODUCT = re.compile(rf"\bSUMPRODUCT\(\s*({_REF})\s*,\s*({_REF})\s*\)")
# a lookup that returns the column it searches: the key itself
_SELF_LOOKUP = re.compile(rf"\bINDEX\(({_REF}),MATCH\([^,()]*,({_REF})[,)]|\bXLOOKUP\([^,()]*,({_REF}),({_REF})[,)]",
                          re.I)
_CONDITIONS = re.compile(r"\b(?:AND|OR)\(([^()]*)\)", re.I)


def _same_reference(a: str, b: str) -> bool:
    return a.replace("$", "").upper() == b.replace("$", "").upper()


def joined_pieces(formula: str) -> list[str]:
    """What a formula joins at its top level: CONCAT's arguments, or the pieces of an `&` chain (a join inside a
    call, `=TRIM(A3&" "&B3)`, is that call's argument, not the formula's result)."""
    call = call_arguments(formula)
    if call and call[0] in ("CONCAT", "CONCATENATE"):
        return call[1]
    blank, pieces, depth, start = blank_strings(formula), [], 0, formula.find("=") + 1
    for i, char in enumerate(blank):
        depth += (char == "(") - (char == ")")
        if char == "&" and depth == 0 and i >= start:
            pieces.append(formula[start:i])
            start = i + 1
    return pieces + [formula[start:]] if pieces else []


def no_self_operation(formula: str) -> bool:
    """No value is combined with itself: a difference or ratio of a cell or range with itself (`=ABS(B10-B10)`,
    `=ROUND(D3/D3,1)`), a column multiplied by itself in SUMPRODUCT (`=SUMPRODUCT(D2:D17,D2:D17)` for "total
    runtime"), the same cell joined twice (`=CONCAT(B10,", ",B10)`), a lookup returning the column it searches
    (`=INDEX(B2:B19,MATCH("Hannah Weiss",B2:B19,0))`: the key itself), one condition twice in AND / OR, or one column
    required to equal two different texts in one COUNTIFS / SUMIFS (`B2:B17,"Christopher Nolan",B2:B17,"Heat"`).
    Each gives a constant or nothing, never a number or a text anyone asks for; they are what a small model writes
    when it has found the right cell but not the second operand."""
    code = _STRING.sub('""', formula).replace(" ", "")
    if any(_same_reference(a, b) for pattern in (_SELF_OPERANDS, _SELF_PRODUCT) for a, b in pattern.findall(code)):
        return False
    if any(_same_reference(*(p for p in pair if p)) for pair in _SELF_LOOKUP.findall(code)):
        return False
    cells = [p.strip().replace("$", "").upper() for p in joined_pieces(formula)]
    cells = [p for p in cells if re.fullmatch(_REF, p)]
    if len(cells) != len(set(cells)):
        return False
    blank = blank_strings(formula)
    for m in _CONDITIONS.finditer(blank):
        cuts = [m.start(1) - 1, *(i for i in range(m.start(1), m.end(1)) if blank[i] == ","), m.end(1)]
        conditions = [formula[a + 1:b].strip().replace("$", "").upper() for a, b in zip(cuts, cuts[1:])]
        if len(conditions) != len(set(conditions)):
            return False
    sites = _argument_sites(formula)
    wanted: dict[tuple[int, str], set[str]] = defaultdict(set)  # (call, column) -> the texts it must equal
    for m, marks, text, wildcard in text_criteria(formula):
        if marks in ("", "=") and not wildcard and not any(c in text for c in "*?~"):
            wanted[(sites[m.start()][2], m.group(1))].add(text.lower())
    return all(len(texts) == 1 for texts in wanted.values())


def _enclosing_functions(formula: str) -> list[str | None]:
    """For each character of `formula`, the name of the innermost function call it is inside (None outside any;
    text inside string literals does not open or close calls)."""
    return [site[0] if site else None for site in _argument_sites(formula)]


_FILLED_COUNTS = frozenset({"COUNT", "COUNTA"})


def counts_presence_as_asked(formula: str, presence: dict[str, bool], table) -> bool:
    """A formula that is one count of a column the request names as missing or as there (`linking.presence_asked`)
    counts the right cells of it: "episodes that have no sponsor" is no `=COUNTA(H2:H16)`, "episodes that have a
    sponsor" no `=COUNTBLANK(H2:H16)`, "parcels that have a transit time" no `=COUNT(F2:F17)` of their weights, and
    "loans that had no late fee" no count of a column without empty cells (its zeros are wanted)."""
    call = call_arguments(formula)
    if not presence or not call or call[0] not in _FILLED_COUNTS | {"COUNTBLANK"} or len(call[1]) != 1:
        return True
    letter = range_column(call[1][0])
    return (letter in presence and empty_kind(table, letter) == "blank"
            and (call[0] == "COUNTBLANK") != presence[letter]
            and (call[0] != "COUNT" or is_number_column(table, letter)))  # COUNT skips text: 0 for a text column


HOW_MANY = re.compile(r"\bhow\s+many\b", re.IGNORECASE)


def is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def pick_candidate(candidates: list[str], table, request: str, written: str | None = None) -> str:
    """Choose among beam candidates (best first) the first that best meets, in this order of importance: it runs on
    `table` without an error and gives one value (`gives_one_value`), each of its text criteria matches a cell
    (`criteria_match`), its ranges span the data rows (`ranges_span_data`), it sums no column of text (`sums_numbers`),
    combines no value with itself (`no_self_operation`), gives each function as many arguments as Excel accepts
    (`takes_its_arguments`) and compares like with like (`compares_like_values`); then its `Checks`
    (`request_checks`): it uses every column the request links to (`linking.link_columns`); it tests every
    comparison the request states (`over 4200` -> `">4200"` or `C4>4200`: `linking.request_comparisons`; an IF may
    test it the other way round with its labels swapped), and none when the request states no number and words no
    comparison; it quotes every cell value the request names (`for 7B` -> `"7B"`, ignoring case as Excel's criteria
    do) and catches a lookup's miss when the request gives a fallback (`catches_missing`), or meets as many of these
    and of the texts the request quotes as it can (an IF's labels count as two: they are the answer the user sees);
    it writes every number the request states (`3 chars starting at 2` -> `MID(A3,2,3)`, `first two letters` ->
    `LEFT(A3,2)`: `linking.request_numbers`), no count or rank it does not (`counts_stated`) and rounds only to the
    places it states (`rounds_as_stated`).

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
    (`repairs.with_record_lookups`), no formula makes a case the request negates (`refused_reshapings`: "no
    uppercase" is LOWER) or joins values into one text unless a word asks for a join (`joins_asked`: "gap between E
    and B" is no `=E12&" "&B12`), and a formula that sums, averages or takes a maximum or minimum does it the way the
    request asks (`aggregate_agrees`: "cheapest" is not MAX).
    """
    if not candidates:
        raise ValueError("no candidates to pick from")
    links = link_columns(table, request)
    check = request_checks(table, request, written, links)
    stated = stated_numbers(request, links)
    runs = [ranges_span_data(f, table, request, stated) and no_self_operation(f) and takes_its_arguments(f) and (
        not table.has_values or gives_one_value(f, table) and criteria_match(f, table) and sums_numbers(f, table)
        and compares_like_values(f, table)) for f in candidates]
    scores = [(ok, *check(formula)) for formula, ok in zip(candidates, runs)]
    best = max(scores)
    return candidates[scores.index(best)]


class Checks(NamedTuple):
    """What `request_checks` finds of one formula, most important first (`pick_candidate` compares them in order)."""

    columns: bool  # uses every column the request names (strongly)
    comparisons: bool  # tests every comparison the request states; none but with 0 if it states none at all
    values: bool  # quotes every cell value the request names (or its record's cell), shows the IF labels it gives,
    # and catches a lookup's miss when the request gives a fallback
    values_met: int  # how many of those it meets, and of the texts the request quotes: one of two values beats none;
    # the IF's labels count as two
    numbers: bool  # writes every number the request states, no rank or row-copied count it does not, ranks in the
    # order it says, rounds only to places it states and rounds when it asks for a rounding
    reshaping: bool  # reshapes a named record's value only in a way some word asks for, never in a way one refuses,
    # joins values into one text only when asked (with the character it names), splits a text at the character it
    # names, takes the part of a date it asks for
    aggregate: bool  # aggregates only in a family the request asks for (`aggregate_agrees`), or, asked only to
    # count, aggregates a column it names (`how many pens are in stock` may sum the Qty in Stock column); counts
    # the empty cells of a column named as missing, the others of one named as there; a span between a column's
    # extremes takes a maximum and a minimum


def _literal_text(text: str, table) -> bool:
    """Whether a text the request quotes is one a formula writes as a string as typed: not a number (written as a
    number), a cell address (a reference), a header (a column), or anything with a year in it (a date the formula
    writes with DATE, or a sample of a TEXT format: `like "Mar 06, 2023"`)."""
    stripped = text.strip()
    if not text or is_number(stripped) or re.fullmatch(r"\$?[A-Za-z]{1,3}\$?\d+", stripped):  # " " is a separator
        return False
    if re.search(r"\b(?:19|20)\d\d\b", stripped):
        return False
    return stripped.lower() not in {c.header.lower() for c in table.columns}


def catches_missing(formula: str) -> bool:
    """Whether a formula shows something else when its lookup finds nothing: IFERROR / IFNA around it, an
    ISNA / ISERROR / COUNTIF test, or XLOOKUP's own if-not-found argument."""
    called = called_functions(formula)
    if called & {"IFERROR", "IFNA", "ISNA", "ISERROR", "COUNTIF"}:
        return True
    call = call_arguments(formula)
    return bool(call and call[0] == "XLOOKUP" and len(call[1]) >= 4)


def string_literal(text: str) -> str:
    """`text` as an Excel string literal: in double quotes, each quote inside doubled."""
    return '"' + text.replace('"', '""') + '"'


MID_CALL = re.compile(r"\bMID\(((?:[^,()]|\([^()]*\))+),\s*(\d+)\s*,\s*(\d+)\s*\)", re.IGNORECASE)


def all_calls(formula: str) -> list[tuple[str, int, int, list[str]]]:
    """Every function call in `formula`, nested ones included, as (name, start, end, top-level arguments):
    `all_calls('=TRIM(SUBSTITUTE(A2&", "&B2,"a","b"))')` -> [('TRIM', 1, 37, [...]), ('SUBSTITUTE', 6, 36,
    ['A2&", "&B2', '"a"', '"b"'])]. Names are upper-cased; a call left open is left out."""
    blank = blank_strings(formula)
    found = []
    for m in re.finditer(r"(?<![A-Za-z0-9_.$])([A-Za-z][A-Za-z0-9.]*)\s*\(", blank):
        depth = 0
        for i in range(m.end() - 1, len(blank)):
            depth += {"(": 1, ")": -1}.get(blank[i], 0)
            if depth == 0:
                call = call_arguments("=" + formula[m.start():i + 1])
                if call:
                    found.append((call[0], m.start(), i + 1, call[1]))
                break
    return found


def calls_of(formula: str, name: str) -> list[tuple[int, int, list[str]]]:
    """`all_calls` of the function `name`, as (start, end, top-level arguments)."""
    return [(start, end, args) for called, start, end, args in all_calls(formula) if called == name.upper()]


# How many arguments the functions the assistant writes take (fewest, most). Excel refuses a formula that gives one
# more ("You've entered too many arguments for this function"); the `formulas` engine evaluates some of them anyway
# (`=IF(E27="Junior","Liam Novak",G2:G51,"Junior")`), so a garbled beam would otherwise pass for one that runs.
ARGUMENT_COUNTS = {
    "IF": (2, 3), "IFERROR": (2, 2), "IFNA": (2, 2), "AND": (1, 255), "OR": (1, 255), "NOT": (1, 1),
    "SUBSTITUTE": (3, 4), "MID": (3, 3), "LEFT": (1, 2), "RIGHT": (1, 2), "LEN": (1, 1), "UPPER": (1, 1),
    "LOWER": (1, 1), "PROPER": (1, 1), "TRIM": (1, 1), "FIND": (2, 3), "SEARCH": (2, 3), "TEXT": (2, 2),
    "ROUND": (2, 2), "ABS": (1, 1), "VLOOKUP": (3, 4), "INDEX": (2, 3), "MATCH": (2, 3), "XLOOKUP": (3, 6),
    "COUNTIF": (2, 2), "SUMIF": (2, 3), "AVERAGEIF": (2, 3), "COUNTBLANK": (1, 1), "RANK.EQ": (2, 3), "LARGE": (2, 2),
    "SMALL": (2, 2), "DATE": (3, 3), "YEAR": (1, 1), "MONTH": (1, 1), "DAY": (1, 1), "EOMONTH": (2, 2),
    "ISNUMBER": (1, 1), "ISNA": (1, 1), "ISBLANK": (1, 1),
}
_RANGE_THEN_PAIRS = {"SUMIFS", "AVERAGEIFS", "MAXIFS", "MINIFS"}  # a range, then (range, criterion) pairs


def takes_its_arguments(formula: str) -> bool:
    """Every call gives its function a number of arguments Excel accepts (`ARGUMENT_COUNTS`; COUNTIFS takes
    (range, criterion) pairs, SUMIFS / AVERAGEIFS / MAXIFS / MINIFS a range and then such pairs)."""
    for name, _, _, args in all_calls(formula):
        n = len(args)
        if name in ARGUMENT_COUNTS and not ARGUMENT_COUNTS[name][0] <= n <= ARGUMENT_COUNTS[name][1]:
            return False
        if name == "COUNTIFS" and (n < 2 or n % 2) or name in _RANGE_THEN_PAIRS and (n < 3 or n % 2 == 0):
            return False
    return True


def argument_order(request: str):
    """A test of whether a formula gives the arguments the request orders in that order, or None when it orders
    none: a SUBSTITUTE takes out the text the request replaces and puts in its replacement, exactly as typed
    (SUBSTITUTE is case-sensitive; `linking.request_replacement`; another SUBSTITUTE around it may tidy up more),
    every MID starts where the request says (`linking.request_mid_start`). A formula calling neither function
    passes (the other checks judge it)."""
    replacement, start = request_replacement(request), request_mid_start(request)
    if replacement is None and start is None:
        return None
    texts = list(map(string_literal, replacement)) if replacement else None

    def in_order(formula: str) -> bool:
        substitutes = [args[1:3] for _, _, args in calls_of(formula, "SUBSTITUTE")]
        if texts and substitutes and texts not in substitutes:
            return False
        return start is None or all(m.group(2) == start for m in MID_CALL.finditer(formula))

    return in_order


def request_checks(table, request: str, written: str | None = None, links=None):
    """What a formula should do given what the request says (`pick_candidate`'s rules after "it runs"), as a
    function of the formula returning its `Checks`: columns, comparisons, values (the cell values the request
    names, and the labels it gives an IF), numbers (and no count or rank order it does not state), no reshaping
    function it does not ask for or rules out, no join it does not ask for, no aggregate of another family than the
    request's.

    Weak links (a header named in part, by stem or with a typo) are hints for the model, not requirements; a
    record named by its key (`T-105`) is served by the key quoted (a lookup) or by a cell of its row (row-level),
    and the record's column named by header ("among all volunteers") by that row's cell of another named column.
    `links`: `link_columns(table, request)` when the caller has them already."""
    links = link_columns(table, request) if links is None else links
    asked = aggregates_asked(table, request, written or "")
    counting = bool(asked) or bool(HOW_MANY.search(request))  # the rows of a count or an aggregate, not a list
    linked = {link.letter for link in links if not link.weak and not link.row
              and not (counting and names_the_records(table, link))}
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
    numbers = stated_numbers(without_rank_orders(request), links)
    counts = stated_counts(request, written or "")
    places = stated_places(request, written or "")
    rounding = asks_rounding(request, written or "")
    order = rank_order_asked(request, written or "")
    invented = not numbers and not states_a_comparison(request)  # nothing to compare with: any comparison is made up
    labels = request_labels(request if written is None else written)
    typed = request if written is None else written
    said = [text for text in (q[1:-1] for q in QUOTED_TEXT.findall(typed))
            if text not in (labels or ()) and _literal_text(text, table)]
    fallback = request_fallback(typed) is not None
    ordered = argument_order(typed)
    unasked = unasked_reshapings(table, request, written, links) | refused_reshapings(request, written or "")
    presence = presence_asked(table, request, links)

    @lru_cache(maxsize=1)
    def totals() -> bool:  # read once per request, and only for a formula the rule concerns
        return totals_by_default(table, request, written or "", asked=asked)

    quantities = {letter for letter in headers if is_number_column(table, letter)}  # number columns it names
    joins = joins_asked(request, written or "")
    piece = piece_asked(table, request, written or "")
    cut_counts = _numbers_outside_rows(typed) | ({"1"} if _ONE_CHARACTER.search(typed) else set())
    date_piece = (date_piece_cells(table, request, typed, links) or (None,))[0]
    joiner, spread = joining_character(typed), spread_asked(typed)
    required = len(named) + len(records) + 1 + fallback + (ordered is not None)

    def check(formula: str) -> Checks:
        quoted, cells = quoted_values(formula), single_cells(formula)
        rows = {row for _, row in cells}
        shown = if_results(formula) if labels else None
        shows_labels = shown is not None and len(shown) == 2 and set(shown) == set(labels)
        met = sum(bool(values & quoted) for values in named.values()) + sum(
            any(value in quoted or row in rows for value, row in found) for found in records.values()) + (
            shown is None or shows_labels) + (fallback and catches_missing(formula)) + (
            ordered is not None and ordered(formula))
        all_met = met == required
        met += shows_labels  # what the IF shows is the answer the user sees: its labels weigh as two values
        if said:  # a text the user quoted is written as typed: counted, not required (it may be a cell or a format)
            literals = quoted | {text.lower() for text in string_literals(formula)[0]}
            met += sum(text.lower() in literals for text in said)
        called = called_functions(formula) if unasked else set()
        # a column named by header that holds a named record is also served by that record's cell in another column
        # the request names ("Sarah O'Connor's hours rank among all volunteers": `=RANK.EQ(E6,E2:E15)`)
        columns_ok = all(any(r in record_rows[letter] and other != letter and other in headers for other, r in cells)
                         for letter in linked - referenced_columns(formula))
        compared = not invented or not {value for _, value in formula_comparisons(formula)} - {"0"}
        return Checks(columns_ok, tests_stated(formula, stated, labels) and compared, all_met, met,
                      numbers <= formula_numbers(formula) and counts_stated(formula, counts)
                      and rounds_as_stated(formula, places) and rounds_if_asked(formula, rounding)
                      and ranks_in_order(formula, order),
                      not called & unasked and (joins or not joined_pieces(formula))
                      and splits_as_asked(formula, piece, cut_counts) and dates_as_asked(formula, date_piece)
                      and joins_with(formula, joiner),
                      (aggregate_agrees(formula, asked)
                       or asked == {"COUNT"} and aggregated_column(formula) in quantities)
                      and not (averages_or_extremes_under_condition(formula) and totals())
                      and counts_presence_as_asked(formula, presence, table) and spreads_as_asked(formula, spread))

    return check
