"""Chat messages for the task: the user turn carries the table schema and the request, the assistant turn the formula.

Kept short on purpose (a small model on a CPU pays for every prompt token): one line per column with its letter,
header, type and a couple of sample values, then the data row range, then the request, then the schema links
(linking.py: which request words name which column) that tell the model where to look.
"""

from __future__ import annotations

from typing import Any, Callable

from .linking import link_columns, links_text
from .table import DATE, NUMBER, Table, serial_to_iso

SYSTEM = None  # no system turn: it would cost tokens in every example and carries no information

# Context tokens a prompt leaves for the answer: the references of the independent sets take 16 tokens at the median
# and under 41 in 99 cases of 100, and a beam may ramble before it closes.
ANSWER_ROOM = 64


def prompt_limit(context: int) -> int:
    """The most tokens a prompt may take in a model of `context` tokens: what leaves ANSWER_ROOM (a quarter of a
    smaller context) for the answer. Training and decoding both fit prompts to it."""
    return context - min(ANSWER_ROOM, context // 4)


def _fmt(value: Any, kind: str) -> str:
    if kind == DATE and isinstance(value, (int, float)):
        return serial_to_iso(int(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def schema_text(table: Table, samples: bool = True, n_samples: int = 2, sampled: set[str] | None = None) -> str:
    """`A = Region (category: West, East)` lines, or bare `A = Region` when `samples` is False or the column's
    letter is not in `sampled` (None: every column)."""
    lines = []
    for col in table.columns:
        line = f"{col.letter} = {col.header}"
        present = [v for v in col.values if v is not None and v != ""]
        if samples and present and (sampled is None or col.letter in sampled):
            shown: list[str] = []
            for v in present:
                text = _fmt(v, col.kind)
                if text not in shown:
                    shown.append(text)
                if len(shown) >= (1 if col.kind in (NUMBER, DATE) else n_samples):
                    break
            line += f" ({col.kind}: {', '.join(shown)})"
        lines.append(line)
    return "Columns:\n" + "\n".join(lines) + f"\nData rows: {table.first_row}-{table.last_row}"


def user_message(table: Table, request: str, samples: bool = True, sampled: set[str] | None = None) -> str:
    request = request.strip()
    return f"{schema_text(table, samples, sampled=sampled)}\nRequest: {request}\n{links_text(table, request)}"


def build_messages(table: Table, request: str, formula: str | None = None, samples: bool = True,
                   sampled: set[str] | None = None) -> list[dict]:
    """Messages for `tokenizer.apply_chat_template`; with `formula` the assistant answer is included (training).
    `sampled`: the columns whose sample values are shown (None: all)."""
    messages = [{"role": "user", "content": user_message(table, request, samples, sampled)}]
    if formula is not None:
        messages.append({"role": "assistant", "content": formula})
    return messages


def fitted_messages(table: Table, request: str, samples: bool, count_tokens: Callable[[list[dict]], int],
                    limit: int) -> list[dict]:
    """Messages whose prompt takes at most `limit` tokens (`count_tokens(messages)`) for a table too wide to show
    whole: first the columns the request does not name lose their sample values, then every column does. The
    request, the headers and the `Links:` line are never cut: they are what the answer is read from, and the
    samples of a named column are the values it may quote.

    Raises ValueError when even the bare headers do not fit."""
    tries: list[set[str] | None] = [None]
    if samples:
        tries += [{link.letter for link in link_columns(table, request)}, set()]
    for sampled in tries:
        messages = build_messages(table, request, samples=samples, sampled=sampled)
        length = count_tokens(messages)
        if length <= limit:
            return messages
    raise ValueError(f"a prompt of {length} tokens (the table's {len(table.columns)} headers without sample values "
                     f"and the request) exceeds the {limit} a prompt may take")


def example_messages(example, with_answer: bool = True) -> list[dict]:
    return build_messages(example.table, example.request, example.formula if with_answer else None,
                          samples=example.show_samples)


def prompt_text(tokenizer, messages: list[dict]) -> str:
    """The chat prompt the model reads, up to where its answer starts."""
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def fitted_prompt_messages(tokenizer, table: Table, request: str, samples: bool, context: int) -> list[dict]:
    """`fitted_messages` counted in `tokenizer`'s tokens for a model of `context` tokens (`prompt_limit`); a
    prompt over the limit even bare stays bare, for the caller to decode with less room or to refuse. Training
    and decoding both show a table this way, so the model reads a wide table as it learned it."""

    def count(messages: list[dict]) -> int:
        return len(tokenizer(prompt_text(tokenizer, messages), add_special_tokens=False, verbose=False)["input_ids"])

    try:
        return fitted_messages(table, request, samples, count, prompt_limit(context))
    except ValueError:
        return build_messages(table, request, samples=False)


def clean_answer(text: str) -> str:
    """The model's answer as a formula: first line, trimmed, with a leading '=' ensured."""
    text = text.strip().splitlines()[0].strip() if text.strip() else ""
    if text and not text.startswith("="):
        text = "=" + text
    return text
