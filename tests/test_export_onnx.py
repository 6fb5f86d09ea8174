"""ONNX export with KV cache, checked by onnxruntime against transformers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from export_testutils import HELD_OUT, PROMPT, trained_model_dir

from tinyslm_hf.cli import main
from tinyslm_hf.export.onnx import INT8_FILE, MODEL_FILE, OnnxCausalLM
from tinyslm_hf.export.runtimes import generate_text
from tinyslm_hf.modelio import load_model_and_tokenizer


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_tokenizer):
    """(model folder, ONNX folder) exported through the CLI, with the int8 graph.

    The modern block as `tinyslm train` builds it (RoPE, GQA, RMSNorm, SwiGLU, QK-norm) has the most that can go
    wrong in a traced graph; one export costs about 15 s on 2 cores, so the seed preset and the plain modern one are
    covered by their GGUF tests rather than more exports here.
    """
    model_dir = trained_model_dir(tmp_path_factory, tiny_tokenizer, "modern-qk")
    out = tmp_path_factory.mktemp("onnx-modern") / "onnx"
    assert main(["export", "onnx", "--model", str(model_dir), "--out", str(out), "--int8"]) == 0
    return model_dir, out


def test_logits_match_transformers_with_cache(exported):
    """Prefill (empty cache, batch 2) then a one-token decode step: both within 1e-4 of transformers."""
    model_dir, out = exported
    model, tokenizer = load_model_and_tokenizer(model_dir)
    runner = OnnxCausalLM(out)
    ids = np.array([tokenizer(HELD_OUT)["input_ids"][:9], tokenizer(PROMPT * 3)["input_ids"][:9]])
    with torch.no_grad():
        ref = model(torch.from_numpy(ids)).logits.numpy()
    logits, past = runner.forward(ids[:, :8])
    assert past[0].shape[2] == 8 and len(past) == 2 * model.config.num_hidden_layers
    np.testing.assert_allclose(logits, ref[:, :8], atol=1e-4, rtol=0)
    step, past = runner.forward(ids[:, 8:], past)
    assert past[0].shape[2] == 9
    np.testing.assert_allclose(step[:, 0], ref[:, 8], atol=1e-4, rtol=0)


def test_greedy_matches_generate(exported):
    model_dir, out = exported
    model, tokenizer = load_model_and_tokenizer(model_dir)
    prompt_ids = tokenizer(PROMPT)["input_ids"]
    with torch.no_grad():
        expected = model.generate(torch.tensor([prompt_ids]), max_new_tokens=16, do_sample=False, use_cache=True)
    expected = [t for t in expected[0, len(prompt_ids) :].tolist() if t not in (0, 3)]  # stop tokens end both
    got = OnnxCausalLM(out).generate_ids(prompt_ids, max_new_tokens=16)
    assert got == expected
    assert len(set(got)) > 1  # a real continuation, not one repeated token
    assert generate_text("onnx", out, PROMPT, max_new_tokens=16) == tokenizer.decode(got, skip_special_tokens=True)


def test_sampling_is_seeded_and_top_k_1_is_greedy(exported):
    _, out = exported
    runner = OnnxCausalLM(out)
    prompt_ids = runner.tokenizer(PROMPT)["input_ids"]
    a = runner.generate_ids(prompt_ids, 12, do_sample=True, temperature=1.5, top_p=0.95, seed=3)
    b = runner.generate_ids(prompt_ids, 12, do_sample=True, temperature=1.5, top_p=0.95, seed=3)
    assert a == b
    others = {tuple(runner.generate_ids(prompt_ids, 12, do_sample=True, temperature=1.5, seed=s)) for s in range(4, 8)}
    assert len(others | {tuple(a)}) > 1  # sampling actually varies with the seed
    assert runner.generate_ids(prompt_ids, 12, do_sample=True, top_k=1, seed=5) == runner.generate_ids(prompt_ids, 12)


def test_int8_graph_runs_and_stays_close(exported):
    _, out = exported
    import onnx

    ops = {node.op_type for node in onnx.load(str(out / INT8_FILE)).graph.node}
    assert {"DynamicQuantizeLinear", "MatMulInteger"} <= ops, ops  # the weights really run as int8
    assert (out / INT8_FILE).stat().st_size < (out / MODEL_FILE).stat().st_size
    fp32, int8 = OnnxCausalLM(out), OnnxCausalLM(out, int8=True)
    ids = fp32.tokenizer(HELD_OUT)["input_ids"]
    ref, _ = fp32.forward(np.array([ids[:48]]))
    got, _ = int8.forward(np.array([ids[:48]]))
    assert np.abs(got - ref).max() < 0.1 * np.abs(ref).max()
    assert (got.argmax(-1) == ref.argmax(-1)).mean() >= 0.9
    nll32, nll8 = fp32.token_nll(ids), int8.token_nll(ids)
    assert len(nll32) == len(ids) - 1 and nll8.sum() < 1.03 * nll32.sum()


def test_three_backends_give_the_same_greedy_text_with_the_default_settings(exported, tmp_path, capsys):
    """`generate --temperature 0` with everything else at its default (repetition penalty 1.1 included) prints the
    same text on transformers, onnxruntime and llama.cpp; a long request stops at the trained context everywhere
    (the modern preset has rotary positions, which would run on past it)."""
    pytest.importorskip("llama_cpp")
    model_dir, onnx_dir = exported
    gguf_path = tmp_path / "m.gguf"
    assert main(["export", "gguf", "--model", str(model_dir), "--out", str(gguf_path), "--type", "f32"]) == 0
    capsys.readouterr()
    texts = {}
    for backend, path in (("hf", model_dir), ("onnx", onnx_dir), ("gguf", gguf_path)):
        argv = ["generate", "--model", str(path), "The cat", "--temperature", "0", "--max-new-tokens", "24"]
        assert main(argv + ([] if backend == "hf" else ["--backend", backend])) == 0
        texts[backend] = capsys.readouterr().out
    assert texts["hf"].strip() and texts["onnx"] == texts["hf"] == texts["gguf"], texts
    unpenalised = generate_text("onnx", onnx_dir, "The cat", max_new_tokens=24)
    assert unpenalised + "\n" != texts["onnx"]  # the penalty was applied, not just accepted
    model, tokenizer = load_model_and_tokenizer(model_dir)
    limit = model.config.max_position_embeddings
    for backend, path in (("onnx", onnx_dir), ("gguf", gguf_path)):
        long = generate_text(backend, path, "The cat", max_new_tokens=10 * limit)
        assert len(tokenizer("The cat" + long)["input_ids"]) <= limit + 2, backend


def test_export_errors(exported, tmp_path, capsys):
    model_dir, out = exported
    assert main(["export", "onnx", "--model", str(model_dir), "--out", str(out)]) == 2  # exists, no --overwrite
    assert "already exists" in capsys.readouterr().err
    assert main(["export", "onnx", "--model", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert not (tmp_path / "o").exists()
    with pytest.raises(FileNotFoundError, match="not an ONNX export folder"):
        OnnxCausalLM(model_dir)


def test_generate_verb_gives_the_same_greedy_text_on_hf_and_onnx(exported, capsys):
    model_dir, onnx_dir = exported
    common = ["--temperature", "0", "--max-new-tokens", "12", "--no-stream", "--repetition-penalty", "1"]
    assert main(["generate", "--model", str(model_dir), "The cat", *common]) == 0
    hf_text = capsys.readouterr().out
    assert main(["generate", "--backend", "onnx", "--model", str(onnx_dir), "The cat", *common]) == 0
    assert capsys.readouterr().out == hf_text and hf_text.strip()
    assert main(["generate", "--backend", "gguf", "--model", str(onnx_dir / "missing.gguf"), "The cat"]) == 2
