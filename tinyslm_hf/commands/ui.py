"""`tinyslm ui --model DIR`: a local Gradio app (chat + completion)."""

from __future__ import annotations

import argparse
import os

HELP = "Open a Gradio web app (chat and completion) for a model folder."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model folder")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: this machine only)")
    parser.add_argument("--port", type=int, default=7860, help="TCP port (default 7860)")
    parser.add_argument("--title", default=None, help="page title (default: the folder's name, or its run's for .../final)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--compile", action="store_true",
                        help="decode with a static KV cache and a torch.compile'd step (the app generates one reply "
                             "at a time, so one graph serves all; the first reply waits for the compile)")


def run(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise ValueError(f"--port must be 1-65535, got {args.port}")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        from ..serving.app import build_demo
    except ImportError as exc:
        raise ValueError(f"the web app needs the 'serve' extra: pip install 'tinyslm-hf[serve]' ({exc})") from exc
    from ..modelio import model_name
    from .generate import load_generator

    generator = load_generator(args)
    demo = build_demo(generator, title=args.title or model_name(args.model))
    demo.launch(server_name=args.host, server_port=args.port, ssr_mode=False, share=False)
    return 0
