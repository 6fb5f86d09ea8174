"""`tinyslm finetune`: continue training a model folder on your text, or instruction-tune it on your chat rows."""

from __future__ import annotations

import argparse
import dataclasses
import json

HELP = ("Fine-tune a model folder: continued pretraining on text, or SFT on chat jsonl (messages, prompt/completion "
        "or Alpaca rows; loss on the assistant's turns); full or --lora.")

CHOICES = {"format": ("auto", "text", "messages", "prompt-completion", "alpaca"), "bf16": ("auto", "true", "false")}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..settings import FinetuneSettings
    from .settings_flags import add_settings_arguments

    parser.add_argument("data_files", nargs="*", metavar="data", help="training files (same as --data)")
    parser.add_argument("--config", help="YAML or JSON file of settings; flags given on the command line win")
    add_settings_arguments(parser, FinetuneSettings, CHOICES)


def settings_from_args(args: argparse.Namespace):
    from ..settings import FinetuneSettings
    from ..settings import read_settings_file
    from .settings_flags import settings_updates

    settings = FinetuneSettings(**read_settings_file(args.config, FinetuneSettings)) if args.config \
        else FinetuneSettings()
    updates = settings_updates(args, FinetuneSettings)
    if args.data_files:
        updates["data"] = list(args.data_files) + list(updates.get("data", []))
    return dataclasses.replace(settings, **updates)


def run(args: argparse.Namespace) -> int:
    from ..finetune import finetune

    result = finetune(settings_from_args(args))
    if "sample" in result:
        print("\n=== held-out evaluation: base model -> fine-tuned ===")
        for key in ("eval_loss", "heldout_bits_per_byte"):
            if f"{key}_before" in result:
                print(f"{key:24s} {result[f'{key}_before']:.4f} -> {result[key]:.4f}")
        for key in ("final_dir", "adapter_dir"):
            if key in result:
                print(f"{key:24s} {result[key]}")
        print("\n=== sample ===")
        print(result["sample"])
        print(json.dumps({k: v for k, v in result.items() if k != "sample"}))
    return 0
