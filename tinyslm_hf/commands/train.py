"""`tinyslm train`: the main job (tokenizer -> data -> Trainer -> evaluation -> model folder -> sample)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import typing

HELP = "Train a TinySLM (default: on the embedded Tiny Shakespeare corpus) with the HF Trainer."


def _flag_type(annotation):
    """`int | None` -> int, `float` -> float, ...: the argparse type comes from the settings field's annotation."""
    options = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
    return options[0] if options[0] in (bool, int, float) else str


CHOICES = {"preset": ("seed", "modern"), "bf16": ("auto", "true", "false")}


def field_docs(cls) -> dict[str, str]:
    """The docstring under each field of a settings dataclass (litgpt style), joined onto one line: the --help."""
    import ast
    import inspect
    import textwrap

    body = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0].body
    docs = {}
    for node, after in zip(body, body[1:]):
        if (isinstance(node, ast.AnnAssign) and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)):
            docs[node.target.id] = " ".join(after.value.value.split())
    return docs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..training import TrainSettings

    parser.add_argument("data", nargs="*", help="text files, folders, .jsonl files or saved datasets "
                        "(default: the embedded corpus)")
    parser.add_argument("--config", help="YAML or JSON file of settings; flags given on the command line win")
    hints = typing.get_type_hints(TrainSettings)
    docs = field_docs(TrainSettings)
    for f in dataclasses.fields(TrainSettings):
        if f.name == "data":
            continue
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else None
        kind = _flag_type(hints[f.name])
        help_text = f"{docs[f.name]} (default: {default})"
        if kind is bool:
            parser.add_argument(flag, action="store_true", default=None, help=help_text)
        else:
            parser.add_argument(flag, type=kind, default=None, choices=CHOICES.get(f.name), help=help_text)


def settings_from_args(args: argparse.Namespace):
    from ..training import TrainSettings

    settings = TrainSettings.from_file(args.config) if args.config else TrainSettings()
    updates = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainSettings)
               if f.name != "data" and getattr(args, f.name, None) is not None}
    if args.data:
        updates["data"] = list(args.data)
    if updates.get("max_minutes") == 0:  # 0: no time budget (a negative budget is refused by validate)
        updates["max_minutes"] = None
    return dataclasses.replace(settings, **updates)


def run(args: argparse.Namespace) -> int:
    from ..training import train

    settings = settings_from_args(args)
    result = train(settings)
    if "final_dir" in result:
        print("\n=== evaluation (held-out text) ===")
        for key in ("heldout_loss", "heldout_perplexity", "heldout_bits_per_byte", "eval_loss", "steps",
                    "train_seconds"):
            if key in result:
                value = result[key]
                print(f"{key:24s} {value:.4f}" if isinstance(value, float) else f"{key:24s} {value}")
        print(f"\nmodel folder: {result['final_dir']}")
        print("\n=== sample ===")
        print(result["sample"])
        print(json.dumps({k: v for k, v in result.items() if k != "sample"}))
    return 0
