"""`tinyslm chat --model DIR`: an interactive conversation; history goes through the tokenizer's chat template."""

from __future__ import annotations

import argparse
import sys

from .generate import add_model_arguments, add_sampling_arguments, load_generator, sampling_from_args

HELP = "Chat with a model folder interactively (/help lists the commands; Ctrl-C stops a reply, Ctrl-D quits)."
COMMANDS = {
    "/help": "list these commands",
    "/reset": "clear the history (the --system message stays)",
    "/exit": "quit (also /quit or Ctrl-D)",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("--system", default=None, help="system message to start the conversation with")
    add_sampling_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from ..generation import PromptTooLongError

    params = sampling_from_args(args)
    generator = load_generator(args)
    start = [{"role": "system", "content": args.system}] if args.system else []
    history = list(start)
    interactive = sys.stdin.isatty()
    if interactive:
        print("Chatting with", args.model, "- /reset clears the history, /exit quits.", file=sys.stderr)
    while True:
        if interactive:
            sys.stdout.write("you> ")
            sys.stdout.flush()
        line = sys.stdin.readline()
        if not line:
            break
        text = line.rstrip("\n")
        command = text.strip()
        if command in ("/exit", "/quit"):
            break
        if command == "/reset":
            history = list(start)
            print("[history cleared]", file=sys.stderr)
            continue
        if command.startswith("/") and " " not in command:  # a command, never a message to the model
            if command != "/help":
                print(f"[unknown command {command}]", file=sys.stderr)
            print("\n".join(f"  {name:8s} {what}" for name, what in COMMANDS.items())
                  + "\n  Ctrl-C   stop the reply being written", file=sys.stderr)
            continue
        if not command:
            continue
        history.append({"role": "user", "content": text})
        stream = None
        while stream is None:
            try:
                stream = generator.stream_ids(generator.encode_chat(history), params)
            except PromptTooLongError as exc:
                if len(history) - len(start) > 1:  # forget the oldest exchange and try again
                    del history[len(start):len(start) + 2]
                    print("[context full: dropped the oldest turn]", file=sys.stderr)
                    continue
                history.pop()
                print(f"[{exc}]", file=sys.stderr)
                break
        if stream is None:
            continue
        history.append({"role": "assistant", "content": _write_reply(stream)})
    return 0


def _write_reply(stream) -> str:
    """Print a reply as it is generated; Ctrl-C stops it (the part shown stays in the history) and the chat goes
    on."""
    shown = []
    sys.stdout.write("assistant> ")
    try:
        for delta in stream:
            shown.append(delta)
            sys.stdout.write(delta)
            sys.stdout.flush()
    except KeyboardInterrupt:
        stream.close()
        sys.stdout.write(" [stopped]")
    sys.stdout.write("\n")
    sys.stdout.flush()
    return stream.result.text if stream.result is not None else "".join(shown)
