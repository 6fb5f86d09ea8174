"""`tinyslm serve --model DIR`: an OpenAI-compatible HTTP server (completions + chat, SSE streaming)."""

from __future__ import annotations

import argparse
import os

HELP = "Serve a model folder over an OpenAI-compatible HTTP API (FastAPI + uvicorn)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model folder")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    parser.add_argument("--api-key", default=os.environ.get("TINYSLM_API_KEY"),
                        help="require 'Authorization: Bearer KEY' (default: $TINYSLM_API_KEY, else no key)")
    parser.add_argument("--model-name", default=None, help="the id clients pass as 'model' (default: folder name)")
    parser.add_argument("--max-queue", type=int, default=32,
                        help="requests admitted at once, running + waiting; more get HTTP 429 (default 32)")
    parser.add_argument("--max-batch", type=int, default=1,
                        help="run up to N waiting requests as one batched generate (default 1: one at a time)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto")
    parser.add_argument("--int8", action="store_true",
                        help="quantize every Linear to dynamic int8 after loading (CPU; the folder stays as it is)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"],
                        help="uvicorn log level (default: info)")


def run(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise ValueError(f"--port must be 1-65535, got {args.port}")
    if args.max_batch < 1:
        raise ValueError(f"--max-batch must be >= 1, got {args.max_batch}")
    if args.max_queue < 1:
        raise ValueError(f"--max-queue must be >= 1, got {args.max_queue}")
    try:
        import torch

        from ..serving.server import create_app, serve
    except ImportError as exc:
        raise ValueError(f"serving needs the 'serve' extra: pip install 'tinyslm-hf[serve]' ({exc})") from exc
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.host not in ("127.0.0.1", "localhost", "::1") and not args.api_key:
        print("warning: listening beyond this machine without --api-key", flush=True)
    app = create_app(args.model, api_key=args.api_key, max_queue=args.max_queue, model_id=args.model_name,
                     device=args.device, max_batch=args.max_batch, int8=args.int8)
    serve(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0
