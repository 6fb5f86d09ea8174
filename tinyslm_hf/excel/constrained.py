"""Constrained decoding: a `LogitsProcessor` that only lets the model write syntactically valid Excel formulas.

At each step the processor looks at the `top_k` most likely next tokens, decodes "answer so far + token" and keeps
only those whose text is still a prefix of some valid formula (a character-level scan: '=' first, balanced
parentheses, closed strings, known function names, cell/range references, operators in operator position). The end
of turn is allowed only once the text is a complete formula that the `formulas` parser accepts. Restricting the check
to the top-k keeps it cheap; when none of them fits, the whole vocabulary is scanned once for that step.

Given the request and the table (`sources`), it also makes every quoted string a *copy*: a piece of the request
that starts and ends on word boundaries, a whole cell value, or a comparison operator followed by one (`">=4200"`,
or `"<"` before `&DATE(...)`). A small model recalls a training value instead of copying an unseen one (`"Leeds"` ->
`"Liity"`), or closes the string after a letter or two (`"R"` for "Rossi"); a string literal is never something
the model should invent. References stay within the table's columns (or a cell the request types).
"""

from __future__ import annotations

import re
from typing import NamedTuple

import torch
from transformers import LogitsProcessor

from .executor import is_valid_syntax
from .linking import QUOTED_TEXT
from .table import col_index

FUNCTIONS = frozenset("""
ABS AND AVERAGE AVERAGEA AVERAGEIF AVERAGEIFS CEILING CHOOSE CONCAT CONCATENATE COUNT COUNTA COUNTBLANK COUNTIF
COUNTIFS DATE DAY EXACT FALSE FIND FLOOR HLOOKUP IF IFERROR IFNA IFS INDEX INT ISBLANK ISERROR ISNUMBER ISTEXT LARGE
LEFT LEN LOWER MATCH MAX MAXIFS MEDIAN MID MIN MINIFS MOD MONTH NOT OR POWER PRODUCT PROPER RANK REPLACE REPT RIGHT
ROUND ROUNDDOWN ROUNDUP SEARCH SMALL SQRT STDEV SUBSTITUTE SUM SUMIF SUMIFS SUMPRODUCT TEXT TEXTJOIN TODAY TRIM
TRUE UPPER VALUE VLOOKUP XLOOKUP YEAR RANK.EQ
""".split())

_REF_FULL = re.compile(r"^\$?[A-Z]{1,3}\$?[0-9]+$")
_REF_PREFIX = re.compile(r"^\$?[A-Z]{0,3}(\$?[0-9]*)?$")
_COL_FULL = re.compile(r"^\$?[A-Z]{1,3}$")
_BINARY = ("<>", "<=", ">=", "+", "-", "*", "/", "^", "&", "=", "<", ">")


def _ident_end(text: str, i: int) -> int:
    j = i
    while j < len(text) and (text[j].isalnum() or text[j] in "$_."):
        j += 1
    return j


def _in_table(part: str, width: int | None) -> bool:
    """Whether a reference's column letters (`$H`, `H2`, a prefix still being written) name one of the table's
    `width` columns; any column when the width is not known."""
    return width is None or col_index(part.lstrip("$").rstrip("$0123456789")) < width


def _ref_part_ok(part: str, at_end: bool, width: int | None = None) -> bool:
    part = part.upper()
    if not (_REF_FULL.match(part) or _COL_FULL.match(part) or at_end and _REF_PREFIX.match(part)):
        return False
    return _in_table(part, width)


class ScanState(NamedTuple):
    """Where the scan of a formula prefix stands before one lexeme: position, open calls ("f") and groups ("g")."""
    i: int = 1
    stack: tuple[str, ...] = ()
    expect_operand: bool = True
    last_was_open_func: bool = False


def check_formula_prefix(text: str, resume: ScanState | None = None, width: int | None = None) -> tuple[bool, bool]:
    """(is a valid prefix, is complete). Complete still needs `is_valid_syntax` for the final word.

    `resume` (from `scan_formula_prefix` of a shorter prefix of `text`) skips the part already scanned. `width`:
    how many columns, from A, a reference may name (`reference_width`); a reference past them (`H2:HAS15` on an
    8-column table, a beam gone astray that the formula engine would run over thousands of empty columns) is
    refused."""
    ok, complete, _ = scan_formula_prefix(text, resume, width)
    return ok, complete


def scan_formula_prefix(text: str, resume: ScanState | None = None,
                        width: int | None = None) -> tuple[bool, bool, ScanState | None]:
    """`check_formula_prefix`, plus the state before the last lexeme scanned.

    A lexer written as one state machine over the characters (string, number, reference, name, operator), kept in
    one function so the states and their transitions read together.

    Every lexeme before the last one ends, with its one character of lookahead, inside `text`, so appending text
    cannot change how they scan: a longer answer can resume from that state. The constraint checks the top-k
    tokens after the same answer at every step, and rescanning the whole answer for each was most of its time."""
    if text == "":
        return True, False, None
    if text[0] != "=":
        return False, False, None
    state = resume or ScanState()
    i, stack, expect_operand, last_was_open_func = state.i, list(state.stack), state.expect_operand, \
        state.last_was_open_func
    n = len(text)
    checkpoint = state
    while i < n:
        checkpoint = ScanState(i, tuple(stack), expect_operand, last_was_open_func)
        ch = text[i]
        if ch == " ":
            i += 1
            continue
        if ch == '"':
            if not expect_operand:
                return False, False, None
            j = i + 1
            while True:
                k = text.find('"', j)
                if k < 0:
                    return True, False, checkpoint  # string still open
                if k + 1 < n and text[k + 1] == '"':
                    j = k + 2
                    continue
                break
            i, expect_operand, last_was_open_func = k + 1, False, False
            continue
        if ch.isdigit() or ch == ".":
            if not expect_operand:
                return False, False, None
            m = re.match(r"[0-9]*\.?[0-9]*([eE][+-]?[0-9]*)?", text[i:])
            i += max(1, m.end())
            expect_operand, last_was_open_func = False, False
            continue
        if ch.isalpha() or ch == "$":
            if not expect_operand:
                return False, False, None
            j = _ident_end(text, i)
            word = text[i:j]
            if j < n and text[j] == "(":
                if word.upper() not in FUNCTIONS:
                    return False, False, None
                stack.append("f")
                i, expect_operand, last_was_open_func = j + 1, True, True
                continue
            if j == n:  # word still being written: a function name, a reference or TRUE/FALSE in the making
                up = word.upper()
                reference = _ref_part_ok(up, True, width)
                ok = reference or any(f.startswith(up) for f in FUNCTIONS)
                return ok, (reference and _REF_FULL.match(up) is not None) or up in ("TRUE", "FALSE"), checkpoint
            if text[j] == ":":
                k = _ident_end(text, j + 1)
                second = text[j + 1:k]
                if not _ref_part_ok(word, False, width):
                    return False, False, None
                if k == n:
                    ok = _ref_part_ok(second, True, width) if second else True
                    a, b = word.upper(), second.upper()
                    full = bool((_REF_FULL.match(a) and _REF_FULL.match(b)) or (_COL_FULL.match(a) and _COL_FULL.match(b)))
                    return ok, bool(ok and full and not stack), checkpoint
                if not second or not _ref_part_ok(second, False, width):
                    return False, False, None
                j = k
            elif not (_REF_FULL.match(word.upper()) and _in_table(word.upper(), width)
                      or word.upper() in ("TRUE", "FALSE")):
                return False, False, None
            i, expect_operand, last_was_open_func = j, False, False
            continue
        if ch == "(":
            if not expect_operand:
                return False, False, None
            stack.append("g")
            i, last_was_open_func = i + 1, False
            continue
        if ch == ")":
            if not stack or (expect_operand and not (last_was_open_func and stack[-1] == "f")):
                return False, False, None
            stack.pop()
            i, expect_operand, last_was_open_func = i + 1, False, False
            continue
        if ch == ",":
            if not stack or stack[-1] != "f" or expect_operand:
                return False, False, None
            i, expect_operand, last_was_open_func = i + 1, True, False
            continue
        if ch == "%":
            if expect_operand:
                return False, False, None
            i += 1
            continue
        op = next((o for o in _BINARY if text.startswith(o, i)), None)
        if op is None:
            return False, False, None
        if expect_operand and op not in ("+", "-"):
            return False, False, None
        i, expect_operand, last_was_open_func = i + len(op), True, False
    return True, (not stack and not expect_operand), checkpoint


_CRITERION_OPS = ("<>", "<=", ">=", "<", ">", "=")


def string_literals(text: str) -> tuple[list[str], str | None]:
    """Contents of the closed string literals of a formula prefix, and of the one still open (None if none is)."""
    closed: list[str] = []
    i = 0
    while True:
        start = text.find('"', i)
        if start < 0:
            return closed, None
        j, parts = start + 1, []
        while True:
            k = text.find('"', j)
            if k < 0:
                parts.append(text[j:])
                return closed, "".join(parts)
            parts.append(text[j:k])
            if k + 1 < len(text) and text[k + 1] == '"':  # "" inside a string is one quote
                parts.append('"')
                j = k + 2
                continue
            closed.append("".join(parts))
            i = k + 1
            break


def _without_operator(content: str) -> str:
    op = next((o for o in _CRITERION_OPS if content.startswith(o)), "")
    return content[len(op):]


def _inside_word(text: str, k: int) -> bool:
    """True if a cut before `text[k]` splits a run of letters or a run of digits ("Ros|si", "42|00"); a cut between
    a digit and a letter ("10|kg"), or next to punctuation or a space, is a word boundary."""
    if k <= 0 or k >= len(text):
        return False
    a, b = text[k - 1], text[k]
    return (a.isalpha() and b.isalpha()) or (a.isdigit() and b.isdigit())


class CopyTargets:
    """What the quoted strings of one answer may be (`sources[0]` is the request, `sources[1:]` the cell values),
    lower-cased once: a whole cell value, or a piece of the request that starts and ends on word boundaries
    (`"Rossi"` from "Rossi's team", `">4200"` from "over $4200", `" and "`, `"Pass"` from "Pass/Fail"), so a
    string cannot stop inside a word (`"R"` for "Rossi", `"lee"` for "Leeds"). "a" and "I" alone are not values."""

    def __init__(self, sources: list[str]):
        self.request = sources[0].lower()
        self.starts = [i for i in range(len(self.request)) if not _inside_word(self.request, i)]
        self.cells = {c.lower() for c in sources[1:]}
        self.cell_prefixes = {c[:i] for c in self.cells for i in range(len(c) + 1)}
        # every step re-reads the answer's closed literals, and the beams of one prompt try the same open ones: one
        # dict lookup instead of a scan of the request (a degenerate beam writing a dozen strings spent most of its
        # time here); the processor, and with it this cache, lives for one batch
        self._verdicts: dict[tuple[str, bool], bool] = {}

    def _in_request(self, value: str, complete: bool) -> bool:
        if complete and value.strip() in ("a", "i"):  # the article and the pronoun are no values
            return False
        for i in self.starts:
            if self.request.startswith(value, i) and not (complete and _inside_word(self.request, i + len(value))):
                return True
        return False

    def allows(self, content: str, complete: bool) -> bool:
        """True if a string literal's content (after an optional comparison operator, ignoring case as Excel's
        criteria do) is one of the targets, or a prefix of one while the string is open; or only punctuation and
        spaces (separators such as "-" or ", " may be named rather than quoted: "joined with a dash")."""
        verdict = self._verdicts.get((content, complete))
        if verdict is None:
            verdict = self._verdicts[(content, complete)] = self._allows(content, complete)
        return verdict

    def _allows(self, content: str, complete: bool) -> bool:
        value = _without_operator(content).lower()
        if not any(ch.isalnum() for ch in value):
            return True
        if value in (self.cells if complete else self.cell_prefixes):
            return True
        return self._in_request(value, complete)


def copies_only(text: str, sources: list[str] | CopyTargets | None) -> bool:
    if not sources:
        return True
    targets = sources if isinstance(sources, CopyTargets) else CopyTargets(sources)
    closed, open_content = string_literals(text)
    if not all(targets.allows(c, complete=True) for c in closed):
        return False
    return open_content is None or targets.allows(open_content, complete=False)


_TYPED_CELL = re.compile(r"(?<![A-Za-z0-9$])\$?([A-Za-z]{1,3})\$?[0-9]+\b")


def reference_width(table, request: str) -> int:
    """How many columns, from A, a formula for `request` on `table` may refer to: up to the table's last column (a
    table given as `--columns "A=Region,C=Sales"` may skip letters), or further to a cell the request types by
    address outside its quotes (`the rate in J1`) that is no part of a cell value (`AB16` in a postcode)."""
    cells = [str(value).lower() for column in table.columns for value in column.values if value is not None]
    typed = [m.group(1) for m in _TYPED_CELL.finditer(QUOTED_TEXT.sub(" ", request))
             if not any(m.group(0).lower() in cell for cell in cells)]
    return max(col_index(letter) for letter in [column.letter for column in table.columns] + typed) + 1


def is_complete_formula(text: str) -> bool:
    ok, complete = check_formula_prefix(text)
    return ok and complete and is_valid_syntax(text)


class FormulaLogitsProcessor(LogitsProcessor):
    """Masks every next token that would make the answer an invalid formula (see module docstring).

    Create one per `generate` call: the prompt length is read from the first call's `input_ids`.
    """

    def __init__(self, tokenizer, stop_ids: list[int], top_k: int = 20, sources: list[list[str]] | None = None,
                 keep: int | None = None, widths: list[int] | None = None):
        """`sources[row]`: that row's request followed by its table's text cell values (None: no copy constraint).
        `widths[row]`: how many columns, from A, that row's formula may refer to (`reference_width`; None: any).

        `keep`: how many allowed tokens per row the decoding can use (1 for greedy search; generate's
        `max(2, 1 + n_eos) * num_beams` for beam search, which picks no more per row); the check stops there, as
        it is the slow part. None checks all `top_k` (sampling)."""
        self.tokenizer = tokenizer
        # beam search repeats one prompt's sources for each of its beams: build each distinct list's targets once
        self.targets: list[CopyTargets] | None = None
        if sources:
            built: dict[int, CopyTargets] = {}
            for s in sources:
                if id(s) not in built:
                    built[id(s)] = CopyTargets(s)
            self.targets = [built[id(s)] for s in sources]
        self.stop_ids = set(stop_ids)
        self.top_k = top_k
        self.prompt_len: int | None = None
        self._special = set(tokenizer.all_special_ids)
        self._pieces: dict[int, str] = {}
        self.keep = keep
        self.widths = widths

    def _extend(self, text: str, generated: list[int], tok: int) -> str:
        """The answer's text after `tok`. A byte-level BPE decodes by concatenation, so the token's own text is
        appended (memoised: decoding the whole answer for each of top-k tokens x beams x steps dominated the time);
        a token or prefix holding part of a multi-byte character (U+FFFD) is decoded with the whole answer."""
        piece = self._pieces.get(tok)
        if piece is None:
            piece = self._pieces[tok] = self.tokenizer.decode([tok], skip_special_tokens=True)
        if "\ufffd" in piece or "\ufffd" in text:
            return self.tokenizer.decode(generated + [tok], skip_special_tokens=True)
        return text + piece

    def _allowed(self, generated: list[int], candidates: list[int], row: int = 0, limit: int | None = None,
                 screen: bool = False) -> list[int]:
        """The candidates (in their order) that keep the answer a valid formula prefix; at most `limit` of them.

        `screen`: first test the answer extended by the candidate's first character alone, once per character
        (memoised), and skip every candidate whose first character already fails; it pays when most candidates
        fail, as in a scan of the whole vocabulary inside a string that must copy one word. The grammar and the
        copy check accept every prefix of a text they accept, with two exceptions that are never screened: a quote
        (alone it closes a string that `""` would continue) and a letter outside ASCII (its lower case can depend
        on the next one: Greek final sigma)."""
        text = self.tokenizer.decode(generated, skip_special_tokens=True)
        width = self.widths[row] if self.widths else None
        resume = scan_formula_prefix(text, width=width)[2]  # every candidate extends `text`: scan its common part once
        targets = self.targets[row] if self.targets else None

        def fits(candidate: str) -> bool:
            ok, _ = check_formula_prefix(candidate, resume if candidate.startswith(text) else None, width)
            return ok and copies_only(candidate, targets)

        heads: dict[str, bool] = {}
        allowed = []
        complete: bool | None = None
        for tok in candidates:
            if tok in self.stop_ids:
                if complete is None:
                    complete = is_complete_formula(text)
                if complete:
                    allowed.append(tok)
                continue
            if tok in self._special:
                continue
            candidate = self._extend(text, generated, tok)
            if screen and candidate.startswith(text) and len(candidate) > len(text) + 1 and "\ufffd" not in candidate:
                head = candidate[len(text)]
                if head != '"' and head.isascii():
                    if head not in heads:
                        heads[head] = fits(text + head)
                    if not heads[head]:
                        continue
            if fits(candidate):
                allowed.append(tok)
                if limit is not None and len(allowed) >= limit:
                    break
        return allowed

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.prompt_len is None:
            self.prompt_len = input_ids.shape[1]
        masked = torch.full_like(scores, float("-inf"))
        k = min(self.top_k, scores.shape[-1])
        top = torch.topk(scores, k, dim=-1).indices.tolist()
        for row in range(input_ids.shape[0]):
            generated = input_ids[row, self.prompt_len:].tolist()
            if any(t in self.stop_ids for t in generated):
                masked[row] = scores[row]  # finished row: generate pads it anyway
                continue
            allowed = self._allowed(generated, top[row], row, limit=self.keep)
            if not allowed:  # rare: scan the whole vocabulary, best first
                order = torch.argsort(scores[row], descending=True).tolist()
                allowed = self._allowed(generated, order, row, limit=1, screen=True) or sorted(self.stop_ids)
            idx = torch.tensor(allowed, device=scores.device)
            masked[row, idx] = scores[row, idx]
        return masked
