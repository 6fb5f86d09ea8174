"""The data path at real-corpus shapes: bounded memory, pieces that change no token, sources users have, the
tokenizer sample, the capped evaluation, and clear errors that leave nothing behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasets import Dataset

from tinyslm_hf.cli import main
from tinyslm_hf.data import (
    column,
    document_texts,
    embedded_corpus_path,
    even_sample,
    load_documents,
    prepare_data,
    split_documents,
    split_pieces,
)
from tinyslm_hf.data.sources import PIECE_CHARS, cut_point
from tinyslm_hf.tokenization import train_tokenizer

TINY = ["--vocab-size", "300", "--hidden-size", "32", "--num-hidden-layers", "2", "--num-attention-heads", "2",
        "--block-size", "32", "--batch-size", "8", "--sample-tokens", "5", "--max-minutes", "0", "--max-steps", "2"]


@pytest.fixture(scope="module")
def shakespeare():
    return embedded_corpus_path().read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def bpe(shakespeare):
    return train_tokenizer([shakespeare[:200_000]], vocab_size=400, model_max_length=64)


def _ids(tokenizer, text):
    return tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]


@pytest.mark.parametrize("flatten", [False, True])
def test_pieces_change_no_token(shakespeare, bpe, flatten):
    """Cut into pieces (with and without line breaks), the text tokenizes to exactly the whole text's tokens."""
    text = shakespeare[:120_000]
    if flatten:
        text = " ".join(text.split())
    pieces = split_pieces(text, 2_000)
    assert len(pieces) > 50 and "".join(pieces) == text and max(map(len, pieces)) <= 2_000
    assert [t for piece in pieces for t in _ids(bpe, piece)] == _ids(bpe, text)


def test_text_without_spaces_is_still_cut():
    assert cut_point("x" * 100) == 100
    assert split_pieces("y" * 250, 100) == ["y" * 100, "y" * 100, "y" * 50]


def test_one_giant_line_becomes_many_rows_and_round_trips(tmp_path, shakespeare):
    line = " ".join(shakespeare.split())[: 3 * PIECE_CHARS + 123]
    path = tmp_path / "one-line.txt"
    path.write_text(line, encoding="utf-8")
    docs = load_documents([path])
    assert len(docs) == 4 and max(docs["n_chars"]) <= PIECE_CHARS
    assert docs["end"] == [False, False, False, True] and set(docs["doc"]) == {0}
    assert document_texts(docs) == [line]
    assert docs["offset"] == list(np.cumsum([0] + docs["n_chars"][:-1]))


def test_few_documents_are_cut_at_ninety_percent_across_their_pieces(tmp_path, shakespeare):
    text = shakespeare[: 2 * PIECE_CHARS + 5_000]
    path = tmp_path / "c.txt"
    path.write_text(text, encoding="utf-8")
    splits = split_documents(load_documents([path]), 0.1)
    head, tail = document_texts(splits["train"]), document_texts(splits["validation"])
    assert head == [text[: int(len(text) * 0.9)]] and tail == [text[int(len(text) * 0.9):]]
    assert splits["train"]["end"][-1] and splits["validation"]["offset"][0] == 0


def test_many_documents_are_held_out_whole_with_all_their_pieces(tmp_path, shakespeare):
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(30):  # every document spans several pieces
        (folder / f"{i:02d}.txt").write_text(shakespeare[i * 1000: i * 1000 + 2 * PIECE_CHARS + 7], encoding="utf-8")
    (folder / "empty.txt").write_text("")  # skipped inside a folder
    splits = split_documents(load_documents([folder]), 0.2, seed=3)
    train, held = set(splits["train"]["doc"]), set(splits["validation"]["doc"])
    assert len(held) == 6 and len(train) == 24 and not train & held
    assert len(splits["validation"]) == 6 * 3
    assert all(len(doc) == 2 * PIECE_CHARS + 7 for doc in document_texts(splits["validation"]))


def test_sources_users_have(tmp_path):
    """Text files by glob, jsonl, parquet, csv, a saved dataset and a dataset folder by name, each row a document."""
    (tmp_path / "notes").mkdir()
    for i in range(3):
        (tmp_path / "notes" / f"n{i}.txt").write_text(f"note {i}\n", encoding="utf-8")
    (tmp_path / "rows.jsonl").write_text(json.dumps({"body": "json row", "id": 1}) + "\n", encoding="utf-8")
    pq.write_table(pa.table({"body": ["parquet row", ""], "n": [1, 2]}), tmp_path / "t.parquet")
    (tmp_path / "t.csv").write_text('body,n\n"csv, row",1\n', encoding="utf-8")
    Dataset.from_dict({"body": ["saved row"]}).save_to_disk(str(tmp_path / "saved"))
    (tmp_path / "hub_like").mkdir()
    pq.write_table(pa.table({"body": ["named row"]}), tmp_path / "hub_like" / "train.parquet")
    docs = load_documents([str(tmp_path / "notes" / "n*.txt"), tmp_path / "rows.jsonl", tmp_path / "t.parquet",
                           tmp_path / "t.csv", tmp_path / "saved"], text_field="body",
                          dataset=str(tmp_path / "hub_like"), split="train")
    assert sorted(document_texts(docs)) == sorted(["note 0\n", "note 1\n", "note 2\n", "json row", "parquet row",
                                                   "csv, row", "saved row", "named row"])
    assert sorted(set(docs["doc"])) == list(range(8))


@pytest.mark.parametrize("case, message", [
    ("empty_folder", "contains no files"),
    ("glob", "no file matches"),
    ("jsonl_field", "rows.jsonl:2: no 'text' field"),
    ("parquet_column", "has no 'text' column"),
    ("csv_column", "has no 'text' column"),
    ("late_bad_byte", "not valid UTF-8 (byte 3000005)"),
    ("unknown_suffixes", "no non-empty file with a known suffix"),
])
def test_bad_inputs_one_line_exit_2_nothing_written(tmp_path, capsys, monkeypatch, case, message):
    cache = tmp_path / "cache"
    monkeypatch.setenv("HF_DATASETS_CACHE", str(cache))
    if case == "empty_folder":
        (tmp_path / "empty").mkdir()
        data = tmp_path / "empty"
    elif case == "glob":
        data = tmp_path / "nothing-*.txt"
    elif case == "jsonl_field":
        data = tmp_path / "rows.jsonl"
        data.write_text("\n" + json.dumps({"body": "x"}) + "\n", encoding="utf-8")
    elif case == "parquet_column":
        data = tmp_path / "t.parquet"
        pq.write_table(pa.table({"body": ["x"]}), data)
    elif case == "csv_column":
        data = tmp_path / "t.csv"
        data.write_text("body\nx\n", encoding="utf-8")
    elif case == "late_bad_byte":
        data = tmp_path / "late.txt"
        data.write_bytes(b"a" * 3_000_005 + b"\xff tail")
    else:
        (tmp_path / "bin").mkdir()
        (tmp_path / "bin" / "blob.dat").write_bytes(b"abc")
        data = tmp_path / "bin"
    out = tmp_path / "out"
    assert main(["train", str(data), "--output-dir", str(out), *TINY]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not out.exists()
    assert not list(cache.rglob("*.arrow")) if cache.exists() else True


def test_tokenizer_sample_is_even_and_honours_its_size():
    rows = Dataset.from_dict({"text": ["x" * 1000] * 400, "doc": list(range(400)), "offset": [0] * 400,
                              "end": [True] * 400, "n_chars": [1000] * 400, "n_bytes": [1000] * 400})
    sample = even_sample(rows, 50_000)
    taken = column(sample, "doc")
    assert 25_000 <= column(sample, "n_bytes").sum() <= 50_000
    assert taken.min() < 20 and taken.max() >= 350  # spread over the whole split, not its head
    assert even_sample(rows, 10**9) is rows


def test_training_reads_the_tokenizer_sample_only(tmp_path, shakespeare, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text(shakespeare[:300_000], encoding="utf-8")
    out = tmp_path / "out"
    assert main(["train", str(corpus), "--output-dir", str(out), *TINY, "--tokenizer-sample-bytes", "150000"]) == 0
    log = capsys.readouterr().out
    line = next(line for line in log.splitlines() if "byte-level BPE on" in line)
    assert 0.075 <= float(line.split(" on ")[1].split(" MB")[0]) <= 0.15


def test_capped_evaluation_uses_the_cap(tmp_path, shakespeare, bpe):
    corpus = tmp_path / "c.txt"
    corpus.write_text(shakespeare[:400_000], encoding="utf-8")
    full = prepare_data([corpus], bpe, 32)
    capped = prepare_data([corpus], bpe, 32, max_eval_tokens=1000)
    assert full.stats["eval_tokens"] > 10_000 and full.stats["eval_bytes"] == full.stats["held_out_bytes"]
    assert 998 <= capped.stats["eval_tokens"] <= 1000 and len(capped.validation) == capped.stats["eval_tokens"] // 32
    assert full.validation_text.startswith(capped.validation_text)  # a fixed sample: the leading held-out text
    assert len(capped.validation_text.encode()) == capped.stats["eval_bytes"] < full.stats["eval_bytes"] / 5
    assert np.array_equal(np.array(capped.validation["input_ids"]),
                          np.array(full.validation["input_ids"][: len(capped.validation)]))


CHILD = textwrap.dedent("""
    import json, sys
    from tinyslm_hf.data import prepare_data
    from tinyslm_hf.tokenization import train_tokenizer
    tokenizer = train_tokenizer(["the quick brown fox jumps over the lazy dog " * 500], vocab_size=300)
    data = prepare_data([sys.argv[1]], tokenizer, 256, num_proc=2, max_eval_tokens=20000)
    print(json.dumps({"tokens": data.stats["train_tokens"]}))
""")


def _anonymous_bytes(pid: int) -> int:
    """Resident anonymous memory of a process: its heap, not the memory-mapped Arrow files `datasets` reads
    (those pages are page cache the kernel reclaims, and grow with the corpus by design)."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            return next(int(line.split()[1]) * 1024 for line in handle if line.startswith("RssAnon:"))
    except (OSError, StopIteration):
        return 0


def peak_anonymous_memory(cmd: list[str], env: dict) -> tuple[subprocess.CompletedProcess, int]:
    """Run `cmd`, sampling the anonymous resident memory of its process tree (workers included) every 0.1 s."""
    import psutil

    peak = 0
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as child:
        tree = psutil.Process(child.pid)
        while child.poll() is None:
            try:
                pids = [child.pid] + [p.pid for p in tree.children(recursive=True)]
            except psutil.Error:
                pids = [child.pid]
            peak = max(peak, sum(_anonymous_bytes(pid) for pid in pids))
            time.sleep(0.1)
        out, err = child.communicate()
    return subprocess.CompletedProcess(cmd, child.returncode, out, err), peak


def _write_copies(path, text: str, copies: int) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for _ in range(copies):
            handle.write(text)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads /proc (Linux)")
def test_preparing_a_large_single_file_keeps_memory_flat(tmp_path, shakespeare):
    """A 20 MB and a 60 MB one-document file (the shape that used to become one row and grow memory ~90x the file)
    are prepared in fresh processes (two tokenizing workers each) with the same anonymous memory, within 10%.
    The sum over the tree counts the parent's pages again in each forked worker, so it overstates real use."""
    peaks = {}
    for copies in (18, 54):
        path = tmp_path / f"big-{copies}.txt"
        _write_copies(path, shakespeare, copies)
        env = dict(os.environ, HF_DATASETS_CACHE=str(tmp_path / f"cache-{copies}"), TOKENIZERS_PARALLELISM="false")
        done, peaks[copies] = peak_anonymous_memory([sys.executable, "-c", CHILD, str(path)], env)
        assert done.returncode == 0, done.stderr[-2000:]
        assert json.loads(done.stdout.strip().splitlines()[-1])["tokens"] > path.stat().st_size / 4
    assert peaks[54] < 1.1 * peaks[18], peaks  # 3x the corpus, the same memory
    assert peaks[54] < 3e9, peaks
