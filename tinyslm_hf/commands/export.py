"""`tinyslm export gguf|onnx`: write a model folder for llama.cpp (GGUF) or onnxruntime (ONNX with KV cache)."""

from __future__ import annotations

import argparse

HELP = "Export a model folder to GGUF (llama.cpp) or ONNX with KV cache (onnxruntime)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("format", choices=("gguf", "onnx"), help="gguf: one .gguf file; onnx: a folder")
    parser.add_argument("--model", required=True, help="saved model folder (safetensors + config + tokenizer)")
    parser.add_argument("--out", required=True, help="output .gguf file (gguf) or output folder (onnx)")
    parser.add_argument("--type", default="f32", choices=("f32", "f16", "q8_0"),
                        help="GGUF tensor type (q8_0 keeps f16 for tensors whose rows are not a multiple of 32)")
    parser.add_argument("--int8", action="store_true",
                        help="ONNX: also write model_int8.onnx (onnxruntime dynamic int8 quantization)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..cli import CLIError

    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise CLIError(f"{out} already exists (pass --overwrite to replace it)")
    if args.format == "gguf" and args.int8:
        raise CLIError("--int8 applies to onnx; for a quantized GGUF use --type q8_0")
    if args.format == "onnx" and args.type != "f32":
        raise CLIError("--type applies to gguf; for a quantized ONNX graph use --int8")

    from ..modelio import load_model_and_tokenizer

    model, tokenizer = load_model_and_tokenizer(args.model, device="cpu", dtype="float32")
    if args.format == "gguf":
        from ..export.gguf import export_gguf

        path = export_gguf(model, tokenizer, out, args.type)
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB, {args.type})")
    else:
        from ..export.onnx import export_onnx

        path = export_onnx(model, tokenizer, out, int8=args.int8, overwrite=args.overwrite)
        files = ", ".join(f"{p.name} {p.stat().st_size / 1e6:.2f} MB" for p in sorted(path.glob("*.onnx")))
        print(f"wrote {path}/ ({files})")
    return 0
