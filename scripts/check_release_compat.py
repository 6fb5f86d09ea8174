"""Folders saved by one transformers release load in another, with the same logits and greedy text.

`save DIR` writes tiny seed, modern and modern + QK-norm model folders (with a tokenizer) plus their reference outputs;
`load DIR`, run under another release, loads each folder through the Auto classes and through remote code and
compares. CI runs it both ways between the newest and the oldest release `pyproject.toml` allows. Exit status 1
and a one-line message per mismatch.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import transformers
from transformers import AutoModelForCausalLM

PROMPT = [[5, 17, 42, 7, 99, 3]]


def _outputs(model) -> dict:
    ids = torch.tensor(PROMPT)
    with torch.no_grad():
        logits = model(ids).logits
        generated = model.generate(ids, max_new_tokens=12, min_new_tokens=12, do_sample=False)
    return {"logits": logits.flatten().tolist(), "generated": generated[0].tolist()}


# Folder name -> (preset, config overrides): both presets, and the modern block `tinyslm train` builds (QK-norm).
FOLDERS = {"seed": ("seed", {}), "modern": ("modern", {}), "modern-qk": ("modern", {"qk_norm": True})}


def save(root: Path) -> None:
    from tinyslm_hf import TinySLMConfig, TinySLMForCausalLM
    from tinyslm_hf.modelio import save_model_folder
    from tinyslm_hf.tokenization import train_tokenizer

    tokenizer = train_tokenizer(["To be, or not to be, that is the question. " * 50], vocab_size=300,
                                model_max_length=64)
    for name, (preset, extra) in FOLDERS.items():
        torch.manual_seed(0)
        config = TinySLMConfig.from_preset(preset, vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2,
                                           num_attention_heads=4, max_position_embeddings=64,
                                           intermediate_size=64, initializer_range=0.2, **extra)
        model = TinySLMForCausalLM(config).eval()
        folder = save_model_folder(model, tokenizer, root / name)
        reference = {"release": transformers.__version__, **_outputs(model)}
        (root / f"{name}.reference.json").write_text(json.dumps(reference))
        print(f"saved {folder} with transformers {transformers.__version__}")


def load(root: Path) -> int:
    failures = 0
    # Remote code first, for both presets: once tinyslm_hf is imported, its registered classes take precedence.
    for how, kwargs in (("remote code", {"trust_remote_code": True}), ("auto classes", {})):
        if not kwargs:
            import tinyslm_hf  # noqa: F401  (registers the Auto classes)
        for preset in FOLDERS:
            reference = json.loads((root / f"{preset}.reference.json").read_text())
            model = AutoModelForCausalLM.from_pretrained(root / preset, **kwargs).eval()
            got = _outputs(model)
            where = f"{preset} folder saved by {reference['release']}, loaded by {transformers.__version__} ({how})"
            remote = type(model).__module__.startswith("transformers_modules.")
            if remote != bool(kwargs):
                print(f"FAIL {where}: loaded {type(model).__module__}, not the code asked for")
                failures += 1
                continue
            difference = (torch.tensor(got["logits"]) - torch.tensor(reference["logits"])).abs().max().item()
            if difference > 1e-5:
                print(f"FAIL {where}: logits differ by {difference:.2e}")
                failures += 1
            elif got["generated"] != reference["generated"]:
                print(f"FAIL {where}: greedy generation differs")
                failures += 1
            else:
                print(f"ok   {where}: logits within {difference:.1e}, same greedy tokens")
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("save", "load"):
        sys.exit("usage: check_release_compat.py save|load DIR")
    if sys.argv[1] == "save":
        save(Path(sys.argv[2]))
    else:
        sys.exit(load(Path(sys.argv[2])))
