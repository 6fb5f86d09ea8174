"""`tinyslm <verb>`: one thin verb per job, each a wrapper over library functions (litgpt style)."""

from __future__ import annotations

import argparse
import importlib
import sys

from .commands import COMMANDS


class CLIError(Exception):
    """A user-facing error: printed as one line, exit status 2, no traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tinyslm", description="Train, run and share TinySLM models.")
    sub = parser.add_subparsers(dest="command", metavar="<verb>")
    for name in COMMANDS:
        module = importlib.import_module(f"tinyslm_hf.commands.{name}")
        verb = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(verb)
        verb.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        from . import register_auto_classes

        register_auto_classes()  # deferred while parsing (see tinyslm_hf/__init__.py); every verb may load a model
        return int(args._run(args) or 0)
    except (CLIError, ValueError, FileNotFoundError, FileExistsError, OSError) as exc:
        print(f"tinyslm {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
