"""`tinyslm train`: the main job (tokenizer -> data -> Trainer -> evaluation -> model folder -> sample)."""

from __future__ import annotations

import argparse
import dataclasses
import json

HELP = "Train a TinySLM (default: on the embedded Tiny Shakespeare corpus) with the HF Trainer."


CHOICES = {"preset": ("seed", "modern"), "bf16": ("auto", "true", "false")}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..settings import LR_SCHEDULES, OPTIMIZERS, TrainSettings
    from .settings_flags import add_settings_arguments

    parser.add_argument("data", nargs="*", help="text files, folders, .jsonl files or saved datasets "
                        "(default: the embedded corpus)")
    parser.add_argument("--config", help="YAML or JSON file of settings; flags given on the command line win")
    add_settings_arguments(parser, TrainSettings, {**CHOICES, "lr_schedule": LR_SCHEDULES, "optimizer": OPTIMIZERS},
                           skip=("data",))


def settings_from_args(args: argparse.Namespace):
    from ..settings import TrainSettings
    from .settings_flags import settings_updates

    settings = TrainSettings.from_file(args.config) if args.config else TrainSettings()
    updates = settings_updates(args, TrainSettings, skip=("data",))
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
