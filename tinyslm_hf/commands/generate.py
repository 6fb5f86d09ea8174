"""`tinyslm generate --model DIR "prompt"`: complete a prompt, streamed to the terminal as it is generated."""

from __future__ import annotations

import argparse
import sys

HELP = "Generate text from a prompt with a saved model folder (streams to the terminal)."


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model folder (weights, config, tokenizer)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto (default: cpu)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--compile", action="store_true",
                        help="decode with a static KV cache and a torch.compile'd step: the first reply waits for "
                             "the compile, later tokens come faster")


def add_sampling_arguments(parser: argparse.ArgumentParser) -> None:
    """Decoding flags shared by `generate` and `chat`."""
    parser.add_argument("--max-new-tokens", type=int, default=None,
                        help="tokens to generate (default: up to 128, within the context window)")
    parser.add_argument("--temperature", type=float, default=0.8, help="0 = greedy (default 0.8)")
    parser.add_argument("--top-p", type=float, default=0.95, help="nucleus sampling mass (default 0.95)")
    parser.add_argument("--top-k", type=int, default=50, help="0 disables top-k (default 50)")
    parser.add_argument("--repetition-penalty", type=float, default=1.1, help="1 disables it (default 1.1)")
    parser.add_argument("--seed", type=int, default=None, help="random seed for reproducible sampling")
    parser.add_argument("--stop", action="append", default=[], help="stop sequence (repeatable, at most 4)")


def sampling_from_args(args: argparse.Namespace):
    from ..generation import SamplingParams

    return SamplingParams(max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_p=args.top_p,
                          top_k=args.top_k, repetition_penalty=args.repetition_penalty, seed=args.seed,
                          stop=list(args.stop)).validate()


def load_generator(args: argparse.Namespace):
    import torch

    from ..cli import CLIError
    from ..generation import Generator
    from ..modelio import load_model_and_tokenizer

    if args.threads:
        torch.set_num_threads(args.threads)
    int8 = getattr(args, "int8", False)
    compile = getattr(args, "compile", False)  # verbs without the flag may share this loader
    if compile and int8:
        raise CLIError("--compile and --int8 cannot be combined; choose one")
    model, tokenizer = load_model_and_tokenizer(args.model, device=args.device, int8=int8)
    return Generator(model, tokenizer, compile=compile)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("prompt", help="prompt text ('-' reads it from standard input)")
    add_sampling_arguments(parser)
    parser.add_argument("--no-stream", action="store_true", help="print the completion only once it is finished")
    parser.add_argument("--show-usage", action="store_true", help="print token counts to standard error")
    parser.add_argument("--backend", choices=["hf", "onnx", "gguf"], default="hf",
                        help="runtime: transformers (model folder), onnxruntime (`tinyslm export onnx` folder) or "
                             "llama.cpp (`tinyslm export gguf` file)")
    parser.add_argument("--int8", action="store_true", help="int8: dynamic int8 Linear layers (hf) or "
                        "model_int8.onnx (onnx)")


def _run_exported(args: argparse.Namespace, prompt: str, params) -> int:
    """onnx / gguf backends: the same prompt and sampling flags as hf, no streaming."""
    from ..cli import CLIError
    from ..export.runtimes import generate_text

    try:
        text = generate_text(args.backend, args.model, prompt, max_new_tokens=params.max_new_tokens or 128,
                             temperature=params.temperature, top_p=params.top_p, top_k=params.top_k,
                             seed=params.seed, int8=args.int8, repetition_penalty=params.repetition_penalty)
    except ImportError as exc:
        raise CLIError(f"the {args.backend} backend needs the export extra: pip install 'tinyslm-hf[export]' "
                       f"({exc})") from exc
    for stop in params.stop or []:
        if stop in text:
            text = text[: text.index(stop)]
    sys.stdout.write(text + "\n")
    return 0


def run(args: argparse.Namespace) -> int:
    params = sampling_from_args(args)  # validate flags before the (slower) model load
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    if args.backend != "hf":
        if args.compile:
            from ..cli import CLIError

            raise CLIError(f"--compile applies to the hf backend only, not {args.backend}")
        return _run_exported(args, prompt, params)
    generator = load_generator(args)
    stream = generator.stream(prompt, params)
    if args.no_stream:
        for _ in stream:
            pass
        sys.stdout.write(stream.result.text)
    else:
        for delta in stream:
            sys.stdout.write(delta)
            sys.stdout.flush()
    sys.stdout.write("\n")
    result = stream.result
    if args.show_usage and result is not None:
        print(f"[prompt_tokens={result.prompt_tokens} completion_tokens={result.completion_tokens} "
              f"finish_reason={result.finish_reason}]", file=sys.stderr)
    return 0
