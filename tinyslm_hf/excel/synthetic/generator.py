"""Synthetic requests -> reference formula -> expected value (computed by executing the formula).

Every intent has several phrasings (`phrasings.py`); the held-out `test` split uses held-out phrasings and held-out
table topics and header names (`topics.py`). Everything is drawn from one `random.Random`, so a seed fixes the data.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..example import Example, write_jsonl
from ..executor import execute, single_cells
from ..linking import content_words, header_core, link_columns
from ..table import CATEGORY, DATE, NUMBER, TEXT, Table, serial_to_iso
from .breadth import BREADTH, widen_template
from .phrasings import (DATE_OPS, FAMILY, IF_LABELS, MONTHS, NOT_FOUND, OPS, ORD, PREFIX, REQUEST_NOISE, SEPS, SUFFIX,
                        TEXT_FORMATS, YES_NO, T, _with_noise, _with_typo)
from .topics import ADJ, FIRST, INVENTED_FRACTION, LAST, NOUN, STREET, english_words, random_table
from .words import made_up_word

SPLITS = ("train", "validation", "test")
KEY_ROW_REFERENCE = 0.3  # share of one-row requests that name the row by its record key (`T-105`), not its number
CELL_REFERENCE = 0.15  # share of one-cell requests that name the cell by its address (`the name in A5`)
PART_MENTION = 0.3  # share of mentions of a several-word or unit header that use one part of it (`hours`)


def _is_code(col) -> bool:
    """A record-key column (`KX-0401`: topics.CODE_KEY)."""
    return col.kind == TEXT and all(isinstance(v, str) and _CODE.match(v) for v in col.values if v is not None)


_CODE = re.compile(r"[A-Z]{1,2}-\d+$")


class _Skip(Exception):
    """This table cannot host this intent (e.g. no date column); draw another."""


class _Builder:
    def __init__(self, rng: random.Random, table: Table, held_out: bool):
        self.rng, self.t, self.h = rng, table, held_out
        self.slots: dict[str, str] = {}

    # --- column and value picks ---------------------------------------------------------------------------
    def cols(self, kind: str, k: int = 1) -> list:
        pool = [c for c in self.t.columns if c.kind == kind]
        if len(pool) < k:
            raise _Skip
        return self.rng.sample(pool, k)

    def rng_of(self, col) -> str:
        return f"{col.letter}{self.t.first_row}:{col.letter}{self.t.last_row}"

    def mention(self, col) -> str:
        """How the request names a column: its header as people say it (no unit), lower-cased, its letter, or one
        word of the header that names it alone (`hours` for `Hours Logged`)."""
        parts = self._own_parts(col)
        if parts and self.rng.random() < PART_MENTION:
            part = self.rng.choice(parts)
            return part if self.rng.random() < 0.3 else part.lower()
        name = header_core(col.header)
        r = self.rng.random()
        if r < 0.45:
            return name
        if r < 0.75:
            return name.lower()
        if r < 0.87:
            return f"column {col.letter}"
        if r < 0.93:
            return f"col {col.letter}"
        return f"the {name} column"

    def _own_parts(self, col) -> list[str]:
        """Content words of the header that, said alone, link this column and nothing else (not another header's
        word, not a cell value). Units are left out: drawn at random, they would teach that `kilometres` is a price."""
        return [p for p in content_words(col.header)
                if [(link.letter, link.kind) for link in link_columns(self.t, p)] == [(col.letter, "header")]]

    def pick(self, pair: tuple[list, list]) -> Any:
        train, test = pair
        if self.h and test and self.rng.random() < 0.5:
            return self.rng.choice(test)
        return self.rng.choice(train)

    def op(self, col, name: str = "op", xname: str = "x") -> tuple[str, str]:
        sym = self.rng.choice(list(OPS))
        values = sorted(v for v in col.values if v is not None)
        x = values[self.rng.randint(len(values) // 5, max(len(values) // 5, 4 * len(values) // 5 - 1))]
        x = int(round(x))
        if x >= 1000 and self.rng.random() < 0.6:
            x = int(round(x, -2))
        self.slots[name], self.slots[xname] = self.pick(OPS[sym]), str(x)
        return sym, str(x)

    def category_value(self, col, name: str = "val") -> str:
        value = self.rng.choice(col.values)
        if self.rng.random() < 0.15:
            value = value.lower()
        self.slots[name] = value
        return value

    def labels(self, pool: list[tuple[str, str]]) -> tuple[str, str]:
        """What an IF returns: half the time a usual pair from `pool`, otherwise words a user makes up for the job
        (`late`/`on time`, `acidic`/`not acidic`): the model must copy labels from the request, not remember them."""
        if self.rng.random() < 0.5:
            return self.rng.choice(pool)
        words = english_words()
        while True:
            yes, no = (self.rng.choice(words) for _ in range(2))
            if self.rng.random() < 0.2:
                yes = f"{yes} {self.rng.choice(words)}"
            if self.rng.random() < 0.15:
                no = f"not {yes.lower()}"
            if self.rng.random() < 0.6:
                yes, no = yes.lower(), no.lower()
            if yes.lower() != no.lower():
                return yes, no

    def spoken_date(self, y: int, m: int, d: int) -> str:
        """A date as people type it: `March 31 2024`, `31 march 2024`, `Mar 31, 2024`."""
        month = MONTHS[m - 1] if self.rng.random() < 0.7 else MONTHS[m - 1][:3]
        if self.rng.random() < 0.4:
            month = month.lower()
        return self.rng.choice([f"{month} {d} {y}", f"{d} {month} {y}", f"{month} {d}, {y}"])

    def row(self, name: str = "row") -> int:
        r = self.rng.randint(self.t.first_row, self.t.last_row)
        self.slots[name] = str(r)
        return r

    # --- intents: each fills slots and returns the reference formula ----------------------------------------
    def build(self, family: str) -> str:
        m = getattr(self, "f_" + family, None)
        return m() if m else self.simple(family)

    def simple(self, family: str) -> str:
        (c,) = self.cols(NUMBER)
        self.slots["num"] = self.mention(c)
        fn = {"sum": "SUM", "average": "AVERAGE", "min": "MIN", "max": "MAX", "count": "COUNT"}[family]
        return f"={fn}({self.rng_of(c)})"

    def f_counta(self) -> str:
        (c,) = self.cols(TEXT)
        self.slots["text"] = self.mention(c)
        return f"=COUNTA({self.rng_of(c)})"

    def f_countif_eq(self) -> str:
        (c,) = self.cols(CATEGORY)
        self.slots["cat"] = self.mention(c)
        return f'=COUNTIF({self.rng_of(c)},"{self.category_value(c)}")'

    def f_countif_num(self) -> str:
        (c,) = self.cols(NUMBER)
        self.slots["num"] = self.mention(c)
        sym, x = self.op(c)
        return f'=COUNTIF({self.rng_of(c)},"{sym}{x}")'

    def f_countif_date(self) -> str:
        (c,) = self.cols(DATE)
        self.slots["date"] = self.mention(c)
        sym = self.rng.choice(list(DATE_OPS))
        self.slots["dop"] = self.pick(DATE_OPS[sym])
        day = serial_to_iso(self.rng.choice(c.values))
        y, mo, d = (int(p) for p in day.split("-"))
        r = self.rng.random()
        if r < 0.2:  # a whole year: `before 2023` is before its first day, `after 2023` after its last
            self.slots["d"] = str(y)
            mo, d = (1, 1) if sym in (">=", "<") else (12, 31)
        else:
            self.slots["d"] = day if r < 0.6 else self.spoken_date(y, mo, d)
        return f'=COUNTIF({self.rng_of(c)},"{sym}"&DATE({y},{mo},{d}))'

    def f_countifs(self) -> str:
        (c,), (n,) = self.cols(CATEGORY), self.cols(NUMBER)
        self.slots["cat"], self.slots["num"] = self.mention(c), self.mention(n)
        v = self.category_value(c)
        sym, x = self.op(n)
        return f'=COUNTIFS({self.rng_of(c)},"{v}",{self.rng_of(n)},"{sym}{x}")'

    def f_sumif(self) -> str:
        (c,), (n,) = self.cols(CATEGORY), self.cols(NUMBER)
        self.slots["cat"], self.slots["num"] = self.mention(c), self.mention(n)
        v = self.category_value(c)
        return f'=SUMIF({self.rng_of(c)},"{v}",{self.rng_of(n)})'

    def f_sumif_num(self) -> str:
        n, n2 = self.cols(NUMBER, 2)
        self.slots["num"], self.slots["num2"] = self.mention(n), self.mention(n2)
        sym, x = self.op(n2)
        return f'=SUMIF({self.rng_of(n2)},"{sym}{x}",{self.rng_of(n)})'

    def f_sumifs(self) -> str:
        (c,), (n, n2) = self.cols(CATEGORY), self.cols(NUMBER, 2)
        self.slots.update(cat=self.mention(c), num=self.mention(n), num2=self.mention(n2))
        v = self.category_value(c)
        sym, x = self.op(n2)
        return f'=SUMIFS({self.rng_of(n)},{self.rng_of(c)},"{v}",{self.rng_of(n2)},"{sym}{x}")'

    def f_sumifs_cat(self) -> str:
        (c, c2), (n,) = self.cols(CATEGORY, 2), self.cols(NUMBER)
        self.slots.update(cat=self.mention(c), cat2=self.mention(c2), num=self.mention(n))
        v, v2 = self.category_value(c), self.category_value(c2, "val2")
        return f'=SUMIFS({self.rng_of(n)},{self.rng_of(c)},"{v}",{self.rng_of(c2)},"{v2}")'

    def f_averageif(self) -> str:
        (c,), (n,) = self.cols(CATEGORY), self.cols(NUMBER)
        self.slots["cat"], self.slots["num"] = self.mention(c), self.mention(n)
        v = self.category_value(c)
        return f'=AVERAGEIF({self.rng_of(c)},"{v}",{self.rng_of(n)})'

    def f_averageifs(self) -> str:
        (c,), (n, n2) = self.cols(CATEGORY), self.cols(NUMBER, 2)
        self.slots.update(cat=self.mention(c), num=self.mention(n), num2=self.mention(n2))
        v = self.category_value(c)
        sym, x = self.op(n2)
        return f'=AVERAGEIFS({self.rng_of(n)},{self.rng_of(c)},"{v}",{self.rng_of(n2)},"{sym}{x}")'

    def _if(self, joiner: str) -> str:
        n, n2 = self.cols(NUMBER, 2)
        self.slots.update(num=self.mention(n), num2=self.mention(n2))
        r = self.row()
        s1, x1 = self.op(n)
        s2, x2 = self.op(n2, "op2", "x2")
        yes, no = self.labels(YES_NO)
        self.slots.update(yes=yes, no=no)
        return f'=IF({joiner}({n.letter}{r}{s1}{x1},{n2.letter}{r}{s2}{x2}),"{yes}","{no}")'

    def f_if_and(self) -> str:
        return self._if("AND")

    def f_if_or(self) -> str:
        return self._if("OR")

    def f_round(self) -> str:
        (n,) = self.cols(NUMBER)
        self.slots["num"] = self.mention(n)
        fn = self.rng.choice(["AVERAGE", "SUM"])
        self.slots["agg"] = self.rng.choice(["average", "mean"] if fn == "AVERAGE" else ["total", "sum of"])
        digits = self.rng.randint(0, 2)
        self.slots["n"] = str(digits)
        return f"=ROUND({fn}({self.rng_of(n)}),{digits})"

    def f_abs(self) -> str:
        n, n2 = self.cols(NUMBER, 2)
        self.slots.update(num=self.mention(n), num2=self.mention(n2))
        r = self.row()
        return f"=ABS({n.letter}{r}-{n2.letter}{r})"

    def _lookup_parts(self, need_left: bool | None = None):
        (key,) = self.cols(TEXT)
        targets = [c for c in self.t.columns if c.kind in (NUMBER, CATEGORY) or (c.kind == TEXT and c is not key)]
        if need_left is True:
            targets = [c for c in targets if c.letter > key.letter or len(c.letter) > len(key.letter)]
        if not targets:
            raise _Skip
        tgt = self.rng.choice(targets)
        name = self.rng.choice([v for v in key.values if v is not None])
        self.slots.update(key=name, tgt=self.mention(tgt), text=self.mention(key))
        return key, tgt, name

    def _vlookup(self, key, tgt, name) -> str:
        idx = self.t.columns.index(tgt) - self.t.columns.index(key) + 1
        return f'VLOOKUP("{name}",{key.letter}{self.t.first_row}:{tgt.letter}{self.t.last_row},{idx},FALSE)'

    def _index_match(self, key, tgt, name) -> str:
        return f'INDEX({self.rng_of(tgt)},MATCH("{name}",{self.rng_of(key)},0))'

    def f_lookup(self) -> str:
        key, tgt, name = self._lookup_parts()
        after = self.t.columns.index(tgt) > self.t.columns.index(key)
        return "=" + (self._vlookup(key, tgt, name) if after else self._index_match(key, tgt, name))

    def f_vlookup(self) -> str:
        return "=" + self._vlookup(*self._lookup_parts(need_left=True))

    def f_index_match(self) -> str:
        return "=" + self._index_match(*self._lookup_parts())

    def f_iferror_lookup(self) -> str:
        key, tgt, name = self._lookup_parts()
        if self.rng.random() < 0.5:  # ask for someone who is not in the table
            from .topics import FIRST, LAST

            if _is_code(key):  # the next number after the last record
                prefix, number = key.values[-1].rsplit("-", 1)
                missing = f"{prefix}-{int(number) + self.rng.randint(1, 50):0{len(number)}d}x"
            else:
                missing = f"{self.rng.choice(FIRST)} {self.rng.choice(LAST)}x"
            name = missing[:-1] if missing[:-1] not in key.values else missing
            if name in key.values:
                raise _Skip
            self.slots["key"] = name
        nf = self.rng.choice(NOT_FOUND)
        self.slots["nf"] = nf
        after = self.t.columns.index(tgt) > self.t.columns.index(key)
        inner = self._vlookup(key, tgt, name) if after else self._index_match(key, tgt, name)
        return f'=IFERROR({inner},"{nf}")'

    def f_iferror_div(self) -> str:
        n, n2 = self.cols(NUMBER, 2)
        self.slots.update(num=self.mention(n), num2=self.mention(n2))
        r = self.row()
        return f"=IFERROR({n.letter}{r}/{n2.letter}{r},0)"

    def _text_cell(self, words: bool = False) -> str:
        c, r = self._text_row(words)
        return f"{c.letter}{r}"

    def f_len(self) -> str:
        return f"=LEN({self._text_cell()})"

    def f_upper(self) -> str:
        return f"=UPPER({self._text_cell(words=True)})"

    def f_lower(self) -> str:
        return f"=LOWER({self._text_cell(words=True)})"

    def f_left(self) -> str:
        k = self.rng.randint(1, 5)
        self.slots["n"] = str(k)
        return f"=LEFT({self._text_cell()},{k})"

    def f_right(self) -> str:
        k = self.rng.randint(1, 5)
        self.slots["n"] = str(k)
        return f"=RIGHT({self._text_cell()},{k})"

    def f_mid(self) -> str:
        k, p = self.rng.randint(1, 4), self.rng.randint(2, 5)
        self.slots.update(n=str(k), p=str(p))
        return f"=MID({self._text_cell()},{p},{k})"

    def f_trim(self) -> str:
        return f"=TRIM({self._text_cell(words=True)})"

    def _join_parts(self):
        (c,) = self.cols(CATEGORY)
        cell = self._text_cell()
        r = int(self.slots["row"])
        self.slots["cat"] = self.mention(c)
        sep = self.rng.choice(SEPS)
        self.slots["sep"] = sep
        return cell, f"{c.letter}{r}", sep

    def f_concat(self) -> str:
        a, b, sep = self._join_parts()
        return f'=CONCAT({a},"{sep}",{b})'

    def f_amp(self) -> str:
        a, b, sep = self._join_parts()
        return f'={a}&"{sep}"&{b}'

    def f_pct_rows(self) -> str:
        (n,) = self.cols(NUMBER)
        self.slots["num"] = self.mention(n)
        r, r2 = self.row(), self.row("row2")
        if r == r2 or not self.t.cell(n.letter, r):
            raise _Skip
        return f"=({n.letter}{r2}-{n.letter}{r})/{n.letter}{r}"

    def f_pct_cols(self) -> str:
        n, n2 = self.cols(NUMBER, 2)
        self.slots.update(num=self.mention(n), num2=self.mention(n2))
        r = self.row()
        if not self.t.cell(n.letter, r):
            raise _Skip
        return f"=({n2.letter}{r}-{n.letter}{r})/{n.letter}{r}"

    def f_sumproduct(self) -> str:
        n, n2 = self.cols(NUMBER, 2)
        self.slots.update(num=self.mention(n), num2=self.mention(n2))
        return f"=SUMPRODUCT({self.rng_of(n)},{self.rng_of(n2)})"

    def _kth(self, fn: str) -> str:
        (n,) = self.cols(NUMBER)
        self.slots["num"] = self.mention(n)
        k = self.rng.randint(2, min(5, self.t.n_rows))
        self.slots.update(kth=self.rng.choice(ORD[k]), k=str(k))
        return f"={fn}({self.rng_of(n)},{k})"

    def f_large(self) -> str:
        return self._kth("LARGE")

    def f_small(self) -> str:
        return self._kth("SMALL")

    # --- everyday functions: MAXIFS/MINIFS, XLOOKUP, RANK.EQ, MEDIAN, PROPER, FIND/SEARCH, SUBSTITUTE, dates by
    # month and year, IF over a text cell, COUNTBLANK, TEXT ---------------------------------------------------------
    def _extreme_if(self, fn: str) -> str:
        (c,), (n,) = self.cols(CATEGORY), self.cols(NUMBER)
        self.slots["cat"], self.slots["num"] = self.mention(c), self.mention(n)
        v = self.category_value(c)
        return f'={fn}({self.rng_of(n)},{self.rng_of(c)},"{v}")'

    def f_maxifs(self) -> str:
        return self._extreme_if("MAXIFS")

    def f_minifs(self) -> str:
        return self._extreme_if("MINIFS")

    def _extreme_if_num(self, fn: str) -> str:
        n, n2 = self.cols(NUMBER, 2)
        self.slots["num"], self.slots["num2"] = self.mention(n), self.mention(n2)
        sym, x = self.op(n2)
        return f'={fn}({self.rng_of(n)},{self.rng_of(n2)},"{sym}{x}")'

    def f_maxifs_num(self) -> str:
        return self._extreme_if_num("MAXIFS")

    def f_minifs_num(self) -> str:
        return self._extreme_if_num("MINIFS")

    def f_xlookup(self) -> str:
        key, tgt, name = self._lookup_parts()  # the value column may sit left or right of the key column
        return f'=XLOOKUP("{name}",{self.rng_of(key)},{self.rng_of(tgt)})'

    def _rank(self, ascending: bool) -> str:
        (n,) = self.cols(NUMBER)
        self.slots["num"] = self.mention(n)
        r = self.row()
        return f"=RANK.EQ({n.letter}{r},{self.rng_of(n)}{',1' if ascending else ''})"

    def f_rank(self) -> str:
        return self._rank(ascending=False)

    def f_rank_asc(self) -> str:
        return self._rank(ascending=True)

    def f_median(self) -> str:
        (n,) = self.cols(NUMBER)
        self.slots["num"] = self.mention(n)
        return f"=MEDIAN({self.rng_of(n)})"

    def _text_row(self, words: bool = False) -> tuple[object, int]:
        """A text column and a row; `words`: a column of names or words, not record keys (PROPER of `KX-0401`)."""
        pool = [c for c in self.t.columns if c.kind == TEXT and not (words and _is_code(c))]
        if not pool:
            raise _Skip
        c = self.rng.choice(pool)
        self.slots["text"] = self.mention(c)
        return c, self.row()

    def f_proper(self) -> str:
        """Names typed carelessly (`ann lee`, `BEN KIM`): this table's key column gets mixed case, the asked row
        never already in proper case."""
        c, r = self._text_row(words=True)
        styles = [str.lower, str.lower, str.upper, str]
        c.values = [self.rng.choice(styles[:3] if i == r - self.t.first_row else styles)(v)
                    for i, v in enumerate(c.values)]
        return f"=PROPER({c.letter}{r})"

    def _piece_of_cell(self, lower: bool) -> tuple[str, str]:
        """A text cell of a named row and a piece of its value to look for: a word or a letter ("a" and "i" alone
        are not copyable values, see constrained.CopyTargets)."""
        c, r = self._text_row(words=True)
        value = self.t.cell(c.letter, r)
        words = [w for w in re.findall(r"[A-Za-z]+", value) if len(w) >= 2]
        letters = [ch for ch in value if ch.isalpha() and ch.lower() not in "ai"]
        if words and (self.rng.random() < 0.6 or not letters):
            piece = self.rng.choice(words)
        elif letters:
            piece = self.rng.choice(letters)
        else:
            raise _Skip
        if lower and self.rng.random() < 0.5:
            piece = piece.lower()
        self.slots["sub"] = piece
        return f"{c.letter}{r}", piece

    def f_find(self) -> str:
        cell, piece = self._piece_of_cell(lower=False)  # FIND is case-sensitive: the request quotes the exact case
        return f'=FIND("{piece}",{cell})'

    def f_search(self) -> str:
        cell, piece = self._piece_of_cell(lower=True)
        return f'=SEARCH("{piece}",{cell})'

    def f_substitute(self) -> str:
        c, r = self._text_row(words=True)
        old = self.rng.choice([w for w in re.findall(r"[A-Za-z]+", self.t.cell(c.letter, r)) if len(w) >= 2]
                             or [None])
        if old is None:
            raise _Skip
        if old in _SPELLED_OUT:
            new = _SPELLED_OUT[old]
        else:
            pool = next((p for p in (FIRST, LAST, ADJ, NOUN, _STREET_NAMES) if old in p), None)
            new = self.rng.choice([w for w in pool if w != old]) if pool else made_up_word(self.rng)
        self.slots.update(old=old, new=new)
        return f'=SUBSTITUTE({c.letter}{r},"{old}","{new}")'

    def _month_window(self, whole_year: bool) -> tuple[object, str, str]:
        """A date column and the DATE bounds of the month (or year) one of its rows falls in."""
        (d,) = self.cols(DATE)
        self.slots["date"] = self.mention(d)
        y, m, _ = (int(p) for p in serial_to_iso(self.rng.choice(d.values)).split("-"))
        self.slots["year"] = str(y)
        if whole_year:
            return d, f"DATE({y},1,1)", f"DATE({y + 1},1,1)"
        name = MONTHS[m - 1]
        self.slots["month"] = name if self.rng.random() < 0.75 else name[:3]
        end = f"DATE({y + 1},1,1)" if m == 12 else f"DATE({y},{m + 1},1)"
        return d, f"DATE({y},{m},1)", end

    def _date_criteria(self, d, start: str, end: str) -> str:
        return f'{self.rng_of(d)},">="&{start},{self.rng_of(d)},"<"&{end}'

    def f_countifs_month(self) -> str:
        d, start, end = self._month_window(whole_year=False)
        return f"=COUNTIFS({self._date_criteria(d, start, end)})"

    def f_sumifs_month(self) -> str:
        (n,) = self.cols(NUMBER)
        d, start, end = self._month_window(whole_year=False)
        self.slots["num"] = self.mention(n)
        return f"=SUMIFS({self.rng_of(n)},{self._date_criteria(d, start, end)})"

    def f_countifs_year(self) -> str:
        d, start, end = self._month_window(whole_year=True)
        return f"=COUNTIFS({self._date_criteria(d, start, end)})"

    def f_sumproduct_year(self) -> str:
        (n,) = self.cols(NUMBER)
        d, _, _ = self._month_window(whole_year=True)
        self.slots["num"] = self.mention(n)
        return f"=SUMPRODUCT((YEAR({self.rng_of(d)})={self.slots['year']})*{self.rng_of(n)})"

    def f_if_text(self) -> str:
        (c,) = self.cols(CATEGORY)
        self.slots["cat"] = self.mention(c)
        r = self.row()
        value = self.t.cell(c.letter, r) if self.rng.random() < 0.5 else self.rng.choice(c.values)  # both outcomes
        if self.rng.random() < 0.15:
            value = value.lower()  # Excel's = ignores case
        yes, no = self.labels(IF_LABELS)
        self.slots.update(val=value, yes=yes, no=no)
        return f'=IF({c.letter}{r}="{value}","{yes}","{no}")'

    def f_if_num(self) -> str:
        (n,) = self.cols(NUMBER)
        self.slots["num"] = self.mention(n)
        r = self.row()
        sym, x = self.op(n)
        yes, no = self.labels(YES_NO)
        self.slots.update(yes=yes, no=no)
        return f'=IF({n.letter}{r}{sym}{x},"{yes}","{no}")'

    def f_countblank(self) -> str:
        """Blank cells exist only in this family's own table (a number or category column with a few empty rows),
        so no other family ever meets one."""
        c = self.rng.choice([c for c in self.t.columns if c.kind in (NUMBER, CATEGORY)])
        self.slots["col"] = self.mention(c)
        blank = self.rng.sample(range(len(c.values)), self.rng.randint(1, max(1, len(c.values) // 4)))
        c.values = [None if i in blank else v for i, v in enumerate(c.values)]
        return f"=COUNTBLANK({self.rng_of(c)})"

    def f_text_fmt(self) -> str:
        (n,) = self.cols(NUMBER)
        self.slots["num"] = self.mention(n)
        r = self.row()
        value = self.t.cell(n.letter, r)
        shown = next((d for d in range(3) if round(value, d) == value), None)  # decimals the value shows
        if shown is None:
            raise _Skip
        # thousands separators only where there is a thousand (the engine writes TEXT(0,"#,##0") as "0,")
        fmt = self.rng.choice([f for f, d in TEXT_FORMATS.items() if d >= shown and (value >= 1000 or "," not in f)])
        self.slots["fmt"] = fmt
        return f'=TEXT({n.letter}{r},"{fmt}")'


# Street abbreviations a SUBSTITUTE request spells out (`12 Oak St` -> `12 Oak Street`).
_SPELLED_OUT = {"St": "Street", "Ave": "Avenue", "Rd": "Road", "Dr": "Drive", "Ln": "Lane", "Ct": "Court",
                "Way": "Walk"}
_STREET_NAMES = [s.split()[0] for s in STREET]  # Oak, Elm, ...: replaced by another street name


_ROW_SLOT = re.compile(r"\b(?:(?:in|on|at|for) )?row \{row\}")


def _row_by_key(template: str, b: _Builder) -> str:
    """`row {row}` -> the row's record key (`for T-105`, `Ann Lee's`): people name the record, not the row number.
    Only for a template naming one row once, on a table with a text column whose value there is unique."""
    if "{row2}" in template or len(_ROW_SLOT.findall(template)) != 1 or "row" not in b.slots:
        return template
    r = int(b.slots["row"])
    keys = sorted((c for c in b.t.columns if c.kind == TEXT), key=lambda c: not _is_code(c))
    for col in keys:
        value = b.t.cell(col.letter, r)
        # a number in the key (`73 Bay Ct`) would read as a number the formula must use
        if isinstance(value, str) and col.values.count(value) == 1 and (_CODE.match(value) or
                                                                         not any(ch.isdigit() for ch in value)):
            b.slots["rowkey"] = value
            return _ROW_SLOT.sub(lambda m: "for {rowkey}" if m.group(0) != "row {row}" else "{rowkey}", template)
    return template


def _row_by_cell(template: str, b: _Builder, formula: str) -> str:
    """`{text} in row {row}` -> `{text} in A5`: the one cell a formula uses, named by its address."""
    cells = {f"{letter}{row}" for letter, row in single_cells(formula)}
    if len(cells) != 1 or "{row2}" in template or len(_ROW_SLOT.findall(template)) != 1:
        return template
    b.slots["cell"] = cells.pop()
    return _ROW_SLOT.sub(lambda m: "in {cell}" if m.group(0) != "row {row}" else "{cell}", template)


def make_example(rng: random.Random, split: str, index: int, families: list[str] | None = None,
                 max_tries: int = 50, invented_fraction: float = 0.0, noise: float = 0.0,
                 breadth: float = 0.0) -> Example:
    """Draw one example for `split` (test: held-out topics, headers and phrasings).

    `noise` (training data): the share of requests given word-level noise (`_with_noise`). `breadth` (training
    data): the share of requests whose template is widened by the request grammar and WordNet (`breadth.py`).
    """
    held_out = split == "test"
    families = families or sorted(T)
    for _ in range(max_tries):
        family = rng.choice(families)
        table = random_table(rng, split, invented_fraction=invented_fraction)
        b = _Builder(rng, table, held_out)
        try:
            formula = b.build(family)
        except _Skip:
            continue
        train_t, test_t = T[family]
        template = rng.choice(test_t if held_out else train_t)
        if breadth and rng.random() < breadth:
            template = widen_template(family, template, rng)
        if rng.random() < 0.12:
            template = _with_typo(template, rng)
        if noise and rng.random() < noise:
            template = _with_noise(template, rng)
        r = rng.random()
        if r < KEY_ROW_REFERENCE:
            template = _row_by_key(template, b)
        elif r < KEY_ROW_REFERENCE + CELL_REFERENCE:
            template = _row_by_cell(template, b, formula)
        text = template.format(**b.slots)
        text = b.pick(PREFIX) + text + b.pick(SUFFIX)
        if rng.random() < 0.3:
            text = text[0].upper() + text[1:]
        result = execute(formula, table)
        if not result.ok:
            continue  # e.g. AVERAGEIF with no matching row: a user would not ask for that
        function, difficulty = FAMILY[family]
        return Example(f"{split}-{index}", split, table, text, formula, result.value, function, difficulty, family,
                       show_samples=rng.random() >= 0.2)
    raise RuntimeError(f"could not draw an example for families {families}")


def generate(split: str, n: int, seed: int = 0, families: list[str] | None = None,
             invented_fraction: float = 0.0, noise: float = 0.0, breadth: float = 0.0) -> Iterator[Example]:
    """`n` examples of `split`; the same (split, n, seed, invented_fraction, noise, breadth) always gives the same
    examples.

    `invented_fraction` of the train/validation tables come from invented topics (synthetic/topics.py explains why);
    `noise` of the requests get word-level noise (`_with_noise`) and `breadth` of them a widened template
    (`breadth.widen_template`): both meant for training data only.
    """
    if not 0.0 <= invented_fraction <= 1.0:
        raise ValueError(f"invented_fraction must be in [0, 1], got {invented_fraction}")
    if not 0.0 <= noise <= 1.0:
        raise ValueError(f"noise must be in [0, 1], got {noise}")
    if not 0.0 <= breadth <= 1.0:
        raise ValueError(f"breadth must be in [0, 1], got {breadth}")
    if breadth and split == "test":
        raise ValueError("breadth widens training wording: the held-out test split keeps its own")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    rng = random.Random(f"tinyslm-excel/{seed}/{split}")
    for i in range(n):
        yield make_example(rng, split, i, families, invented_fraction=invented_fraction, noise=noise, breadth=breadth)


def generate_dataset(out_dir: str | os.PathLike, n_train: int, n_validation: int, n_test: int, seed: int = 0,
                     invented_fraction: float = INVENTED_FRACTION, noise: float = REQUEST_NOISE,
                     breadth: float = BREADTH) -> dict:
    """Write train/validation/test jsonl files into `out_dir`; returns the counts.

    Invented topics, request noise and widened wording go into the train split only: validation measures the
    training phrasings, test the held-out ones.
    """
    counts = {}
    for split, n in (("train", n_train), ("validation", n_validation), ("test", n_test)):
        train = split == "train"
        examples = generate(split, n, seed, invented_fraction=invented_fraction if train else 0.0,
                            noise=noise if train else 0.0, breadth=breadth if train else 0.0)
        counts[split] = write_jsonl(examples, Path(out_dir) / f"{split}.jsonl")
    return counts
