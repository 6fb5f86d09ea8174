"""GGUF export, checked by llama.cpp itself (llama-cpp-python) against transformers and the HF tokenizer."""

from __future__ import annotations

import logging

import gguf
import llama_cpp  # noqa: F401  -- required, not skipped: CI installs it with the export extra
import numpy as np
import pytest
import torch
from export_testutils import HELD_OUT, PROMPT, trained_model, trained_model_dir

from conftest import tiny_config
from tinyslm_hf import TinySLMForCausalLM
from tinyslm_hf.cli import main
from tinyslm_hf.export.gguf import export_gguf, permute_for_llama_rope
from tinyslm_hf.export.runtimes import (
    generate_text,
    gguf_generate_ids,
    gguf_token_nll,
    gguf_tokenize,
    hf_token_nll,
    load_gguf,
)

PRESETS = ["seed", "modern", "modern-qk"]  # modern-qk: the modern block with QK-norm (llama.cpp's qwen3)
TYPES = ["f32", "f16", "q8_0"]
VARIED_TEXT = [
    "Hello world",
    "  two spaces,\ta tab\n\nand blank lines \n",
    "numbers 3.14159, 42, 1234567 and 2024-11-24",
    "Café naïve 日本語 emoji 🙂 Ünïcödé",
    "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
    "don't they'll we've <|endoftext|>The end.",
]


@pytest.fixture(scope="module")
def gguf_files(tmp_path_factory, tiny_tokenizer):
    """{(preset, type): path} for a trained model of each preset."""
    files = {}
    out_dir = tmp_path_factory.mktemp("gguf")
    for preset in PRESETS:
        for out_type in TYPES:
            path = out_dir / f"{preset}-{out_type}.gguf"
            if out_type == "q8_0":  # one type per preset through the CLI (model folder on disk -> file)
                model_dir = trained_model_dir(tmp_path_factory, tiny_tokenizer, preset)
                argv = ["export", "gguf", "--model", str(model_dir), "--out", str(path), "--type", out_type]
                assert main(argv) == 0
            else:
                export_gguf(trained_model(tiny_tokenizer, preset), tiny_tokenizer, path, out_type)
            files[preset, out_type] = path
    return files


def _hf_logits(tokenizer, preset: str, ids: list[int]) -> np.ndarray:
    with torch.no_grad():
        return trained_model(tokenizer, preset)(torch.tensor([ids])).logits[0].numpy()


def _gguf_logits(path, ids: list[int], f32_cache: bool = True) -> np.ndarray:
    llm = load_gguf(path, logits_all=True, f32_cache=f32_cache)
    llm.eval(ids)
    return np.array(llm.scores[: len(ids)])


@pytest.mark.parametrize("preset", PRESETS)
def test_f32_greedy_continuation_equals_transformers(gguf_files, tiny_tokenizer, preset):
    prompt_ids = tiny_tokenizer(PROMPT)["input_ids"]
    model = trained_model(tiny_tokenizer, preset)
    with torch.no_grad():
        out = model.generate(
            torch.tensor([prompt_ids]), max_new_tokens=32, min_new_tokens=32, do_sample=False, eos_token_id=None
        )
    expected = out[0, len(prompt_ids) :].tolist()
    llm = load_gguf(gguf_files[preset, "f32"], f32_cache=True)
    llm_ids = gguf_generate_ids(llm, prompt_ids, max_new_tokens=32)
    stop = next((i for i, t in enumerate(expected) if t in (0, 3)), len(expected))  # llama.cpp stops at eos / eot
    assert llm_ids == expected[:stop]
    assert len(llm_ids) >= 16 and len(set(llm_ids)) > 3


@pytest.mark.parametrize("preset", PRESETS)
def test_f16_and_q8_0_logits(gguf_files, tiny_tokenizer, preset):
    ids = tiny_tokenizer(HELD_OUT)["input_ids"][:60]
    ref = _hf_logits(tiny_tokenizer, preset, ids)
    f32 = _gguf_logits(gguf_files[preset, "f32"], ids)
    # llama / qwen3 match to float rounding (3e-6 measured); ggml's GELU for gpt2 goes through an f16 table (3e-3).
    assert np.abs(f32 - ref).max() < (1e-2 if preset == "seed" else 1e-4)
    f16 = _gguf_logits(gguf_files[preset, "f16"], ids, f32_cache=False)
    assert np.abs(f16 - ref).max() < 0.05
    q8 = _gguf_logits(gguf_files[preset, "q8_0"], ids, f32_cache=False)
    # q8_0 moves logits by ~0.1 (0.13 measured): the top-1 token must survive wherever it leads the runner-up by more
    # than twice that; near-ties of a tiny model may flip (measured: 1 of 60 positions, margin 0.03).
    top2 = np.sort(ref, -1)[:, -2:]
    decided = top2[:, 1] - top2[:, 0] > 0.3
    agree = q8.argmax(-1) == ref.argmax(-1)
    assert decided.sum() >= len(ids) // 2 and agree[decided].all() and agree.mean() >= 0.9
    # bits/byte: q8_0 costs little (the NLL sums stay within 2%).
    nll_hf = hf_token_nll(trained_model(tiny_tokenizer, preset), ids)
    nll_q8 = gguf_token_nll(load_gguf(gguf_files[preset, "q8_0"], logits_all=True), ids)
    assert abs(nll_q8.sum() - nll_hf.sum()) < 0.02 * nll_hf.sum()


@pytest.mark.parametrize("preset", PRESETS)
def test_llama_cpp_tokenizer_matches_hf(gguf_files, tiny_tokenizer, preset):
    llm = load_gguf(gguf_files[preset, "q8_0"])
    for text in VARIED_TEXT:
        hf_ids = tiny_tokenizer(text, add_special_tokens=False)["input_ids"]
        assert gguf_tokenize(llm, text) == hf_ids, text
        # Special tokens are parsed as one id each, as in HF.
    assert gguf_tokenize(llm, "<|im_end|>") == [tiny_tokenizer.convert_tokens_to_ids("<|im_end|>")]
    assert llm.detokenize(tiny_tokenizer(VARIED_TEXT[3])["input_ids"]).decode() == VARIED_TEXT[3]


def test_metadata_and_q8_0_fallback(gguf_files, tiny_tokenizer, tmp_path, caplog):
    reader = gguf.GGUFReader(str(gguf_files["modern", "q8_0"]))
    fields = {name: reader.fields[name] for name in reader.fields}
    assert fields["general.architecture"].contents() == "llama"
    assert fields["tokenizer.ggml.model"].contents() == "gpt2"
    assert fields["tokenizer.ggml.pre"].contents() == "gpt-2"
    assert fields["tokenizer.ggml.eos_token_id"].contents() == tiny_tokenizer.eos_token_id
    assert fields["tokenizer.ggml.padding_token_id"].contents() == tiny_tokenizer.pad_token_id
    assert len(fields["tokenizer.ggml.tokens"].contents()) == len(tiny_tokenizer)
    types = {t.name: t.tensor_type.name for t in reader.tensors}
    # tiny modern: intermediate_size 48 -> ffn_down rows are 48 long, not a multiple of 32 -> f16.
    assert types["blk.0.ffn_down.weight"] == "F16" and types["blk.0.ffn_up.weight"] == "Q8_0"
    assert types["blk.0.attn_norm.weight"] == "F32"
    with caplog.at_level(logging.WARNING, logger="tinyslm_hf.export.gguf"):
        export_gguf(trained_model(tiny_tokenizer, "modern"), tiny_tokenizer, tmp_path / "m.gguf", "q8_0")
    assert "blk.0.ffn_down.weight" in caplog.text and "f16" in caplog.text
    qwen3 = gguf.GGUFReader(str(gguf_files["modern-qk", "f32"]))
    assert qwen3.fields["general.architecture"].contents() == "qwen3"
    assert {"blk.0.attn_q_norm.weight", "blk.0.attn_k_norm.weight"} <= {t.name for t in qwen3.tensors}
    gpt2 = gguf.GGUFReader(str(gguf_files["seed", "f32"]))
    assert gpt2.fields["general.architecture"].contents() == "gpt2"
    assert {"blk.0.attn_qkv.weight", "position_embd.weight"} <= {t.name for t in gpt2.tensors}


def test_llama_rope_permutation():
    """Adjacent pairs after the permutation are the (i, i + d/2) pairs of HF's rotate_half."""
    w = np.arange(2 * 8).reshape(2 * 8, 1)  # 2 heads of head_dim 8, rows numbered
    p = permute_for_llama_rope(w, n_head=2)[:, 0].tolist()
    assert p == [0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15]


def test_unsupported_config_and_no_partial_file(tiny_tokenizer, tmp_path, monkeypatch):
    odd = TinySLMForCausalLM(tiny_config("modern", norm_type="layernorm", vocab_size=len(tiny_tokenizer)))
    with pytest.raises(ValueError, match="no llama.cpp architecture") as info:
        export_gguf(odd, tiny_tokenizer, tmp_path / "odd.gguf")
    assert "gpt2" in str(info.value) and "llama" in str(info.value)
    gpt2_with_qk_norm = TinySLMForCausalLM(tiny_config("seed", qk_norm=True, vocab_size=len(tiny_tokenizer)))
    with pytest.raises(ValueError, match="qk_norm=True"):  # llama.cpp's gpt2 has no QK-norm: never a different model
        export_gguf(gpt2_with_qk_norm, tiny_tokenizer, tmp_path / "qk.gguf")
    with pytest.raises(ValueError, match="--type"):
        export_gguf(trained_model(tiny_tokenizer, "seed"), tiny_tokenizer, tmp_path / "x.gguf", "q4_0")

    def boom(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(gguf.GGUFWriter, "write_tensors_to_file", boom)
    with pytest.raises(OSError, match="disk full"):
        export_gguf(trained_model(tiny_tokenizer, "seed"), tiny_tokenizer, tmp_path / "half.gguf")
    assert list(tmp_path.iterdir()) == []  # neither the target nor a temp file remains


def test_cli_errors_and_generate_backend(gguf_files, tiny_tokenizer, tmp_path, capsys):
    path = gguf_files["seed", "f32"]
    assert main(["export", "gguf", "--model", str(tmp_path), "--out", str(tmp_path / "a.gguf")]) == 2
    assert main(["export", "gguf", "--model", str(tmp_path), "--out", str(path)]) == 2  # exists
    assert "already exists" in capsys.readouterr().err
    text = generate_text("gguf", path, PROMPT, max_new_tokens=200)  # capped at the 64 learned positions
    assert len(tiny_tokenizer(PROMPT + text)["input_ids"]) <= 64 + 2
    sampling = dict(max_new_tokens=8, temperature=1.2, top_p=0.9, top_k=20, seed=1)
    assert generate_text("gguf", path, PROMPT, **sampling) == generate_text("gguf", path, PROMPT, **sampling)
    with pytest.raises(ValueError, match="backend"):
        generate_text("tflite", path, PROMPT, 4)
