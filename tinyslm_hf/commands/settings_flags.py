"""Command-line flags generated from a settings dataclass (litgpt style): one flag per field, its `--help` the
field's docstring, its type from the annotation, so the library and the CLI cannot drift apart."""

from __future__ import annotations

import argparse
import dataclasses
import typing


def field_docs(cls) -> dict[str, str]:
    """The docstring under each field of a settings dataclass, joined onto one line."""
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


def _flag_type(annotation):
    """`int | None` -> int, `float` -> float, `list[str]` -> (str, list): the argparse type of a field."""
    options = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
    kind = options[0]
    if typing.get_origin(kind) is list:
        return str, True
    return (kind if kind in (bool, int, float) else str), False


def add_settings_arguments(parser: argparse.ArgumentParser, cls, choices: dict | None = None,
                           skip: tuple[str, ...] = ()) -> None:
    """A flag per field of `cls` (`--field-name`), defaulting to None so that only what was typed overrides."""
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    choices = choices or {}
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = None
        kind, many = _flag_type(hints[f.name])
        help_text = docs[f.name]
        if default is not None and "default:" not in help_text:  # None: decided later, as the field's doc says
            help_text += f" (default: {default})"
        if kind is bool:
            # --x / --no-x where the default is on or decided later (None); a plain switch where it is off
            action = "store_true" if default is False else argparse.BooleanOptionalAction
            parser.add_argument(flag, action=action, default=None, help=help_text)
        else:
            parser.add_argument(flag, type=kind, default=None, nargs="+" if many else None,
                                choices=choices.get(f.name), help=help_text)


def settings_updates(args: argparse.Namespace, cls, skip: tuple[str, ...] = ()) -> dict:
    """The fields the command line set."""
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)
            if f.name not in skip and getattr(args, f.name, None) is not None}
