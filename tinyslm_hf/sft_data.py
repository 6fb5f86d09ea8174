"""Instruction / chat data for supervised fine-tuning: the row formats people have -> chat messages -> token ids
whose labels cover the assistant's turns only.

Three row formats are read from jsonl, one row per line, and rendered with the model's own chat template:

- `{"messages": [{"role": ..., "content": ...}, ...]}`: OpenAI / ChatML conversations (system prompts kept);
- `{"prompt": ..., "completion": ...}`: a prompt string (or a list of messages) and the answer to it;
- `{"instruction": ..., "input": ..., "output": ...}`: Alpaca-style (`input` optional), optionally `"system"`.

The labels come from the template's `{% generation %}` block (`return_assistant_tokens_mask`), the same mask TRL's
`assistant_only_loss` uses, so the loss sees exactly the tokens the model will be asked to write. A conversation
longer than the context is left out and counted, never cut: cutting drops the end of the answer, or the question
the answer depends on.
"""

from __future__ import annotations

import json
import os
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

ROLES = ("system", "user", "assistant")
FORMATS = ("messages", "prompt-completion", "alpaca")


# A message's `name` as OpenAI's API allows it; anything else could break out of the ChatML header line.
MESSAGE_NAME_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


class BadRow(ValueError):
    """A row that cannot be trained on; the message names the file and line."""


@dataclass
class Conversation:
    """One training example as chat messages, with where it came from (for messages about it)."""

    messages: list[dict]
    source: str  # "FILE:LINE"


def row_format(row: dict) -> str | None:
    """Which of `FORMATS` a row is in, judged by its keys; None if none."""
    if "messages" in row:
        return "messages"
    if "prompt" in row and "completion" in row:
        return "prompt-completion"
    if "instruction" in row and "output" in row:
        return "alpaca"
    return None


def _text(row: dict, key: str, where: str, required: bool = True) -> str:
    value = row.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise BadRow(f"{where}: {key!r} must be a string, got {type(value).__name__}")
    return value


def _check_messages(messages, where: str) -> list[dict]:
    if not isinstance(messages, list) or not messages:
        raise BadRow(f"{where}: 'messages' must be a non-empty list of {{role, content}} objects")
    checked = []
    for number, message in enumerate(messages, 1):
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            raise BadRow(f"{where}: message {number} must be an object with 'role' and 'content'")
        role, content = message["role"], message["content"]
        if role not in ROLES:
            raise BadRow(f"{where}: message {number} has unknown role {role!r} (roles: {', '.join(ROLES)})")
        if not isinstance(content, str):
            raise BadRow(f"{where}: message {number} content must be a string, got {type(content).__name__}")
        if role == "assistant" and not content.strip():
            raise BadRow(f"{where}: message {number} is an empty assistant turn")
        name = message.get("name")
        if name is not None and not (isinstance(name, str) and re.match(MESSAGE_NAME_PATTERN, name)):
            raise BadRow(f"{where}: message {number} name must be 1-64 letters, digits, '_' or '-', got {name!r}")
        checked.append({"role": role, "content": content, **({"name": name} if name else {})})
    if not any(m["role"] == "assistant" for m in checked):
        raise BadRow(f"{where}: no assistant turn to learn from")
    return checked


def to_messages(row: dict, where: str, fmt: str | None = None) -> list[dict]:
    """The chat messages of one row in any of `FORMATS` (`fmt`, or judged from its keys)."""
    if not isinstance(row, dict):
        raise BadRow(f"{where}: each line must be a JSON object, got {type(row).__name__}")
    fmt = fmt or row_format(row)
    system = _text(row, "system", where, required=False)
    head = [{"role": "system", "content": system}] if system else []
    if fmt == "messages":
        return _check_messages(row.get("messages"), where)
    if fmt == "prompt-completion":
        prompt = row.get("prompt")
        completion = _text(row, "completion", where)
        turns = prompt if isinstance(prompt, list) else [{"role": "user", "content": _text(row, "prompt", where)}]
        return _check_messages(head + turns + [{"role": "assistant", "content": completion}], where)
    if fmt == "alpaca":
        instruction = _text(row, "instruction", where)
        extra = _text(row, "input", where, required=False)
        user = f"{instruction}\n\n{extra}" if extra.strip() else instruction
        return _check_messages(head + [{"role": "user", "content": user},
                                       {"role": "assistant", "content": _text(row, "output", where)}], where)
    raise BadRow(f"{where}: not a chat row: expected 'messages', 'prompt'+'completion' or 'instruction'+'output', "
                 f"got keys {sorted(row)}")


def read_conversations(paths: list[str | os.PathLike], fmt: str | None = None) -> list[Conversation]:
    """Every row of the jsonl files as a `Conversation`; the first bad row raises `BadRow` naming FILE:LINE."""
    conversations = []
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"data file not found: {path}")
        with open(path, encoding="utf-8") as handle:
            for lineno, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                where = f"{path}:{lineno}"
                try:
                    row = json.loads(line)
                except ValueError as exc:
                    raise BadRow(f"{where}: not valid JSON ({exc})") from exc
                conversations.append(Conversation(to_messages(row, where, fmt), where))
    if not conversations:
        raise ValueError(f"no rows in {[str(p) for p in paths]}")
    return conversations


def detect_format(path: str | os.PathLike) -> str:
    """'text' for plain text, or the chat format of a jsonl file's first row ('text' for {"text": ...} rows)."""
    path = Path(path)
    if path.is_dir() or path.suffix.lower() not in (".jsonl", ".json"):
        return "text"
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            if line.strip():
                try:
                    row = json.loads(line)
                except ValueError as exc:
                    raise BadRow(f"{path}:{lineno}: not valid JSON ({exc})") from exc
                return (row_format(row) or "text") if isinstance(row, dict) else "text"
    raise ValueError(f"{path} is empty")


def check_chat_template(tokenizer, where: str) -> None:
    """SFT needs a chat template with a `{% generation %}` block, or there is no assistant mask to train on."""
    template = getattr(tokenizer, "chat_template", None)
    if not template:
        raise ValueError(f"{where}: the tokenizer has no chat template, so chat rows cannot be rendered "
                         "(continued pretraining on plain text needs none)")
    if "{% generation %}" not in template and "{%- generation %}" not in template:
        raise ValueError(f"{where}: the tokenizer's chat template has no {{% generation %}} block marking the "
                         "assistant's text, so the answer-only loss cannot be computed")


class ConversationTooLong(ValueError):
    """A conversation does not fit the context; it is left out rather than cut."""


def encode_conversation(tokenizer, messages: list[dict], max_length: int, prompt_loss: bool = False) -> dict:
    """`input_ids` and `labels` (-100 outside the assistant's turns, unless `prompt_loss`) for one conversation."""
    enc = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    ids = list(enc["input_ids"])
    mask = list(enc["assistant_masks"])
    if not any(mask):
        raise ValueError("the chat template marked no assistant tokens (is its {% generation %} block missing?)")
    if len(ids) > max_length:
        raise ConversationTooLong(f"{len(ids)} tokens exceed the context of {max_length}")
    labels = list(ids) if prompt_loss else [t if m else -100 for t, m in zip(ids, mask)]
    return {"input_ids": ids, "labels": labels}


@dataclass
class EncodedSplit:
    rows: list[dict]
    skipped: list[str] = field(default_factory=list)  # sources of the conversations too long to fit

    @property
    def tokens(self) -> int:
        return sum(len(r["input_ids"]) for r in self.rows)

    @property
    def target_tokens(self) -> int:
        return sum(sum(1 for t in r["labels"] if t != -100) for r in self.rows)


def encode_conversations(tokenizer, conversations: list[Conversation], max_length: int,
                         prompt_loss: bool = False) -> EncodedSplit:
    split = EncodedSplit([])
    for conversation in conversations:
        try:
            split.rows.append(encode_conversation(tokenizer, conversation.messages, max_length, prompt_loss))
        except ConversationTooLong:
            split.skipped.append(conversation.source)
    return split


def split_conversations(conversations: list[Conversation], validation_fraction: float,
                        seed: int) -> tuple[list[Conversation], list[Conversation]]:
    """A seeded random hold-out of whole conversations (at least one on each side)."""
    if len(conversations) < 2:
        raise ValueError("need at least 2 rows to hold some out for evaluation (or pass --validation-data)")
    order = list(range(len(conversations)))
    random.Random(seed).shuffle(order)
    n_val = min(len(order) - 1, max(1, round(len(order) * validation_fraction)))
    held = set(order[:n_val])
    train = [c for i, c in enumerate(conversations) if i not in held]
    validation = [c for i, c in enumerate(conversations) if i in held]
    return train, validation


__all__ = [
    "FORMATS",
    "ROLES",
    "BadRow",
    "Conversation",
    "ConversationTooLong",
    "EncodedSplit",
    "check_chat_template",
    "detect_format",
    "encode_conversation",
    "encode_conversations",
    "read_conversations",
    "row_format",
    "split_conversations",
    "to_messages",
]
