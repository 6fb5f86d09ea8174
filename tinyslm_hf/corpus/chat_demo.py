"""The chat demo's instruction set, generated from the embedded corpus: `tinyslm finetune` with no data trains on it.

A model pretrained on Tiny Shakespeare knows the plays' speakers and lines but has never seen a chat turn. These
rows teach it the ChatML format with tasks it can learn from what it already knows: who speaks a line, a line in a
character's voice, how a line ends, what follows it. Every answer is text of the corpus (public domain) placed by a
fixed template, so the set is generated, not downloaded, and carries no other licence. Only the first 90% of the
corpus - the pretraining run's training split - is used, so the held-out tenth of `tinyslm train` stays unseen.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from . import embedded_corpus_path

DEMO_ROWS = 4000
SYSTEM_PROMPTS = ("", "", "You are a helpful assistant who speaks like Shakespeare.", "Answer briefly.")
SPEAKER_ASKS = ('Who says: "{line}"', 'Which character speaks this line? "{line}"', 'Who said "{line}"?')
VOICE_ASKS = ("Write a line for {name}.", "Say something as {name} would.", "Give me a line spoken by {name}.")
FINISH_ASKS = ('Finish this line: "{head} ..."', 'Complete the line: "{head}"', 'How does this line end? "{head}"')
NEXT_ASKS = ('What comes after "{line}"?', 'Give me the line that follows: "{line}"')
SMALL_TALK = (
    ("Hello!", "Good morrow to you. What would you have of me?"),
    ("Hi, who are you?", "A small player, taught on the lines of Shakespeare. Ask me of his speakers and his verse."),
    ("What can you do?", "I can name who speaks a line, finish a line, give the next one, or speak as a character."),
    ("Thank you.", "You are most welcome, good friend."),
    ("Goodbye.", "Farewell, and fare you well."),
)


@dataclass
class Speech:
    speaker: str
    lines: list[str]


def read_speeches(text: str) -> list[Speech]:
    """The corpus as speeches: a 'Name:' line, then the lines spoken, until a blank line."""
    speeches = []
    for block in text.split("\n\n"):
        rows = [r.strip() for r in block.strip().splitlines() if r.strip()]
        if len(rows) >= 2 and rows[0].endswith(":") and len(rows[0]) <= 30:
            speeches.append(Speech(rows[0][:-1], rows[1:]))
    return speeches


def _turns(rng: random.Random, user: str, answer: str) -> dict:
    system = rng.choice(SYSTEM_PROMPTS)
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": user}, {"role": "assistant", "content": answer}]
    return {"messages": messages}


def chat_rows(n: int = DEMO_ROWS, seed: int = 0, text: str | None = None) -> list[dict]:
    """`n` chat rows ({"messages": [...]}) from the training part of the corpus (or from `text`)."""
    if text is None:
        text = embedded_corpus_path().read_text(encoding="utf-8")
        text = text[: int(len(text) * 0.9)]  # the pretraining split's training part only
    speeches = [s for s in read_speeches(text) if all(8 <= len(line) <= 90 for line in s.lines[:2])]
    if not speeches:
        raise ValueError("no speeches ('Name:' then lines) found in the text")
    by_speaker: dict[str, list[Speech]] = {}
    for speech in speeches:
        by_speaker.setdefault(speech.speaker, []).append(speech)
    frequent = [name for name, said in by_speaker.items() if len(said) >= 20] or list(by_speaker)
    rng = random.Random(seed)
    rows = []
    while len(rows) < n:
        task = rng.random()
        speech = rng.choice(speeches)
        line = speech.lines[0]
        if task < 0.3 and speech.speaker in frequent:
            rows.append(_turns(rng, rng.choice(SPEAKER_ASKS).format(line=line), f"{speech.speaker} says it."))
        elif task < 0.55:
            name = rng.choice(frequent)
            rows.append(_turns(rng, rng.choice(VOICE_ASKS).format(name=name),
                               rng.choice(by_speaker[name]).lines[0]))
        elif task < 0.8:
            words = line.split()
            if len(words) < 4:
                continue
            cut = len(words) // 2
            rows.append(_turns(rng, rng.choice(FINISH_ASKS).format(head=" ".join(words[:cut])),
                               " ".join(words[cut:])))
        elif task < 0.97:
            if len(speech.lines) < 2:
                continue
            rows.append(_turns(rng, rng.choice(NEXT_ASKS).format(line=line), speech.lines[1]))
        else:
            user, answer = rng.choice(SMALL_TALK)
            rows.append(_turns(rng, user, answer))
    return rows


def write_chat_demo(path: str | Path, n: int = DEMO_ROWS, seed: int = 0) -> Path:
    """The demo set as a jsonl file (what `tinyslm finetune` trains on when given no data)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        for row in chat_rows(n, seed):
            handle.write(json.dumps(row) + "\n")
    return path


__all__ = ["DEMO_ROWS", "chat_rows", "read_speeches", "write_chat_demo"]
