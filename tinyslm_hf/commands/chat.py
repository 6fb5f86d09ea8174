"""`tinyslm chat --model DIR`: an interactive conversation; history goes through the tokenizer's chat template."""

from __future__ import annotations

import argparse
import sys

from .generate import add_model_arguments, add_sampling_arguments, load_generator, sampling_from_args

HELP = "Chat with a model folder interactively (/reset clears the history, /exit or Ctrl-D quits)."


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
        if text.strip() in ("/exit", "/quit"):
            break
        if text.strip() == "/reset":
            history = list(start)
            print("[history cleared]", file=sys.stderr)
            continue
        if not text.strip():
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
        sys.stdout.write("assistant> ")
        for delta in stream:
            sys.stdout.write(delta)
            sys.stdout.flush()
        sys.stdout.write("\n")
        sys.stdout.flush()
        history.append({"role": "assistant", "content": stream.result.text})
    return 0
