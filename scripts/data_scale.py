"""Data preparation at scale: generate synthetic corpora (never shipped) and time `tinyslm train` on each.

Each corpus is English-like text: words drawn with the embedded corpus's word frequencies, in lines and paragraphs.
Shapes: one text file, a folder of many small files, one .jsonl, and one file with no newline at all. Each run is a
fresh `tinyslm train CORPUS --max-steps 2` process with its own empty datasets cache; the peak resident memory is
the process tree's (workers included), sampled every 0.2 s: resident (which counts the memory-mapped Arrow files
`datasets` reads, page cache the kernel reclaims) and anonymous (the heap; forked workers count the parent's pages
again, so the sum overstates it).

Usage: python scripts/data_scale.py [--sizes-mb 10 100 1000] [--shapes file folder jsonl oneline] [--out DIR]
Prints a markdown table and writes data_scale.json in --out.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

from tinyslm_hf.corpus import embedded_corpus_path

CHUNK_BYTES = 8 << 20


def _words() -> np.ndarray:
    return np.array(re.findall(r"[A-Za-z']+|[.,;:!?]", embedded_corpus_path().read_text(encoding="utf-8")))


def _chunks(total_bytes: int, seed: int, newlines: bool):
    """Text in ~8 MB pieces: 10-word lines, a blank line every 8 lines (or one endless line)."""
    words, rng, written = _words(), np.random.default_rng(seed), 0
    while written < total_bytes:
        picked = words[rng.integers(0, len(words), size=CHUNK_BYTES // 50 * 10)]
        if newlines:
            picked = picked.reshape(-1, 10)
            lines = [" ".join(line) for line in picked]
            text = "\n".join(line + ("\n" if i % 8 == 7 else "") for i, line in enumerate(lines)) + "\n"
        else:
            text = " ".join(picked) + " "
        text = text[: total_bytes - written]
        written += len(text)
        yield text


def make_corpus(shape: str, size_mb: int, root: Path) -> Path:
    total = size_mb * 1_000_000
    if shape in ("file", "oneline"):
        path = root / f"{shape}-{size_mb}mb.txt"
        with open(path, "w", encoding="utf-8") as handle:
            for text in _chunks(total, size_mb, newlines=shape == "file"):
                handle.write(text)
        return path
    if shape == "jsonl":
        path = root / f"jsonl-{size_mb}mb.jsonl"
        with open(path, "w", encoding="utf-8") as handle:
            for text in _chunks(total, size_mb, newlines=True):
                for doc in text.split("\n\n"):
                    if doc.strip():
                        handle.write(json.dumps({"text": doc, "source": "synthetic"}) + "\n")
        return path
    if shape == "folder":
        path = root / f"folder-{size_mb}mb"
        path.mkdir()
        files = 10_000
        per_file = max(1, total // files)
        buffer, index = "", 0
        for text in _chunks(total, size_mb, newlines=True):
            buffer += text
            while len(buffer) >= per_file and index < files:
                (path / f"{index:05d}.txt").write_text(buffer[:per_file], encoding="utf-8")
                buffer, index = buffer[per_file:], index + 1
        return path
    raise ValueError(f"unknown shape {shape!r}")


def _anonymous(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            return next(int(line.split()[1]) * 1024 for line in handle if line.startswith("RssAnon:"))
    except (OSError, StopIteration):
        return 0


def _tree_memory(process: psutil.Process) -> tuple[int, int]:
    """(resident, anonymous) bytes of the process tree. Resident includes the memory-mapped Arrow files, which is
    page cache that grows with the corpus by design; anonymous is the heap."""
    rss = anon = 0
    for proc in [process, *process.children(recursive=True)]:
        try:
            rss += proc.memory_info().rss
            anon += _anonymous(proc.pid)
        except psutil.Error:
            pass
    return rss, anon


def run_train(corpus: Path, work: Path, extra: list[str]) -> dict:
    cache = work / "hf-cache"
    env = dict(os.environ, HF_DATASETS_CACHE=str(cache), TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1")
    cmd = [sys.executable, "-m", "tinyslm_hf", "train", str(corpus), "--max-steps", "2", "--output-dir",
           str(work / "run"), "--overwrite", *extra]
    started, peak, peak_anon = time.monotonic(), 0, 0
    log = open(work / "train.log", "w")
    child = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    process = psutil.Process(child.pid)
    while child.poll() is None:
        rss, anon = _tree_memory(process)
        peak, peak_anon = max(peak, rss), max(peak_anon, anon)
        time.sleep(0.2)
    log.close()
    wall = time.monotonic() - started
    text = (work / "train.log").read_text(errors="replace")
    if child.returncode:
        raise SystemExit(f"train failed on {corpus} (exit {child.returncode}):\n{text[-3000:]}")
    found = {key: re.search(pattern, text) for key, pattern in {
        "read": r"read and split .*?in ([\d.]+) s", "tokenizer": r"byte-level BPE on .*? in ([\d.]+)s",
        "tokenize": r"tokenized .*? in ([\d.]+) s", "pack": r"packed .*? in ([\d.]+) s",
        "tokens": r"train ([\d,]+) tokens"}.items()}
    stages = {k: float(m.group(1).replace(",", "")) if m else None for k, m in found.items()}
    return {"wall_s": round(wall, 1), "peak_rss_mb": round(peak / 1e6), "peak_anon_mb": round(peak_anon / 1e6),
            **stages}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-mb", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--shapes", nargs="+", default=["file", "folder", "jsonl", "oneline"],
                        choices=["file", "folder", "jsonl", "oneline"])
    parser.add_argument("--out", default=".", help="folder for data_scale.json")
    parser.add_argument("--keep", action="store_true", help="keep the generated corpora")
    parser.add_argument("train_args", nargs=argparse.REMAINDER, help="after --: extra `tinyslm train` flags")
    args = parser.parse_args()
    extra = [a for a in args.train_args if a != "--"]
    results = []
    print("| shape | MB | wall s | read s | tokenizer s | tokenize s | pack s | MB/s | train tokens | peak RSS MB | peak anon MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for size in args.sizes_mb:
        for shape in args.shapes:
            work = Path(tempfile.mkdtemp(prefix=f"data-scale-{shape}-{size}-"))
            try:
                corpus = make_corpus(shape, size, work)
                row = {"shape": shape, "size_mb": size, **run_train(corpus, work, extra)}
            finally:
                if not args.keep:
                    shutil.rmtree(work, ignore_errors=True)
            row["mb_per_s"] = round(size / row["wall_s"], 2)
            results.append(row)
            print(f"| {shape} | {size} | {row['wall_s']} | {row['read']} | {row['tokenizer']} | {row['tokenize']} | "
                  f"{row['pack']} | {row['mb_per_s']} | {row['tokens']:,.0f} | {row['peak_rss_mb']} | {row['peak_anon_mb']} |", flush=True)
    Path(args.out, "data_scale.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
