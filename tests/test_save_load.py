"""Saving, loading (locally and as remote code without the package), and pipeline use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from conftest import tiny_config
from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline

from tinyslm_hf import TinySLMForCausalLM
from tinyslm_hf.modelio import load_model_and_tokenizer, save_model_folder

# Makes `tinyslm_hf` unimportable in the Python it is run in (even through the editable install).
BLOCK_PACKAGE = textwrap.dedent(
    """
    import importlib.abc, sys

    class BlockTinySLM(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "tinyslm_hf" or name.startswith("tinyslm_hf."):
                raise ModuleNotFoundError(f"No module named {name!r} (blocked by test)")
            return None
    """
)

# Python run in a subprocess after BLOCK_PACKAGE: proves the package is gone, then loads the folder through
# trust_remote_code and prints logits + a greedy continuation as JSON.
REMOTE_LOADER = textwrap.dedent(
    """
    import json, sys

    sys.meta_path.insert(0, BlockTinySLM())
    try:
        import tinyslm_hf  # noqa: F401
        raise SystemExit("tinyslm_hf was importable")
    except ModuleNotFoundError:
        pass

    import torch
    from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer, pipeline

    folder = sys.argv[1]
    model = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True).eval()
    tok = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
    ids = torch.tensor([[5, 17, 42, 7, 99]])
    with torch.no_grad():
        logits = model(ids).logits
    gen = model.generate(ids, max_new_tokens=8, do_sample=False)
    base = AutoModel.from_pretrained(folder, trust_remote_code=True)
    pipe = pipeline("text-generation", model=folder, trust_remote_code=True)
    text = pipe("To be", max_new_tokens=5, do_sample=False)[0]["generated_text"]
    print(json.dumps({
        "module": type(model).__module__,
        "base": type(base).__name__,
        "tied": model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr(),
        "logits": logits.flatten().tolist(),
        "generated": gen[0].tolist(),
        "text": text,
    }))
    """
)


@pytest.mark.parametrize("fixture", ["tiny_model_dir", "tiny_modern_model_dir"])
def test_saved_folder_is_safetensors_only_and_complete(fixture, request):
    folder = request.getfixturevalue(fixture)
    names = set(os.listdir(folder))
    assert {"model.safetensors", "config.json", "generation_config.json", "tokenizer.json",
            "configuration_tinyslm.py", "modeling_tinyslm.py", "kernels_tinyslm.py"} <= names
    assert not [n for n in names if n.endswith((".bin", ".pt", ".pth", ".pkl"))]
    config = json.loads((folder / "config.json").read_text())
    assert config["use_cache"] is True and config["model_type"] == "tinyslm"
    assert set(config["auto_map"]) == {
        "AutoConfig", "AutoModel", "AutoModelForCausalLM", "AutoModelForSequenceClassification"}
    generation = json.loads((folder / "generation_config.json").read_text())
    assert generation["eos_token_id"] == [0, 3] and generation["pad_token_id"] == 1


@pytest.mark.parametrize("preset", ["seed", "modern"])
def test_round_trip_keeps_weights_and_tie(tmp_path, preset):
    torch.manual_seed(0)
    model = TinySLMForCausalLM(tiny_config(preset)).eval()
    model.save_pretrained(tmp_path)
    from safetensors.torch import load_file

    stored = load_file(tmp_path / "model.safetensors")
    assert "lm_head.weight" not in stored  # tied: stored once
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert type(loaded) is TinySLMForCausalLM
    assert loaded.lm_head.weight is loaded.model.embed_tokens.weight
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], tensor, rtol=0, atol=0, msg=name)
    # Logits too: non-persistent buffers (RoPE inv_freq) are not in the state dict and must be rebuilt on load.
    ids = torch.tensor([[3, 9, 27, 81, 11, 200]])
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids).logits, model(ids).logits, rtol=0, atol=0)


def test_bf16_checkpoint_loads_as_bf16(tmp_path):
    model = TinySLMForCausalLM(tiny_config("modern")).to(torch.bfloat16)
    model.save_pretrained(tmp_path)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert loaded.dtype == torch.bfloat16
    assert loaded(torch.tensor([[3, 4, 5]])).logits.dtype == torch.bfloat16


@pytest.mark.parametrize("fixture", ["tiny_model_dir", "tiny_modern_model_dir"])
def test_remote_code_load_without_the_package_gives_identical_logits(fixture, request, tmp_path):
    folder = request.getfixturevalue(fixture)
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf_home"), "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}
    result = subprocess.run(
        [sys.executable, "-c", BLOCK_PACKAGE + REMOTE_LOADER, str(folder)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    remote = json.loads(result.stdout.strip().splitlines()[-1])
    assert remote["module"].startswith("transformers_modules.")  # really the copied remote code
    assert remote["base"] == "TinySLMModel" and remote["tied"]
    model, _ = load_model_and_tokenizer(folder)
    ids = torch.tensor([[5, 17, 42, 7, 99]])
    with torch.no_grad():
        local = model(ids).logits.flatten()
    torch.testing.assert_close(torch.tensor(remote["logits"]), local, rtol=0, atol=1e-6)
    assert remote["generated"] == model.generate(ids, max_new_tokens=8, do_sample=False)[0].tolist()
    assert remote["text"].startswith("To be")


def test_truncated_safetensors_gives_a_clear_error(tiny_model_dir, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in os.listdir(tiny_model_dir):
        data = (tiny_model_dir / name).read_bytes()
        if name == "model.safetensors":
            data = data[: len(data) // 2]
        (broken / name).write_bytes(data)
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load_model_and_tokenizer(broken)


def test_pickle_only_folder_is_refused(tiny_model_dir, tmp_path):
    folder = tmp_path / "pickled"
    folder.mkdir()
    (folder / "config.json").write_text((tiny_model_dir / "config.json").read_text())
    (folder / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(FileNotFoundError, match="pickle"):
        load_model_and_tokenizer(folder)


def test_mismatched_tokenizer_and_model_vocab_is_rejected(tiny_tokenizer, tmp_path):
    small = TinySLMForCausalLM(tiny_config("seed", vocab_size=100))
    with pytest.raises(ValueError, match="vocab_size"):
        save_model_folder(small, tiny_tokenizer, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_save_refuses_to_overwrite_without_permission(tiny_model_dir, tiny_tokenizer):
    model, _ = load_model_and_tokenizer(tiny_model_dir)
    with pytest.raises(FileExistsError):
        save_model_folder(model, tiny_tokenizer, tiny_model_dir)


def test_text_generation_pipeline_with_tokenizer(tiny_model_dir):
    generator = pipeline("text-generation", model=str(tiny_model_dir))
    outputs = generator(["To be", "The quick brown fox"], max_new_tokens=6, do_sample=False, batch_size=2)
    assert outputs[0][0]["generated_text"].startswith("To be")
    assert outputs[1][0]["generated_text"].startswith("The quick brown fox")
    chat = generator([{"role": "user", "content": "hello"}], max_new_tokens=4, do_sample=False)
    assert chat[0]["generated_text"][-1]["role"] == "assistant"
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert len(tokenizer) == generator.model.config.vocab_size


@pytest.mark.parametrize("preset", ["seed", "modern"])
def test_folders_saved_by_an_earlier_version_load_with_the_same_outputs(preset):
    """A folder written before the kernels moved to their own file (and, for the seed, with the RoPE defaults
    learned-position configs used to carry) loads with today's package and computes what the old code computed."""
    root = Path(__file__).parent / "data" / "saved_by_4f84ff7"
    reference = json.loads((root / f"{preset}.reference.json").read_text())
    model = AutoModelForCausalLM.from_pretrained(root / preset).eval()
    assert type(model).__module__ == "tinyslm_hf.modeling_tinyslm"
    ids = torch.tensor([[5, 17, 42, 7, 99, 3]])
    with torch.no_grad():
        logits = model(ids).logits.flatten()
        generated = model.generate(ids, max_new_tokens=12, min_new_tokens=12, do_sample=False)[0].tolist()
    torch.testing.assert_close(logits, torch.tensor(reference["logits"]), rtol=0, atol=1e-5)
    assert generated == reference["generated"]
    if preset == "seed":
        assert model.config.rope_parameters is None


def test_saved_folders_are_readable_by_others_not_private(tiny_tokenizer, tmp_path):
    """The atomic write starts from a private temp folder; the finished folder has the umask's permissions."""
    previous = os.umask(0o022)
    try:
        torch.manual_seed(0)
        folder = save_model_folder(TinySLMForCausalLM(tiny_config("seed", vocab_size=len(tiny_tokenizer))),
                                   tiny_tokenizer, tmp_path / "shared")
    finally:
        os.umask(previous)
    assert folder.stat().st_mode & 0o777 == 0o755


def test_a_killed_writers_leftovers_are_removed_by_the_next_write(tmp_path, tiny_tokenizer):
    """A write killed mid-way (kill -9) leaves its hidden temporary folder; the next write of the same folder
    removes it, and leaves alone the temporary folder of a writer that still runs."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    target = tmp_path / "final"
    stale = tmp_path / f".final.partial-{dead.pid}-abc"
    live = tmp_path / f".final.partial-{os.getppid()}-xyz"
    for folder in (stale, live):
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"half")
    torch.manual_seed(0)
    save_model_folder(TinySLMForCausalLM(tiny_config("seed", vocab_size=len(tiny_tokenizer))), tiny_tokenizer, target)
    assert (target / "model.safetensors").is_file()
    assert not stale.exists() and live.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["final", live.name])


TOKENIZER_LOADER = textwrap.dedent(
    """
    import json, sys

    if sys.argv[2] == "without-package":
        sys.meta_path.insert(0, BlockTinySLM())
    else:
        import tinyslm_hf  # noqa: F401  (importing the package registers TinySLM with the Auto classes)

    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    folder, results = sys.argv[1], {}
    calls = {"auto": lambda: AutoTokenizer.from_pretrained(folder),
             "auto_no_remote_code": lambda: AutoTokenizer.from_pretrained(folder, trust_remote_code=False),
             "fast": lambda: PreTrainedTokenizerFast.from_pretrained(folder)}
    for name in sys.argv[3:]:
        tok = calls[name]()
        results[name] = {"ids": tok("To be, or not")["input_ids"],
                         "remote_code_ran": "transformers_modules" in " ".join(sys.modules)}
    print(json.dumps(results))
    """
)


def test_the_tokenizer_loads_without_a_trust_prompt_the_documented_ways(tiny_model_dir, tiny_tokenizer):
    """transformers 5 reads config.json before any tokenizer file and, for a model type it does not know, asks for
    15 s on a terminal whether to trust the remote code. The calls the README gives load the tokenizer without that
    wait, without running any of the folder's code: with the package imported, a bare AutoTokenizer; without it,
    PreTrainedTokenizerFast or AutoTokenizer with trust_remote_code=False. Run on a pseudo-terminal, where the
    prompt would wait."""
    import pty

    want = tiny_tokenizer("To be, or not")["input_ids"]
    for mode, calls in (("with-package", ["auto"]), ("without-package", ["fast", "auto_no_remote_code"])):
        main_end, terminal = pty.openpty()
        try:
            done = subprocess.run([sys.executable, "-c", BLOCK_PACKAGE + TOKENIZER_LOADER, str(tiny_model_dir),
                                   mode, *calls], stdin=terminal, capture_output=True, text=True, timeout=120)
        finally:
            os.close(main_end)
            os.close(terminal)
        # A prompt would print its question and, after 15 s without an answer, fail the load.
        assert done.returncode == 0, done.stderr[-2000:]
        assert "Do you wish to run the custom code" not in done.stdout + done.stderr
        results = json.loads(done.stdout.strip().splitlines()[-1])
        for name in calls:
            assert results[name]["ids"] == want, (mode, name)
            assert not results[name]["remote_code_ran"], (mode, name)
