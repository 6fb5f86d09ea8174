"""`--streaming`: the corpus read, tokenized and packed on the fly (tinyslm_hf/data/streaming.py)."""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import copy_stopped_before
from tinyslm_hf.data import load_documents, tokenize_and_pack
from tinyslm_hf.data import streaming
from tinyslm_hf.data.streaming import (is_held_out, prepare_stream, stream_documents, text_ranges,
                                       training_texts)
from tinyslm_hf.tokenization import train_tokenizer

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def _text(n_lines: int, seed: int = 0) -> str:
    return "".join(f"Line {i} of part {seed}: the cat sat on mat {i % 17}, the dog on log {i % 11}.\r\n"
                   for i in range(n_lines))


@pytest.fixture
def tokenizer():
    return train_tokenizer([_text(400)], vocab_size=300, model_max_length=64)


def test_byte_ranges_cover_the_file_and_start_after_newlines(tmp_path, monkeypatch):
    file = tmp_path / "big.txt"
    file.write_bytes(_text(3000).encode())
    ranges = text_ranges(file, shard_bytes=20_000)
    assert len(ranges) > 5 and ranges[0][0] == 0 and ranges[-1][1] == file.stat().st_size
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
    data = file.read_bytes()
    assert all(data[start - 1:start] == b"\n" for start, _ in ranges[1:])
    monkeypatch.setattr(streaming, "SHARD_BYTES", 20_000)
    pieces = stream_documents([file])
    assert pieces.num_shards == len(ranges)
    rows = list(pieces)
    # Every byte read once, newlines translated as the map path's text-mode reads do; one document end.
    assert "".join(r["text"] for r in rows) == _text(3000).replace("\r\n", "\n")
    assert [r["end"] for r in rows].count(True) == 1 and rows[-1]["end"]


def test_a_file_without_newlines_stays_one_range_and_streams_in_pieces(tmp_path):
    file = tmp_path / "line.txt"
    file.write_text("word " * 60_000, encoding="utf-8")
    assert text_ranges(file, shard_bytes=50_000) == [(0, 300_000)]
    rows = list(stream_documents([file]))
    assert len(rows) > 30 and max(r["n_chars"] for r in rows) <= streaming.PIECE_CHARS
    assert "".join(r["text"] for r in rows) == "word " * 60_000


def test_streaming_gives_the_map_paths_first_blocks(tmp_path, tokenizer):
    for i in range(3):
        (tmp_path / f"part{i}.txt").write_text(_text(500, i), encoding="utf-8")
    files = sorted(str(p) for p in tmp_path.glob("*.txt"))
    data = prepare_stream(stream_documents(files), tokenizer, 64, 0.1, 2000)
    streamed = [row["input_ids"] for row in itertools.islice(data.train, 200)]
    docs = load_documents(files)
    kept = docs.filter(lambda batch: [not is_held_out(t, 0.1) for t in batch["text"]], batched=True)
    expected = tokenize_and_pack(kept, tokenizer, 64)
    assert len(streamed) == 200 and streamed == expected[:200]["input_ids"]


def test_held_out_text_never_trains_and_the_evaluation_uses_exactly_the_cap(tmp_path, tokenizer):
    (tmp_path / "c.jsonl").write_text("".join(json.dumps({"text": f"row {i}: " + _text(3, i)}) + "\n"
                                              for i in range(2000)), encoding="utf-8")
    pieces = stream_documents([tmp_path / "c.jsonl"])
    held = [r["text"] for r in pieces if is_held_out(r["text"], 0.1)]
    assert 100 < len(held) < 300  # about a tenth of the rows, chosen by content
    data = prepare_stream(pieces, tokenizer, 32, 0.1, 1500)
    assert data.stats["eval_tokens"] == 1500
    eval_text = set(data.validation_text.split("\n\n"))
    train_text = tokenizer.decode([t for row in data.train for t in row["input_ids"]])
    assert all(text.strip() not in train_text for text in list(eval_text)[:20])
    assert all(text in train_text for text in (r["text"] for r in itertools.islice(pieces, 50))
               if not is_held_out(text, 0.1))


def test_the_tokenizer_sample_is_the_streams_head_within_the_byte_budget(tmp_path):
    (tmp_path / "a.txt").write_text(_text(5000), encoding="utf-8")
    texts = list(training_texts(stream_documents([tmp_path / "a.txt"]), 0.1, 50_000))
    used = sum(len(t.encode()) for t in texts)
    assert 40_000 < used <= 50_000 and not any(is_held_out(t, 0.1) for t in texts)


def test_bad_bytes_in_a_stream_name_the_file_and_offset(tmp_path):
    file = tmp_path / "bad.txt"
    file.write_bytes(b"good text\n" * 1000 + b"\xff\xfe" + b"more\n")
    with pytest.raises(ValueError, match=r"bad.txt: not valid UTF-8 near byte 100\d\d"):
        list(stream_documents([file]))


def test_streaming_without_a_length_is_refused_before_any_work(tmp_path):
    (tmp_path / "a.txt").write_text(_text(100), encoding="utf-8")
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "tinyslm_hf", "train", str(tmp_path / "a.txt"), "--streaming",
                           "--max-minutes", "0", "--output-dir", str(out)], capture_output=True, text=True, env=ENV)
    assert done.returncode == 2 and "streaming" in done.stderr and "--max-steps" in done.stderr
    assert not out.exists()


@pytest.mark.skipif(shutil.which("torchrun") is None, reason="torchrun not on PATH")
def test_two_processes_stream_disjoint_shards(tmp_path):
    (tmp_path / "data").mkdir()
    for i in range(4):
        (tmp_path / "data" / f"part{i}.txt").write_text(_text(300, i), encoding="utf-8")
    out = tmp_path / "run"
    done = subprocess.run(
        ["torchrun", "--nproc_per_node", "2", "-m", "tinyslm_hf", "train", str(tmp_path / "data"), "--streaming",
         "--output-dir", str(out), "--max-steps", "3", "--max-minutes", "0", "--vocab-size", "300",
         "--hidden-size", "32", "--num-hidden-layers", "1", "--num-attention-heads", "2", "--block-size", "32",
         "--batch-size", "2", "--sample-tokens", "4", "--eval-every", "3", "--save-every", "3",
         "--max-eval-tokens", "256", "--bf16", "false"],
        capture_output=True, text=True, env=ENV, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    log = done.stdout + done.stderr
    read = {int(rank): set(range(int(a), int(b) + 1))
            for rank, a, b, n in re.findall(r"\[rank (\d)\] streaming shards (\d+)\.\.(\d+) of (\d+)", log)}
    assert set(read) == {0, 1} and not read[0] & read[1] and read[0] | read[1] == {0, 1, 2, 3}, log[-2000:]
    metrics = json.loads((out / "final" / "train_metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["steps"] == 3 and metrics["data"]["streaming"]


def test_a_resumed_stream_continues_where_it_stopped(tmp_path):
    """Within the first pass a resumed stream skips exactly the batches already trained on: the run resumed from
    its middle checkpoint ends with the weights of the run that went straight through."""
    from safetensors.torch import load_file
    import torch

    from tinyslm_hf.cli import main

    corpus = tmp_path / "corpus.txt"
    corpus.write_text(_text(600), encoding="utf-8")
    flags = [str(corpus), "--streaming", "--max-steps", "8", "--max-minutes", "0", "--vocab-size", "300",
             "--hidden-size", "32", "--num-hidden-layers", "1", "--num-attention-heads", "2", "--block-size", "32",
             "--batch-size", "2", "--dropout", "0", "--sample-tokens", "2", "--eval-every", "100",
             "--save-every", "4", "--max-eval-tokens", "128", "--bf16", "false"]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert main(["train", *flags, "--output-dir", str(straight)]) == 0
    copy_stopped_before(straight, resumed, "checkpoint-8")
    assert main(["train", *flags, "--output-dir", str(resumed), "--resume"]) == 0
    state = json.loads((resumed / "checkpoint-8" / "trainer_state.json").read_text())
    assert state["global_step"] == 8
    want, got = (load_file(d / "final" / "model.safetensors") for d in (straight, resumed))
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=0, atol=0, msg=name)
    # and a model that stopped at step 4 differs: the resumed run really trained four more steps
    middle = load_file(straight / "checkpoint-4" / "model.safetensors")
    assert any(not torch.equal(middle[name], want[name]) for name in want)
