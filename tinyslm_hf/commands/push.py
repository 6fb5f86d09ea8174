"""`tinyslm push --model DIR --repo USER/NAME`: stage a complete Hub repo folder and upload it."""

from __future__ import annotations

import argparse
import tempfile

HELP = "Publish a model folder to the Hugging Face Hub (weights, remote code, tokenizer, card, Space app)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model folder")
    parser.add_argument("--repo", required=True, help="Hub repo id, USER/NAME")
    parser.add_argument("--private", action="store_true", help="create the repo as private")
    parser.add_argument("--stage-only", metavar="OUT", default=None,
                        help="only write the repo folder to OUT (no upload, no token needed)")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    parser.add_argument("--license", default=None,
                        help="license id for the model card (default: the folder card's, else apache-2.0)")
    parser.add_argument("--dataset", action="append", default=[], help="training dataset id for the card (repeatable)")
    parser.add_argument("--token", default=None, help="Hub token (default: $HF_TOKEN or `hf auth login`)")
    parser.add_argument("--no-space", action="store_true", help="leave out app.py / requirements.txt")


def run(args: argparse.Namespace) -> int:
    from ..hub import push, resolve_token, stage_repo

    options = dict(license=args.license, datasets=args.dataset, space=not args.no_space)
    if args.stage_only:
        folder = stage_repo(args.model, args.stage_only, args.repo, overwrite=args.overwrite, **options)
        print(f"staged {args.repo} in {folder}")
        return 0
    token = resolve_token(args.token)  # fail before staging when there is no token
    with tempfile.TemporaryDirectory(prefix="tinyslm-push-") as tmp:
        folder = stage_repo(args.model, f"{tmp}/repo", args.repo, **options)
        url = push(folder, args.repo, private=args.private, token=token)
    print(f"uploaded {args.repo}: {url}")
    return 0
