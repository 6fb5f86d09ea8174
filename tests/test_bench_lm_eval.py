"""lm-evaluation-harness runs on a TinySLM folder through its standard `hf` model type, on local tasks."""

import json

import pytest

pytest.importorskip("lm_eval", reason="lm-eval is part of the test extra")  # installed by .ci/run

from tinyslm_hf.evaluation import evaluate_text
from tinyslm_hf.bench.lm_eval import run_harness, write_local_tasks
from tinyslm_hf.modelio import load_model_and_tokenizer


def test_local_tasks_are_well_formed(tmp_path):
    folder = write_local_tasks(tmp_path, passages=3, questions=10)
    rows = [json.loads(line) for line in (folder / "continuation.jsonl").read_text().splitlines()]
    assert len(rows) == 10
    for row in rows:
        assert len(row["choices"]) == 4 and len(set(row["choices"])) == 4 and 0 <= row["label"] < 4
    assert len((folder / "heldout.jsonl").read_text().splitlines()) == 3


def test_lm_eval_bits_per_byte_agrees_with_tinyslm_eval(tiny_model_dir, tmp_path):
    folder = write_local_tasks(tmp_path, passages=2, questions=8)
    results = run_harness(tiny_model_dir, folder, batch_size=4)
    acc = results["tinyshakespeare_continuation"]["acc,none"]
    assert 0.0 <= acc <= 1.0
    bpb = results["tinyshakespeare_heldout"]["bits_per_byte,none"]
    # Same model, same passages: our sliding-window scorer and lm-eval's rolling loglikelihood agree closely
    # (they differ only in the context each window gets and lm-eval's per-passage token for the first position).
    model, tok = load_model_and_tokenizer(tiny_model_dir)
    texts = [json.loads(line)["text"] for line in (folder / "heldout.jsonl").read_text().splitlines()]
    ours = [evaluate_text(model, tok, t) for t in texts]
    ours_bpb = sum(r["bits_per_byte"] * r["bytes"] for r in ours) / sum(r["bytes"] for r in ours)
    assert bpb == pytest.approx(ours_bpb, rel=0.02)
