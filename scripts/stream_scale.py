"""The streaming path at scale: read, tokenize and pack a whole generated corpus through `--streaming`'s stream.

`tinyslm train --streaming CORPUS --max-steps 2` reads only the head of a stream, so it says nothing about a full
pass. This benchmark drains the packed training stream of a generated corpus (scripts/data_scale.py's text, never
shipped) in a fresh process, the way a long run would consume it, and records wall time, MB/s and the peak memory
of the process (resident and anonymous, sampled every 0.2 s) while the tokenizer is trained on the stream's head,
the evaluation sample is read and every training block is produced.

Usage: python scripts/stream_scale.py [--sizes-mb 100 1000] [--shape file|oneline|jsonl] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data_scale import _tree_memory, make_corpus  # noqa: E402

BLOCK_SIZE = 256


def drain(corpus: str, sample_bytes: int) -> None:
    """In the child process: the stream `tinyslm train --streaming` trains on, consumed to its end."""
    from tinyslm_hf.data.streaming import prepare_stream, stream_documents, training_texts
    from tinyslm_hf.tokenization import train_tokenizer

    started = time.monotonic()
    pieces = stream_documents([corpus])
    tokenizer = train_tokenizer(training_texts(pieces, 0.1, sample_bytes), vocab_size=1024,
                                model_max_length=BLOCK_SIZE)
    tokenizer_s = time.monotonic() - started
    data = prepare_stream(pieces, tokenizer, BLOCK_SIZE, 0.1, 262_144)
    ready_s = time.monotonic() - started
    blocks, last = 0, time.monotonic()
    for _ in data.train:
        blocks += 1
        if time.monotonic() - last > 30:
            last = time.monotonic()
            print(f"  {blocks:,} blocks ({blocks * BLOCK_SIZE / (last - started) / 1e3:.0f}k tokens/s)", flush=True)
    print(json.dumps({"tokenizer_s": round(tokenizer_s, 1), "ready_s": round(ready_s, 1),
                      "train_blocks": blocks, "train_tokens": blocks * BLOCK_SIZE,
                      "eval_tokens": data.stats["eval_tokens"]}), flush=True)


def run(corpus: Path, sample_bytes: int) -> dict:
    started, peak, peak_anon = time.monotonic(), 0, 0
    child = subprocess.Popen([sys.executable, __file__, "--child", str(corpus), "--sample-bytes", str(sample_bytes)],
                             stdout=subprocess.PIPE, text=True)
    process = psutil.Process(child.pid)
    while child.poll() is None:
        rss, anon = _tree_memory(process)
        peak, peak_anon = max(peak, rss), max(peak_anon, anon)
        time.sleep(0.2)
    out = child.stdout.read()
    if child.returncode:
        raise SystemExit(f"streaming {corpus} failed (exit {child.returncode}):\n{out[-3000:]}")
    return {"wall_s": round(time.monotonic() - started, 1), "peak_rss_mb": round(peak / 1e6),
            "peak_anon_mb": round(peak_anon / 1e6), **json.loads(out.strip().splitlines()[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-mb", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--shape", default="file", choices=["file", "oneline", "jsonl"])
    parser.add_argument("--sample-bytes", type=int, default=100_000_000, help="tokenizer sample (the train default)")
    parser.add_argument("--out", default=".", help="folder for stream_scale.json")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        drain(args.child, args.sample_bytes)
        return
    results = []
    print("| shape | MB | wall s | tokenizer s | first block s | MB/s | train tokens | peak RSS MB | peak anon MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for size in args.sizes_mb:
        work = Path(tempfile.mkdtemp(prefix=f"stream-scale-{size}-"))
        try:
            row = {"shape": args.shape, "size_mb": size, **run(make_corpus(args.shape, size, work), args.sample_bytes)}
        finally:
            shutil.rmtree(work, ignore_errors=True)
        row["mb_per_s"] = round(size / row["wall_s"], 2)
        results.append(row)
        print(f"| {row['shape']} | {size} | {row['wall_s']} | {row['tokenizer_s']} | {row['ready_s']} | "
              f"{row['mb_per_s']} | {row['train_tokens']:,} | {row['peak_rss_mb']} | {row['peak_anon_mb']} |",
              flush=True)
    Path(args.out, "stream_scale.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
