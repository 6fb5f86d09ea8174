"""Schema linking: find which columns a request refers to by plain string matching, and tell the model.

Text-to-SQL parsers (IRNet, RAT-SQL) add this step because matching question words to column names and cell values
is exactly what small models learn slowest: a from-scratch 1M-parameter model got the function and the syntax right
but mostly guessed column letters (docs/excel.md). Matching is deterministic and sees only what a user supplies (the
table and the request), so it runs the same way in training, evaluation and `tinyslm excel ask`.

A request word matches a header or cell word when they are equal ignoring case, differ by a plural `s`/`es`, or (for
words of 5+ letters, not codes with digits) by one edit, so `sq ft`, `laptops` and `slaes` still link. Short values
such as `IT` must match case and all, or "sum it" would link to the IT department.

People rarely type a header whole: "fee" for `Fee (EUR)`, "hours" for `Hours Logged`, "who directed" for `Director`,
"minutes" for `Runtime (min)`. So a header also links by its name without the bracketed unit, and, more weakly, by
one of its content words, a word sharing its stem (`directed` ~ `Director`, `served` ~ `Server`) or its unit's name.
A weak link never adds a column to a span that a whole header or a cell value already explains.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass

from .table import CATEGORY, NUMBER, TEXT, Table

_WORD = re.compile(r"[A-Za-z0-9]+")
_LETTER_MENTION = re.compile(r"\b(?:column|col)\.?\s+([A-Za-z]{1,2})\b", re.IGNORECASE)
# `the name in A5`, `cell B7`; not the ends of a typed range (`C2:C5`) nor part of a name (`S1E05`)
_CELL_MENTION = re.compile(r"(?<![:$\w])(?:cell\s+)?([A-Z]{1,2})(\d{1,5})(?!\w|:\$?[A-Z])")
_MAX_VALUE_WORDS = 4
# "row 4", "Row 12", "rows 2 and 3", "rows 5-9": the second number is only taken after "rows".
_ROW_MENTION = re.compile(r"\brow(s)?\s*#?\s*(\d{1,5})\b(?:\s*(?:and|to|-|&|,)\s*(\d{1,5})\b)?", re.IGNORECASE)


@dataclass(frozen=True)
class Link:
    """One request span linked to a column: a header mention (`sales = C2:C40`) or a cell value (`"West" in A2:A40`)."""

    start: int  # character offsets of the span in the request
    end: int
    text: str  # the span as the user wrote it
    letter: str
    kind: str  # "header" | "value"
    value: str | None = None  # for a value link, the cell value it matched (`West` for "west", "Wests")
    row: int | None = None  # for a value link to a record (a text cell found in one row only), that row
    weak: bool = False  # a header named in part, by stem, by its unit or with a typo: a hint, not a requirement

    def render(self, first_row: int, last_row: int, rows: tuple[int, ...] = ()) -> str:
        """`sales = C2:C40` / `"West" in A2:A40`: the whole data range, ready to copy into the formula (a small model
        copies one span far more reliably than it assembles a letter and two row numbers from three places).
        With rows named in the request, a header link also gives its cells: `sales = C2:C40 (row 4 = C4)`; a record
        named by its key gives its row: `"T-105" in A2:A40 (row 6)`."""
        cells = f"{self.letter}{first_row}:{self.letter}{last_row}"
        if self.kind == "value":
            return f'"{self.text}" in {cells}' + (f" (row {self.row})" if self.row else "")
        if rows:
            cells += " (" + ", ".join(f"row {r} = {self.letter}{r}" for r in rows) + ")"
        return f"{self.text} = {cells}"


def one_edit(a: str, b: str) -> bool:
    """True when `a` and `b` differ by one insertion, deletion, substitution or adjacent swap."""
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
    short, long = (a, b) if len(a) < len(b) else (b, a)
    i = 0
    while i < len(short) and short[i] == long[i]:
        i += 1
    return short[i:] == long[i + 1:]


def _same_word(request_word: str, name_word: str, exact_case: bool = False, typo: bool = True) -> bool:
    if exact_case:
        return request_word == name_word
    a, b = request_word.lower(), name_word.lower()
    if a == b:
        return True
    for suffix in ("s", "es"):
        if a == b + suffix or b == a + suffix:
            return True
    # a typo is forgiven in words, not in codes: PX100244 is not PX100245
    return typo and len(b) >= 5 and a[:1] == b[:1] and a.isalpha() and b.isalpha() and one_edit(a, b)


_SUFFIXES = ("ing", "ers", "ors", "ion", "ed", "er", "or", "es", "s", "d", "r", "e")
_MIN_STEM = 4


def stems(word: str) -> set[str]:
    """The lower-cased word and what is left after taking one common ending off, if 4+ letters remain:
    `directed` and `director` share `direct`, `served` and `server` share `serve`, `released` and `release` `releas`."""
    word = word.lower()
    out = {word}
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= _MIN_STEM:
            out.add(word[:-len(suffix)])
    return out


def _same_stem(request_word: str, name_word: str) -> bool:
    return len(request_word) >= _MIN_STEM and bool(stems(request_word) & stems(name_word))


# How request words may match a name's words: as typed (case, a plural `s`/`es` aside), also with one typo, by
# stem, or exactly (a unit's spoken name: `min` the function word is not `mins`).
EXACT, TYPO, STEM, VERBATIM = "exact", "typo", "stem", "verbatim"


def _phrase_at(words: list[re.Match], i: int, phrase: list[str], exact_case: bool, mode: str = TYPO) -> bool:
    if i + len(phrase) > len(words):
        return False
    pairs = [(words[i + k].group(), w) for k, w in enumerate(phrase)]
    if mode == STEM:
        return all(_same_stem(a, b) for a, b in pairs)
    if mode == VERBATIM:
        return all(a.lower() == b.lower() for a, b in pairs)
    return all(_same_word(a, b, exact_case, typo=mode == TYPO) for a, b in pairs)


def says(request: str, phrases) -> bool:
    """Whether the request says one of `phrases`, word by word, as typed, with a plural, with one typo in a word of
    5+ letters, two letters swapped in a word of 4 (`rakn`, `cpas`) or by stem (`ranking` for `rank`,
    `Subsstitute`); a phrase with no word (`&`) must occur as is."""
    words = [m.group().lower() for m in _WORD.finditer(request)]
    for phrase in phrases:
        parts = _WORD.findall(phrase.lower())
        if not parts and phrase in request or parts and any(
                all(_said(words[i + k], part) for k, part in enumerate(parts))
                for i in range(len(words) - len(parts) + 1)):
            return True
    return False


def _said(word: str, meant: str) -> bool:
    return (_same_word(word, meant) or _same_stem(word, meant)
            or len(meant) == 4 and sorted(word) == sorted(meant) and one_edit(word, meant))


_UNIT = re.compile(r"\s*[(\[]([^)\]]*)[)\]]")  # `Fee (EUR)`, `Weight [kg]`
# What people call a unit when they type it. Keys are lower-cased units as headers write them.
UNIT_WORDS = {
    "min": ("minutes", "mins"), "mins": ("minutes",), "h": ("hours", "hrs"), "hrs": ("hours",), "s": ("seconds",),
    "sec": ("seconds", "secs"), "km": ("km", "kilometres", "kilometers"), "m": ("metres", "meters"),
    "cm": ("cm", "centimetres", "centimeters"), "kg": ("kg", "kilos", "kilograms"), "g": ("grams",),
    "l": ("litres", "liters"), "ml": ("ml", "millilitres"), "eur": ("euros", "euro"), "€": ("euros", "euro"),
    "usd": ("dollars", "usd"), "$": ("dollars",), "gbp": ("pounds", "gbp"), "£": ("pounds",),
    "c": ("celsius", "degrees"), "f": ("fahrenheit", "degrees"), "kwh": ("kwh",), "mph": ("mph",), "kmh": ("kmh",),
}  # no `%`: "percent" in a request asks for a percentage change far more often than it names a (%) column
# Words of a header that name nothing by themselves (function words, and words requests use for other things:
# `last`, `first`, `min`, `order`, `match`, `count`): never a weak link on their own.
_NOT_CONTENT = frozenset("""a an and at by for from in my no of on or our per the this to total number out up name
    last first min max start end order match count type check new all""".split())
# A record key's header (`Loan ID`, `Batch Code`): its other word is what every request counts (`loans`,
# `batches`), so it names the key column only when said whole.
_KEY_WORDS = frozenset("id ref code no key #".split())


def header_core(header: str) -> str:
    """The header as people say it: without a bracketed unit (`Fee (EUR)` -> `Fee`)."""
    return _UNIT.sub("", header).strip() or header


def content_words(header: str) -> list[str]:
    """Words of a several-word core that can name the column alone (`Hours Logged` -> Hours, Logged); none for a
    record key's header (`Loan ID`)."""
    core = _WORD.findall(header_core(header))
    if len(core) < 2 or any(w.lower() in _KEY_WORDS for w in core) or "#" in header:
        return []
    return [w for w in core if len(w) >= 3 and w.lower() not in _NOT_CONTENT]


def unit_names(header: str) -> list[str]:
    """What people call the header's bracketed unit (`Runtime (min)` -> minutes)."""
    return [name for unit in _UNIT.findall(header) for name in UNIT_WORDS.get(unit.strip().lower(), ())]


def _weak_phrases(header: str, shared_units: set[str]) -> list[tuple[list[str], str]]:
    """(words, match mode) naming a header in part: a content word, the core or a content word by stem (`Director`
    ~ `directed`, `Release Year` ~ `released`), the unit's name verbatim unless another column has it too."""
    phrases = [(_WORD.findall(part), EXACT) for part in content_words(header)]
    phrases += [(_WORD.findall(name), VERBATIM) for name in unit_names(header) if name not in shared_units]
    phrases.append((_WORD.findall(header_core(header)), STEM))
    phrases += [([w], STEM) for w in content_words(header) if len(w) >= _MIN_STEM]
    return phrases


def link_columns(table: Table, request: str) -> list[Link]:
    """Links in request order. Overlapping candidates keep the longest span (`Sales Rep` beats `Sales`); the same
    span may link to several columns, which leaves the ambiguity for the model to resolve. Weak links (a header
    named in part, by stem, by its unit or with a typo) never add a column to a span a header said whole or a cell
    value explains, and never come from quoted text (`say "late" if ...` is a label, not the Late Fee column)."""
    words = list(_WORD.finditer(request))
    quoted = [m.span() for m in QUOTED_TEXT.finditer(request)]

    def occurrences(phrase: list[str], exact_case: bool, mode: str = TYPO) -> list[tuple[int, int]]:
        """Character spans of the request where `phrase` occurs word by word."""
        return [(words[i].start(), words[i + len(phrase) - 1].end()) for i in range(len(words))
                if _phrase_at(words, i, phrase, exact_case, mode)]

    spans: list[tuple[int, int, str, str, str | None]] = []  # (start char, end char, letter, kind, cell value)
    weak: list[tuple[int, int, str, str, str | None]] = []
    letters = {col.letter for col in table.columns}
    for m in _LETTER_MENTION.finditer(request):
        if m.group(1).upper() in letters:
            spans.append((m.start(), m.end(), m.group(1).upper(), "header", None))
    for m, row in _cell_mentions(table, request):
        spans.append((m.start(), m.end(), m.group(1), "header", None))
    units = [name for col in table.columns for name in dict.fromkeys(unit_names(col.header))]
    shared_units = {name for name in units if units.count(name) > 1}
    for col in table.columns:
        for name in dict.fromkeys((col.header, header_core(col.header))):
            header = _WORD.findall(name)
            if header:
                exact = occurrences(header, exact_case=False, mode=EXACT)
                spans += [(start, end, col.letter, "header", None) for start, end in exact]
                weak += [(start, end, col.letter, "header", None)
                         for start, end in occurrences(header, exact_case=False) if (start, end) not in exact]
        for phrase, mode in _weak_phrases(col.header, shared_units):
            if phrase:
                weak += [(start, end, col.letter, "header", None)
                         for start, end in occurrences(phrase, exact_case=False, mode=mode)]
        if col.kind not in (TEXT, CATEGORY):
            continue
        for value in dict.fromkeys(v for v in col.values if isinstance(v, str)):  # distinct, in order
            phrase = _WORD.findall(value)
            if phrase and len(phrase) <= _MAX_VALUE_WORDS:
                spans += [(start, end, col.letter, "value", value)
                          for start, end in occurrences(phrase, len(value) <= 3)]
    strong = {(start, end) for start, end, *_ in spans}
    weak = [span for span in dict.fromkeys(weak) if span[:2] not in strong
            and not any(q0 <= span[0] and span[1] <= q1 for q0, q1 in quoted)]
    is_weak = set(weak)
    spans += weak
    # Longest first; a span may repeat with another column but may not overlap a different kept span.
    spans.sort(key=lambda s: (-(s[1] - s[0]), s[0]))
    kept: list[tuple[int, int, str, str, str | None]] = []
    for span in spans:
        clash = any(span[0] < k[1] and k[0] < span[1] and (span[0], span[1]) != (k[0], k[1]) for k in kept)
        if not clash and span not in kept:  # one link per matched value: pick_candidate accepts any of them
            kept.append(span)
    kept.sort(key=lambda s: (s[0], s[2]))
    return [Link(s[0], s[1], request[s[0]:s[1]], s[2], s[3], s[4], _record_row(table, s[2], s[4]), s in is_weak)
            for s in kept]


def _record_row(table: Table, letter: str, value: str | None) -> int | None:
    """The row of a text cell that names one record (`T-105`, `Alien`): its value occurs in that row only."""
    if value is None:
        return None
    col = table.column(letter)
    if col.kind != TEXT:
        return None
    hits = [i for i, v in enumerate(col.values) if v == value]
    return table.first_row + hits[0] if len(hits) == 1 else None


def filters_rows(links: list[Link]) -> bool:
    """Whether some link names a cell value that is no record's key (`for DHL`, `Sunday acts`): a value that picks
    out rows, so the request asks about those rows, not one row or the whole column."""
    return any(link.kind == "value" and not link.row for link in links)


def names_the_records(table: Table, link: Link) -> bool:
    """Whether a header link names the table's records rather than its column: the plural of a key column's header
    (`members` for Member, `episodes` for Episode, in a table where every Member is a different text). "How many
    members have no personal trainer" counts rows of the table; no formula for it needs the Member column."""
    if link.kind != "header" or link.weak or not table.has_values:
        return False
    column = table.column(link.letter)
    core, said = header_core(column.header), link.text
    values = [v for v in column.values if v not in (None, "")]
    return (column.kind == TEXT and len(values) == len(column.values) == len(set(values))
            and len(said) > len(core) and _same_word(said, core, typo=False))


# A header named as missing (`have no sponsor`, `missing a nitrate value`, `doesn't have a trainer`, `sponsor is
# blank`) or as present (`have a sponsor`, `with a transit time`). Between a negation and the header only up to two
# words of one or two letters (`a`, `an`, also `on`, `by`), `any`, `the`, `have`, `has`, `had`, `get`, `got`,
# `been` or `yet` (`carrier is not DHL and insurer is Axa` names no missing insurer). `an` is no word the rules name
# (only the held-out wording uses it), so `have an insurer` is not read as present, while `don't have an insurer`
# is read as missing.
_ABSENT_BEFORE = re.compile(r"(?:\b(?:no|not|never|without|missing|lacking|lacks?)|n't)\s+"
                            r"(?:(?:[a-z]{1,2}|any|the|have|has|had|got|been|yet|get)\s+){0,2}$", re.IGNORECASE)
_ABSENT_AFTER = re.compile(r"^\s*(?:\w+\s+)?(?:is\s+|are\s+|was\s+|were\s+|left\s+)?(?:blank|empty|missing)\b",
                           re.IGNORECASE)
_PRESENT_BEFORE = re.compile(r"\b(?:have|has|with)\s+(?:a|any|some)?\s*$", re.IGNORECASE)


def presence_asked(table: Table, request: str, links: list[Link] | None = None) -> dict[str, bool]:
    """Columns whose header the request names as missing (False: `how many episodes have no sponsor`, `samples
    still missing a nitrate value`, `loans that had no late fee`) or as there (True: `episodes that have a sponsor`),
    by letter. Only a column with empty cells (`empty_kind`: missing is empty) or a column of numbers with zeros
    (missing is 0) can be asked about that way."""
    if not table.has_values:
        return {}
    links = link_columns(table, request) if links is None else links
    asked: dict[str, bool] = {}
    for link in links:
        if link.kind != "header" or not empty_kind(table, link.letter):
            continue
        before, after = request[:link.start], request[link.end:]
        if _ABSENT_BEFORE.search(before) or _ABSENT_AFTER.match(after):
            asked[link.letter] = False
        elif _PRESENT_BEFORE.search(before):
            asked.setdefault(link.letter, True)
    return asked


def empty_kind(table: Table, letter: str) -> str | None:
    """How a cell of the column says "none": "blank" (it has empty cells), "zero" (a column of numbers without empty
    cells that holds 0: `Late Fee` is 0 for a loan without one), or None."""
    values = table.column(letter).values
    if any(v in (None, "") for v in values):
        return "blank"
    return "zero" if table.column(letter).kind == NUMBER and any(v == 0 for v in values) else None


# Characters people name instead of typing them, where a text is split or something is taken out of it.
CHARACTER_NAMES = {"@": "@", "at sign": "@", "dash": "-", "hyphen": "-", "slash": "/", "comma": ",", "dot": ".",
                   "full stop": ".", "space": " ", "underscore": "_", "colon": ":"}  # not `period`: a time
_NAMED = "@|" + "|".join(sorted((re.escape(n) for n in CHARACTER_NAMES if n != "@"), key=len, reverse=True))
_CHARACTER = r"(?:\bthe\s+)?(?<![\w@])(" + _NAMED + r")(?:\s+sign)?(?![\w@])"  # `the @ sign`, `the dash`, `@`
# `first name`, not `first name is Ann` (a criterion) nor `first names` (a column)
_PIECE_OF_NAME = re.compile(r"\b(?:(first|given)\s+name|(surname|last\s+name|family\s+name))\b"
                            r"(?!\s*(?:is|=|starts?|begins?|contains?|like|ends?)\b)", re.IGNORECASE)
_PIECE_AROUND = re.compile(r"\b(before|after|up\s+to|following)\s+" + _CHARACTER, re.IGNORECASE)
_POSITION_OF = re.compile(r"\b(?:position|index)\s+of\s+" + _CHARACTER, re.IGNORECASE)
_WITHOUT = re.compile(r"\b(?:without|remove|drop|delete)\s+" + _CHARACTER + "|" + _CHARACTER
                      + r"\s+(?:removed|dropped|deleted)\b", re.IGNORECASE)


def text_piece_asked(request: str, headers: list[tuple[int, int]] = ()) -> tuple[str, str] | None:
    """The piece of a text a request asks for, as (what, character): `first name` -> ("before", " "), `surname` ->
    ("after", " "), `the part of the email before the @` -> ("before", "@"), `position of the @ sign` ->
    ("position", "@"), `plate without the dash` -> ("without", "-"); None when it asks for none, or for several.
    Only a character named or typed outside quotes (a quoted text is the model's to copy: `position of "-"`), and
    no name piece inside `headers`, the spans of the request's header links (a First Name column)."""
    typed = QUOTED_TEXT.sub(lambda q: " " * len(q.group()), request)
    found = [(m.start(), ("before" if m[1] else "after", " ")) for m in _PIECE_OF_NAME.finditer(typed)
             if not any(start < m.end() and m.start() < end for start, end in headers)]
    found += [(m.start(), ("before" if m[1].lower() in ("before", "up to") else "after", _character(m[2])))
              for m in _PIECE_AROUND.finditer(typed)]
    found += [(m.start(), ("position", _character(m[1]))) for m in _POSITION_OF.finditer(typed)]
    found += [(m.start(), ("without", _character(next(g for g in m.groups() if g))))
              for m in _WITHOUT.finditer(typed)]
    return min(found)[1] if len({piece for _, piece in found}) == 1 else None


def _character(name: str) -> str:
    return CHARACTER_NAMES[re.sub(r"\s+", " ", name.lower())]

# A character named as what joins values (`joined with a dash`, `separated by a comma`, `with a slash between`).
_JOINED_WITH = re.compile(r"\b(?:joined|join|combined|combine|separated|linked|glued)\s+(?:together\s+)?(?:with|by)"
                          r"\s+(?:a\s+)?" + _CHARACTER.replace(r"(?:\bthe\s+)?", "", 1) + r"|\bwith\s+a\s+"
                          + _CHARACTER.replace(r"(?:\bthe\s+)?", "", 1) + r"\s+(?:in\s+)?between\b", re.IGNORECASE)
# Two extremes of one column: `between the highest and lowest odometer readings`, `between the oldest and the newest`.
_EXTREMES = r"(?:highest|largest|biggest|greatest|longest|heaviest|latest|newest|oldest|earliest|lowest|smallest|" \
            r"shortest|lightest|least)"
_BETWEEN_EXTREMES = re.compile(rf"\bbetween\s+(?:the\s+)?{_EXTREMES}\b[^.?!;]{{0,30}}?\band\s+(?:the\s+)?{_EXTREMES}\b",
                               re.IGNORECASE)


def joining_character(request: str) -> str | None:
    """The character a request names to join values with (`rep and region of row 7 joined with a dash` -> `-`), or
    None."""
    typed = QUOTED_TEXT.sub(lambda q: " " * len(q.group()), request)
    found = {_character(next(g for g in m.groups() if g)) for m in _JOINED_WITH.finditer(typed)}
    return found.pop() if len(found) == 1 else None


def spread_asked(request: str) -> bool:
    """Whether the request asks for the span between a column's two extremes (`gap in km between the highest and
    lowest odometer readings`, `years between the oldest and the newest film`): MAX minus MIN."""
    return bool(_BETWEEN_EXTREMES.search(request))


# A part of a date a request asks for (`date_piece_asked`): its year, its month as a number, its weekday, or the
# date written like a sample.
_YEAR_OF = re.compile(r"\b(?:what|which)\s+year\b|\byear\s+(?:of|was|did)\b", re.IGNORECASE)
_MONTH_NUMBER = re.compile(r"\bmonth\s+number\b|\b(?:what|which)\s+month\s*\(?\s*(?:as\s+a\s+)?number\b",
                           re.IGNORECASE)
_WEEKDAY = re.compile(r"\bday\s+of\s+the\s+week\b|\bweekday\b", re.IGNORECASE)
_SAMPLE_CUE = re.compile(r"\b(?:in\s+the\s+form(?:at)?(?:\s+of)?|like|e\.?g\.?,?)[\s:\"'\u201c(]*", re.IGNORECASE)
_SHORT = re.compile(r"\b(?:short|abbreviated)\b", re.IGNORECASE)
_YEAR_FIRST = re.compile(r"(\d{4})([-/.])(\d{1,2})\2(\d{1,2})\b")
_YEAR_LAST = re.compile(r"(\d{1,2})([-/.])(\d{1,2})\2(\d{4})\b")
_MONTH_FIRST = re.compile(r"([A-Za-z]{3,9})(\.?\s+)(\d{1,2})(,?\s+)(\d{4})\b")
_DAY_FIRST = re.compile(r"(\d{1,2})(\s+)([A-Za-z]{3,9})(\.?,?\s+)(\d{4})\b")


def date_piece_asked(request: str) -> str | None:
    """The part of a date the request asks for: "YEAR" (`what year was S1E05 published`), "MONTH" (`month number
    of the latest check-in`, `what month (as a number)`), or a TEXT format: `dddd` for `day of the week`, and the
    format of a sample date the request shows (`in the form 2024-01-31` -> `yyyy-mm-dd`, `written like Mar 06, 2023`
    -> `mmm dd, yyyy`); None for none (or a sample whose day and month cannot be told apart: `03/04/2024`)."""
    if _YEAR_OF.search(request):
        return "YEAR"
    if _MONTH_NUMBER.search(request):
        return "MONTH"
    if _WEEKDAY.search(request):
        return "ddd" if _SHORT.search(request) else "dddd"
    for cue in _SAMPLE_CUE.finditer(request):
        found = _sample_format(request[cue.end():])
        if found:
            return found
    return None


def _digits(code: str, number: str) -> str:
    return code * 2 if len(number) == 2 else code  # `06` -> dd, `6` -> d


def _month_name(word: str) -> str | None:
    """`Mar` -> mmm, `March` -> mmmm; None for anything else (`Sept` is neither of Excel's forms)."""
    word = word.lower()
    if word not in _MONTH or len(word) not in (3, len(_MONTH_NAMES[_MONTH[word] - 1])):
        return None
    return "mmm" if len(word) == 3 else "mmmm"


def _real_date(year: str, month: int, day: str) -> bool:
    return 1900 <= int(year) <= 2100 and 1 <= month <= 12 and 1 <= int(day) <= 31


def _sample_format(text: str) -> str | None:
    """The Excel date format of the sample date `text` starts with (`2024-01-31`, `31/01/2024`, `Mar 06, 2023`,
    `6 March 2023`), or None."""
    if (m := _YEAR_FIRST.match(text)) and _real_date(m[1], int(m[3]), m[4]):
        return f"yyyy{m[2]}{_digits('m', m[3])}{m[2]}{_digits('d', m[4])}"
    if m := _YEAR_LAST.match(text):
        first, second = int(m[1]), int(m[3])
        if first > 12 >= second and _real_date(m[4], second, m[1]):
            return f"{_digits('d', m[1])}{m[2]}{_digits('m', m[3])}{m[2]}yyyy"
        if second > 12 >= first and _real_date(m[4], first, m[3]):
            return f"{_digits('m', m[1])}{m[2]}{_digits('d', m[3])}{m[2]}yyyy"
        return None
    if (m := _MONTH_FIRST.match(text)) and _month_name(m[1]) and _real_date(m[5], 1, m[3]):
        return f"{_month_name(m[1])}{m[2]}{_digits('d', m[3])}{m[4]}yyyy"
    if (m := _DAY_FIRST.match(text)) and _month_name(m[3]) and _real_date(m[5], 1, m[1]):
        return f"{_digits('d', m[1])}{m[2]}{_month_name(m[3])}{m[4]}yyyy"
    return None


def _cell_mentions(table: Table, request: str) -> list[tuple[re.Match, int]]:
    """Cells the request names by address (`in A5`) that lie in the table's data: (match, row)."""
    letters = {col.letter for col in table.columns}
    unquoted = QUOTED_TEXT.sub(lambda q: " " * len(q.group()), request)  # same offsets, quoted text blanked
    return [(m, int(m.group(2))) for m in _CELL_MENTION.finditer(unquoted)
            if m.group(1) in letters and table.first_row <= int(m.group(2)) <= table.last_row]


def _addressed(table: Table, request: str) -> list[tuple[int, int]]:
    """(character offset, row) of each row the request names by number (`row 4`, `rows 2 and 3`) or by a cell's
    address (`in A5`)."""
    found: list[tuple[int, int]] = []
    for m in _ROW_MENTION.finditer(request):
        numbers = [m.group(2)] + ([m.group(3)] if m.group(1) and m.group(3) else [])
        found += [(m.start(), int(number)) for number in numbers]
    return found + [(m.start(), row) for m, row in _cell_mentions(table, request)]


def addressed_cells(table: Table, request: str) -> list[tuple[str, int]]:
    """(column, row) of each data cell the request names by its address (`in A5`), in order of mention."""
    return [(m.group(1), row) for m, row in _cell_mentions(table, request)]


def names_letters(table: Table, request: str) -> bool:
    """Whether the request names a column or a cell of the table by its letter (`column F`, `in A5`)."""
    letters = {col.letter for col in table.columns}
    return bool(addressed_cells(table, request)) or any(
        m.group(1).upper() in letters for m in _LETTER_MENTION.finditer(request))


def addressed_rows(table: Table, request: str) -> set[int]:
    """Data rows the request names by number or by a cell's address, not by a record's key."""
    return {row for _, row in _addressed(table, request) if table.first_row <= row <= table.last_row}


def mentioned_rows(table: Table, request: str, links: list[Link] | None = None) -> tuple[int, ...]:
    """Data rows the request names, by number (`row 4`, `rows 2 and 3`), by a cell's address (`in A5`) or by a
    record's key (`T-105`, `Alien`: value links with a row), in order of mention, without repeats; a number outside
    the table's data rows is left out (row 1 is the header row)."""
    links = link_columns(table, request) if links is None else links
    found = _addressed(table, request) + [(link.start, link.row) for link in links if link.row]
    rows: list[int] = []
    for _, r in sorted(found, key=lambda f: f[0]):
        if table.first_row <= r <= table.last_row and r not in rows:
            rows.append(r)
    return tuple(rows)


# Comparison phrases a request may put before a number or a date: `over 4200`, `at least $50`, `before 2024-03-01`,
# `> 153`. The words the training requests use, the symbols and plain `fewer than`, so most of the held-out split's
# operator words stay unread; longest first, so `no less than` is not read as `less than`. A `not`/`no`/`n't` in
# front negates (`not above 5` is <=5, `no greater than 5` too), which also reads the held-out `not above` /
# `not below`.
COMPARISON_PHRASES = {
    ">": ("more than", "greater than", "over", "above", "after", "later than", ">"),
    ">=": ("at least", "no less than", "on or after", ">="),
    "<": ("less than", "fewer than", "below", "under", "before", "earlier than", "<"),
    "<=": ("at most", "no more than", "on or before", "<="),
}
# these take dates only: `after 2023` is a year
_DATE_PHRASES = {"after", "later than", "before", "earlier than", "on or after", "on or before"}
_PHRASE_OP = {p: op for op, phrases in COMPARISON_PHRASES.items() for p in phrases}
NEGATED = {">": "<=", ">=": "<", "<": ">=", "<=": ">"}  # `x > 5` is false exactly when `x <= 5` is true


def _alternation(phrases) -> str:
    return "|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True))


_WORD_PHRASES = [p for p in _PHRASE_OP if p[0].isalpha()]
_COMPARISON = re.compile(
    r"(\b(?:not|no|never)\s+|n't\s+)?"  # negation
    r"(?:(?<![A-Za-z])(" + _alternation(_WORD_PHRASES) + r")\b|(?<![<>=])(" +
    _alternation(set(_PHRASE_OP) - set(_WORD_PHRASES)) + r")(?![<>=]))"
    r"\s*\$?\s*(\d{4}-\d{2}-\d{2}|-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?)"
    # not part of a longer number, date or time, and not scaled by a unit (`50%`, `5k`, `1 million`)
    r"(?![\d.,]*\d|[-/:]\d|\s*(?:%|k\b|m\b|bn\b|thousand|million|billion|percent))", re.IGNORECASE)
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}$")
# `5 or more rejects`, `4 stars or more`, `3 days or less`: the number first, up to two words of what it counts
# between. Not `or higher` / `or above` (`ranked 3 or higher` is a rank of 3 or less), not `more or less`, not a
# year (`2024 or more recently`), a time or a date part (`1:30 or more`, `31/12/2023 or more`).
_OR_BOUND = {"more": ">=", "over": ">=", "less": "<=", "fewer": "<=", "under": "<="}
_NUMBER_OR_BOUND = re.compile(
    r"(?<![\w.,$:/-])(?!(?:19|20)\d\d\b)(-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?)"
    r"(?![\d.,]*\d|[-/:]\d|\s*(?:%|k\b|m\b))"
    r"(?:\s+(?!(?:more|less|or)\b)[A-Za-z]+){0,2}?\s+or\s+(" + "|".join(_OR_BOUND) + r")\b(?!\s+than)", re.IGNORECASE)
# A year alone names a span: `before 2022` is before its first day and `2024 or later` from its first day on;
# `after 2023` may be written either side of the new year (`>DATE(2023,12,31)`, `>=DATE(2024,1,1)`): not read.
YEAR_NUMBER = re.compile(r"(?:19|20)\d\d")
_YEAR_OR_LATER = re.compile(r"(?<![\w.,$:/-])((?:19|20)\d\d)\s+or\s+(?:later|after)\b", re.IGNORECASE)
_ENDS_WITH_ROW = re.compile(r"\brows?\s*#?\s*$", re.IGNORECASE)


_MONTH_NAMES = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
                "november", "december")
_MONTH = {name: i for i, name in enumerate(_MONTH_NAMES, 1)} | {name[:3]: i for i, name in enumerate(_MONTH_NAMES, 1)}
_MONTH["sept"] = 9
_MONTH_WORD = r"(" + _alternation(_MONTH) + r")\.?"
_DAY = r"(\d{1,2})(?:st|nd|rd|th)?"
_SPOKEN_DATE = re.compile(
    rf"\b(?:{_DAY}\s+(?:of\s+)?{_MONTH_WORD},?\s+(\d{{4}})|{_MONTH_WORD}\s+{_DAY},?\s+(\d{{4}}))\b", re.IGNORECASE)
_MONTH_YEAR = re.compile(rf"\b{_MONTH_WORD},?\s+(\d{{4}})\b", re.IGNORECASE)
# `in May 2023`, `for Dec 2023`, `during march 2024`: every day of that month; `before august 2024`: before its first
# day. Not `after` / `since` / `from` a month (either side of its end, or no end), not a month with a day (a date),
# not `not in May 2024` / `except in May 2024`, and not the start of a longer span (`in May 2024 through July 2024`,
# `for March 2024 onwards`, `in May 2024 or June 2024`).
_MONTH_SPAN = re.compile(rf"(?<!\bnot\s)(?<!\bexcept\s)(?<!\boutside\s)\b(in|within|during|for|before|earlier than)\s+"
                         rf"{_MONTH_WORD},?\s+(\d{{4}})\b"
                         r"(?![-/]\d|\s*(?:-|–|through|thru|to|till|until|onwards?)(?:\W|$)"
                         rf"|\s*(?:and|or|&)\s+(?:{_alternation(_MONTH)})\b)", re.IGNORECASE)

# `in 2023`, `during 2024`, `in calendar 2023`, `within the calendar year 2024`: every day of that year. Not `in 2024
# or later` (read above), `for 2023` (a budget year, a label), not `not in 2023`, not the start of a longer span (`in
# 2022 through 2024`, `in 2022 and 2023`), not a date, not a label (`in the 2024 intake`).
_YEAR_SPAN = re.compile(r"(?<!\bnot\s)(?<!\bexcept\s)(?<!\boutside\s)\b(?:in|during|within)\s+"
                        r"(?:the\s+(?:calendar\s+)?year\s+|calendar\s+(?:year\s+)?|year\s+)?((?:19|20)\d\d)\b"
                        r"(?![-/]\d|\s*(?:-|–|through|thru|to|till|until|onwards?)(?:\W|$)"
                        r"|\s*(?:or|and|&)\s+(?:later|after|earlier|before|more recently|(?:19|20)\d\d)\b)", re.IGNORECASE)


def with_iso_dates(request: str) -> str:
    """The request with each date spelled out in words (`march 31 2024`, `1 Aug 2024`, `Feb 1st, 2024`) written as
    ISO (`2024-03-31`), as the generator's and the checks' dates are; an impossible date is left as written."""
    def iso(m: re.Match) -> str:
        day, month, year = (m[1], m[2], m[3]) if m[1] else (m[5], m[4], m[6])
        try:
            return _dt.date(int(year), _MONTH[month.lower()], int(day)).isoformat()
        except ValueError:
            return m[0]

    return _SPOKEN_DATE.sub(iso, request)


def request_comparisons(request: str) -> set[tuple[str, str]]:
    """(operator, value) pairs the request states (`over 4200` -> ('>', '4200'), `not above 5` -> ('<=', '5'),
    `before 2024-03-01` -> ('<', '2024-03-01')); numbers are normalised (`4200.0` -> `4200`), dates stay ISO.
    Anything it cannot read for sure (`over 5k`, `after 2023`, `before 28/07/2023`) is left out: the candidate
    ranking trusts what this returns."""
    return set(ordered_comparisons(request))


def ordered_comparisons(request: str) -> list[tuple[str, str]]:
    """`request_comparisons` in the order the request states them (each once): `show "Big" if sales over 900 and
    units over 1` -> [('>', '900'), ('>', '1')], so a formula testing two conditions can be given each in its place.
    A month of a year, or a year, names a span of dates: `in May 2023` -> [('>=', '2023-05-01'), ('<', '2023-06-01')],
    `in 2023` -> [('>=', '2023-01-01'), ('<', '2024-01-01')], and `before august 2024` -> [('<', '2024-08-01')]."""
    found: list[tuple[int, tuple[str, str]]] = []
    text = with_iso_dates(request)
    for m in _COMPARISON.finditer(text):
        phrase, value = (m.group(2) or m.group(3)).lower(), m.group(4)
        is_date = bool(ISO_DATE.match(value))
        if phrase in ("before", "earlier than") and YEAR_NUMBER.fullmatch(value) and not m.group(1):
            found.append((m.start(), ("<", f"{value}-01-01")))  # `before 2022`: before its first day
            continue
        if is_date != (phrase in _DATE_PHRASES) and phrase[0].isalpha():
            continue  # a date after a number word (`above 2023-07-28`) or a number after a date word (`after 2023`)
        op = _PHRASE_OP[phrase]
        found.append((m.start(), (NEGATED[op] if m.group(1) else op, normalise_number(value))))
    for m in _MONTH_SPAN.finditer(text):
        found += [(m.start() + i, bound) for i, bound in enumerate(_month_bounds(m))]
    for m in _YEAR_SPAN.finditer(text):
        year = int(m[1])
        found += [(m.start(), (">=", f"{year}-01-01")), (m.start() + 1, ("<", f"{year + 1}-01-01"))]
    for m in _YEAR_OR_LATER.finditer(text):
        found.append((m.start(), (">=", f"{m.group(1)}-01-01")))
    for m in _NUMBER_OR_BOUND.finditer(text):
        if not _ENDS_WITH_ROW.search(text, 0, m.start()):  # `row 12 or more` is not a value
            found.append((m.start(), (_OR_BOUND[m.group(2).lower()], normalise_number(m.group(1)))))
    return list(dict.fromkeys(pair for _, pair in sorted(found, key=lambda item: item[0])))


def month_after(first: _dt.date) -> _dt.date:
    """The first day of the month after the one `first` is in."""
    return _dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)


def _month_bounds(m: re.Match) -> list[tuple[str, str]]:
    """The bounds a `_MONTH_SPAN` match states: before its first day, or from its first day to the next month's."""
    year, month = int(m[3]), _MONTH[m[2].lower()]
    try:
        first = _dt.date(year, month, 1)
        after = month_after(first)
    except ValueError:  # `Dec 9999`, `May 0000`
        return []
    if m[1].lower() in ("before", "earlier than"):
        return [("<", first.isoformat())]
    return [(">=", first.isoformat()), ("<", after.isoformat())]


_COMPARISON_WORDING = re.compile(r"(?<![A-Za-z])(?:" + _alternation(_WORD_PHRASES) + r")\b|[<>]|\bor (?:more|less|"
                                 r"fewer|over|under|later|earlier)\b", re.IGNORECASE)


def states_a_comparison(request: str) -> bool:
    """Whether the request words a comparison at all, read or not (`more than one order`, `over a thousand`,
    `before 2022`): then a formula's comparison may be what it asks for even where `request_comparisons` reads
    none."""
    return bool(_COMPARISON_WORDING.search(QUOTED_TEXT.sub(" ", request)))


# A lookup that finds nothing, as requests word it: `not found`, `no match`, `no such parcel`, `isn't on the list`,
# `if I don't have it`, `can't be found`, `if missing`. Not any negation: `if it was not returned` is an IF.
_APOSTROPHE = "['\u2019]"
_NOT_FOUND = re.compile(
    r"\bnot\s+(?:be\s+)?(?:found|there|listed|in|on)\b|\bno\s+(?:such|match)\b|\bdoes\s+not\s+exist"
    rf"|n{_APOSTROPHE}t\s+(?:be\s+)?(?:found|there|listed|in|on|have|exist)\b|\b(?:if|when)\s+(?:it\s+is\s+)?missing\b",
    re.IGNORECASE)
_CONDITION_START = re.compile(r"\b(?:if|when|whenever|in case)\b", re.IGNORECASE)


def request_fallback(request: str) -> str | None:
    """The text a request asks to show when its lookup finds nothing: the one quoted text, with a condition of not
    finding right after it (`runtime of Dune, or "not in collection" if I don't have it`, `"-" when not found`) or
    before it in the same sentence (`if there is no match return "none"`, `if not found, say "none"`); None
    otherwise (`or "not measured" if the cell is empty` and `"late" if it was not returned` are IFs)."""
    quoted = list(QUOTED_TEXT.finditer(request))
    if len(quoted) != 1:
        return None
    m = quoted[0]
    after = re.split(r"[;.?!]", request[m.end():], maxsplit=1)[0]
    before = re.split(r"[;.?!]", request[:m.start()])[-1]
    for clause, follows in ((after, True), (before, False)):
        start = _CONDITION_START.search(clause)
        if start and (not follows or not clause[:start.start()].strip()) and _NOT_FOUND.search(clause, start.start()):
            return m.group(0)[1:-1]
    return None


_ISO_DATE_PARTS = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_REQUEST_NUMBER = re.compile(r"(?<![A-Za-z\d.])(?<![A-Za-z]-)\d+(?:\.\d+)?(?![\d.]*\d)")  # not in `FW-0599`
QUOTED_TEXT = re.compile(r'"[^"]*"|\u201c[^\u201d]*\u201d')


# Number words a request states a count with (`first two letters`, `last four characters`, `a two-digit code`).
# Not `one`: it is a pronoun and an article far more often than a count (`the one with the most visits`).
NUMBER_WORDS = {word: str(n) for n, word in enumerate(
    "two three four five six seven eight nine ten eleven twelve".split(), 2)}
_NUMBER_WORD = re.compile(r"\b(" + "|".join(NUMBER_WORDS) + r")\b", re.IGNORECASE)


def request_numbers(request: str) -> set[str]:
    """Every number the request states outside quotes, normalised (`$4,200` -> `4200`, `row 4` -> `4`, `3rd` -> `3`,
    `four` -> `4`, `2024-03-01` or `March 1 2024` -> `2024`, `3`, `1`: the arguments of DATE; `April 2024` ->
    `2024`, `4`); part of a word or code (`Q1`, `sheet2`, `FW-0599`) is not a number."""
    text = with_iso_dates(QUOTED_TEXT.sub(" ", request))
    text = _NUMBER_WORD.sub(lambda m: NUMBER_WORDS[m.group(1).lower()], text)
    text = _ISO_DATE_PARTS.sub(lambda m: " ".join(str(int(g)) for g in m.groups()), text)
    text = _MONTH_YEAR.sub(lambda m: f"{_MONTH[m[1].lower()]} {m[2]}", text)  # `April 2024`: month 4 of 2024
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    return {normalise_number(n) for n in _REQUEST_NUMBER.findall(text)}


# What an IF request asks to show, unquoted: `say big table if ..., otherwise normal`, `row 7: premium if ...,
# standard otherwise`, `label it fave when ...; else other`, `show Bonus for Swift Hose if ..., else None`. A label
# is one to four words; the condition runs to the first comma or semicolon; a courtesy at the end is not a label.
_LABEL = r"([A-Za-z][A-Za-z0-9'-]*(?: [A-Za-z0-9'-]+){0,3}?)"
_SAY = (r"(?:say|show|write|return|put|give|display|(?:label|mark|flag)(?: it| the row)?(?: as)?)"
        r"(?: the (?:text|word|label))?")
_COURTESY = r"(?:,?\s*(?:please|pls|thanks|thank you|thx|asap|in excel|\(excel\)))*"
_UNQUOTED_LABELS = re.compile(
    rf"(?:\b{_SAY}\s+|^(?:(?:in|for) )?row \d+\s*[:,]?\s*(?!{_SAY}\b))" + _LABEL +
    r"(?:\s+(?:for|in)\s+[^,;]*?)?\s+(?:if|when|whenever)\b[^,;]*[,;]\s*"
    rf"(?:(?:otherwise|else|if not)\s+(?:{_SAY}\s+|just\s+|it(?:'s| is)\s+)?" + _LABEL + r"|" + _LABEL +
    r"\s+otherwise)" + _COURTESY + r"\s*[.!?]?\s*$",
    re.IGNORECASE)
_NOT_A_LABEL = frozenset("blank empty nothing leave left".split())  # "otherwise leave it blank" means ""
# Quoted labels: the second comes right after an "else" word or right before an "otherwise" one, or the two end a
# yes/no question (`Is the tip at least 10%? "good tip" or "low tip"`). Two quoted texts in any other place are
# values of a condition or of criteria (`"Leeds" or "York"`, `if the city is "Leeds"`), not what an IF shows.
_ELSE_BEFORE = re.compile(r"\b(?:otherwise|else|if not|in any other case|when not)\s*[,:]?\s*$", re.IGNORECASE)
_ELSE_AFTER = re.compile(r"^\s*(?:otherwise|if not|in all other cases|in any other case|for the rest)\b",
                         re.IGNORECASE)


def _else_spelled(request: str) -> str:
    """`request` with a misspelt `otherwise` (one letter added, dropped, changed or swapped: `otherise`, `ohterwise`)
    written right, so the labels around it are read as the user meant them."""
    return re.sub(r"\b[A-Za-z]{8,10}\b", lambda m: "otherwise" if one_edit(m[0].lower(), "otherwise") else m[0], request)


def request_labels(request: str) -> tuple[str, str] | None:
    """The two results an IF request asks for, in the order (if true, if false), spelled as the user wrote them:
    `say "late" if it was kept over 14 days, otherwise "on time"` -> ("late", "on time"); unquoted
    `show inactive if visits is zero, active otherwise` -> ("inactive", "active"). None unless the request reads
    as one of these: exactly two quoted texts, the second after `otherwise` / `else` / `if not` (or before
    `otherwise`), or ending a yes/no question (`...? "good tip" or "low tip"`); or, unquoted, a label, a condition and
    `otherwise` / `else` with the other label. `unless` turns the order round: not read.

    The model finds the condition far more often than it copies labels it never saw (`=IF(H9>5,"Above","chase")`
    for "chase up" / "ok"): like cell values, the labels are taken from the request, not generated."""
    if re.search(r"\bunless\b", request, re.IGNORECASE):
        return None
    request = _else_spelled(request)
    quoted = list(QUOTED_TEXT.finditer(request))
    if quoted:
        if len(quoted) != 2:
            return None
        first, second = quoted
        yes, no = first.group(0)[1:-1], second.group(0)[1:-1]
        between = request[first.end():second.start()]
        plain = (_ELSE_BEFORE.search(between) or _ELSE_AFTER.match(request[second.end():])
                 or "?" in request[:first.start()] and re.fullmatch(r"\s+or\s+", between))
        return (yes, no) if plain and yes and no and yes != no else None
    m = _UNQUOTED_LABELS.search(request.strip())
    if not m:
        return None
    yes, no = m.group(1), m.group(2) or m.group(3)
    if yes.lower() == no.lower() or _NOT_A_LABEL & set(f"{yes} {no}".lower().split()):
        return None
    return yes, no


def normalise_number(text: str) -> str:
    """`4,200.0` -> `4200`, `0.50` -> `0.5`; an ISO date or anything else is returned as it is."""
    try:
        value = float(text.replace(",", ""))
    except ValueError:
        return text
    return str(int(value)) if value.is_integer() else repr(value)


def links_text(table: Table, request: str) -> str:
    """The prompt line: `Links: sales = C2:C40 (row 4 = C4); "West" in A2:A40` (or `Links: none`).

    Cells for named rows matter as much as ranges: with ranges alone, the model still wrote `D11` for "row 4"
    (IF, ABS, LEN, LEFT, percentage change between rows), assembling a letter and a number it had to find apart.
    """
    links = link_columns(table, request)
    rows = mentioned_rows(table, request, links)
    # a span that matched two cell values of one column renders the same link twice: keep it once
    rendered = dict.fromkeys(link.render(table.first_row, table.last_row, rows) for link in links)
    return "Links: " + ("; ".join(rendered) if rendered else "none")


# Which of two quoted texts a replacement request takes out: `replace "a" with "b"`, `change "a" to "b"`, `swap "a"
# for "b"`, `turn "a" into "b"`, `"a" replaced by "b"` take out the first; `substitute "b" for "a"` the second. A
# replacing verb must say so (`add "Mr " to "Smith"`, `put "b" for "a"` are not read).
_REPLACED_BY = re.compile(r"^\s*(?:replaced|changed|swapped|switched|turned)\s+(?:by|with|to|for|into)\s*$",
                          re.IGNORECASE)
_JOINED_BY = re.compile(r"^\s*(?:with|to|by|for|into)\s*$", re.IGNORECASE)
_REPLACING_VERB = re.compile(r"\b(?:(replace|change|swap|switch|turn)|(substitute))\b", re.IGNORECASE)


def request_replacement(request: str) -> tuple[str, str] | None:
    """(old, new) for a request that asks to replace one quoted text by another (`change "Lucy" to "Maria"` ->
    ("Lucy", "Maria"); `substitute "Kira" for "Quinn"` -> ("Quinn", "Kira")); None unless it quotes exactly two
    texts joined by one of those words. The model copies both texts far more reliably than it orders them."""
    quoted = list(QUOTED_TEXT.finditer(request))
    if len(quoted) != 2:
        return None
    first, second = (m.group(0)[1:-1] for m in quoted)
    between = request[quoted[0].end():quoted[1].start()]
    if first == second:
        return None
    if _REPLACED_BY.match(between):
        return first, second
    word = between.strip().lower()
    if len(word) > 4 and any(one_edit(word, joiner) for joiner in ("with", "into")):  # `replace "a" witth "b"`
        between = " with "
    verbs = list(_REPLACING_VERB.finditer(re.split(r"[;.?!]", request[:quoted[0].start()])[-1]))
    if not verbs or not _JOINED_BY.match(between):
        return None
    if verbs[-1].group(2):  # substitute "new" for "old"
        return (second, first) if between.strip().lower() == "for" else None
    return first, second


# `N characters starting at position P`, `from character P, N long`, `start P length N`: the position text starts at
_MID_START = re.compile(r"\b(?:(?:starting|start)\s+(?:at\s+)?(?:(?:position|character|letter)\s+)?|from\s+(?:position|"
                        r"character|letter)\s+)(\d{1,3})(?:st|nd|rd|th)?\b(?!\s*(?:characters|chars|letters|long))",
                        re.IGNORECASE)


def request_mid_start(request: str) -> str | None:
    """The position a request asks a piece of text to start at (`2 characters starting at 4` -> "4", `mid of Pupil
    in row 2 from character 3, 2 long` -> "3"), when it says exactly one; None otherwise. MID's start and length are
    both numbers the request states, and the model swaps them."""
    starts = {str(int(n)) for n in _MID_START.findall(QUOTED_TEXT.sub(" ", request))}
    return starts.pop() if len(starts) == 1 else None
