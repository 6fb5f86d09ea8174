"""A narrower view of a wide table: the columns a request links to, re-lettered as the model knows them.

The generator's tables mostly have 4 to 8 columns, so the model has rarely written a letter past G: on a 9-column
table it writes `H2:H17` where the `Links:` line says `parts = I2:I17` (docs/excel.md). Text-to-SQL parsers meet
the same thing on large schemas and prune the schema to the items a question names before decoding. Here a table
wider than `VIEW_WIDTH` is also shown as a view that keeps the columns the request links to
(`linking.link_columns`), the first column (where a record's key or name usually is) and, when the request speaks
of time, the date columns; the leftmost others fill it up to `VIEW_WIDTH`. Its answers are written back in the
table's own letters (`to_table_letters`) and compete with the whole table's answers by the model's score and the
same ranking, so a request that names a column no link finds loses nothing: the whole table is still decoded.
"""

from __future__ import annotations

import re

from .linking import link_columns, names_letters
from .table import DATE, Column, Table, col_letter

VIEW_WIDTH = 7  # most generated tables have 4-7 columns; 8 or more are rare in training
_TIME_WORDS = re.compile(
    r"\b(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|june?|july?|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?"
    r"|nov(?:ember)?|dec(?:ember)?|(?:19|20)\d\d|dates?|days?|weeks?|months?|years?|when|since|before|after|until"
    r"|earliest|latest|oldest|newest|recent(?:ly)?)\b", re.IGNORECASE)  # not `may`: far more often a verb


def focused_view(table: Table, request: str, width: int = VIEW_WIDTH) -> tuple[Table, dict[str, str]] | None:
    """(the view, view letter -> table letter) for a table wider than `width` whose request links to a column
    other than the first; None where the request names a column or cell by its letter (the view's letters differ)
    or where the columns it must keep (the linked ones, the first, the dates asked about) are more than `width`.
    A view whose columns all keep their letters still leaves out the unlinked columns past `width`, which the model
    would otherwise write where it means a column the request names."""
    if len(table.columns) <= width or names_letters(table, request):
        return None
    keep = {link.letter for link in link_columns(table, request)} | {table.columns[0].letter}
    if len(keep) == 1:
        return None
    if _TIME_WORDS.search(request):
        keep |= {col.letter for col in table.columns if col.kind == DATE}
    if len(keep) > width:
        return None
    for col in table.columns:
        if len(keep) == width:
            break
        keep.add(col.letter)
    kept = [col for col in table.columns if col.letter in keep]
    letters = {col_letter(i): col.letter for i, col in enumerate(kept)}
    view = Table(table.topic, [Column(col_letter(i), col.header, col.kind, col.values) for i, col in enumerate(kept)],
                 first_row=table.first_row)
    return view, letters


# A string literal (left alone), a cell (`$B$4`), or a whole-column range (`B:B`); not a function name (`LOG10(`)
# nor a number's exponent (`1E5`)
_REFERENCE = re.compile(r'"(?:[^"]|"")*"?'
                        r'|(?<![A-Za-z_.$\d])(\$?)([A-Z]{1,3})(\$?\d+)(?![\w(])'
                        r'|(?<![A-Za-z_.$\d])(\$?)([A-Z]{1,3}):(\$?)([A-Z]{1,3})(?![\w(])', re.IGNORECASE)
# A range over two columns, with rows (`A2:C9`) or whole (`A:C`)
_SPAN = re.compile(r'"(?:[^"]|"")*"?|(?<![A-Za-z_.$\d])\$?([A-Z]{1,3})(?:\$?\d+)?:\$?([A-Z]{1,3})(?:\$?\d+)?(?![\w(])',
                   re.IGNORECASE)
# Functions that find a column by its position or by a text naming it, which the view's letters would change
_BY_POSITION = re.compile(r"\b(?:OFFSET|INDIRECT|ADDRESS|COLUMNS?|CHOOSECOLS)\s*\(", re.IGNORECASE)


def to_table_letters(formula: str, letters: dict[str, str]) -> str | None:
    """`formula`, written for a view, in the table's letters (`letters`: view letter -> table letter); None if it
    reads a column the view does not have, a range over several columns (the view's neighbours need not be the
    table's, so `A2:C9` or a VLOOKUP's column number would mean other columns) or finds a column by position."""
    if _BY_POSITION.search(formula) or any(
            m.group(1) and m.group(1).upper() != m.group(2).upper() for m in _SPAN.finditer(formula)):
        return None
    unknown = False

    def move(m: re.Match) -> str:
        nonlocal unknown
        if m.group(0).startswith('"'):
            return m.group(0)
        if m.group(2):
            own = letters.get(m.group(2).upper())
            if own is None:
                unknown = True
                return m.group(0)
            return m.group(1) + own + m.group(3)
        first, last = letters.get(m.group(5).upper()), letters.get(m.group(7).upper())
        if first is None or last is None:
            unknown = True
            return m.group(0)
        return m.group(4) + first + ":" + m.group(6) + last

    moved = _REFERENCE.sub(move, formula)
    return None if unknown else moved
