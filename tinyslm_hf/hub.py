"""Publish a model folder to the Hugging Face Hub.

`stage_repo` builds the exact folder that will be uploaded, so it can be inspected (and loaded) before anything
leaves the machine: safetensors weights, `config.json` with `auto_map`, the remote-code files
(`configuration_tinyslm.py`, `modeling_tinyslm.py`, `kernels_tinyslm.py`) so `trust_remote_code=True` works without
this package, tokenizer files + chat template, `generation_config.json`, a `README.md` model card with Hub metadata,
and a Gradio Space (`app.py`, its `generation.py` helper and `requirements.txt`). Training leftovers
(`training_args.bin`, optimizer states, checkpoints) are never staged. `push` uploads a staged folder in one commit with
`HfApi.upload_folder`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any, Sequence

from huggingface_hub import EvalResult, HfApi, ModelCard, ModelCardData

from .modelio import atomic_directory

PACKAGE_DIR = Path(__file__).resolve().parent
REMOTE_CODE = ("configuration_tinyslm.py", "modeling_tinyslm.py", "kernels_tinyslm.py")
# Everything a user of the repo needs; nothing else from the model folder is copied.
MODEL_FILES = (
    "config.json", "generation_config.json", "model.safetensors", "model.safetensors.index.json",
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
)
SPACE_REQUIREMENTS = ("torch", "transformers>=5.17", "safetensors", "tokenizers", "gradio>=5.0")
NEVER_UPLOAD = ["training_args.bin", "*.bin", "*.pt", "*.pth", "*.pkl", "optimizer*", "scheduler*", "rng_state*",
                "checkpoint-*/**"]
AUTO_MAP = {
    "AutoConfig": "configuration_tinyslm.TinySLMConfig",
    "AutoModel": "modeling_tinyslm.TinySLMModel",
    "AutoModelForCausalLM": "modeling_tinyslm.TinySLMForCausalLM",
}


METRIC_FILES = ("train_metrics.json", "finetune_metrics.json", "eval_results.json", "all_results.json")
METRIC_KEYS = (("heldout_perplexity", "perplexity"), ("perplexity", "perplexity"), ("eval_perplexity", "perplexity"),
               ("heldout_bits_per_byte", "bits_per_byte"), ("bits_per_byte", "bits_per_byte"),
               ("eval_bits_per_byte", "bits_per_byte"), ("heldout_loss", "loss"), ("eval_loss", "loss"),
               ("loss", "loss"))


def _eval_results(model_dir: Path, model_name: str, dataset: str | None) -> list[EvalResult]:
    """Hub `model-index` entries from the metrics file next to the weights: what `tinyslm train` / `finetune`
    measured (held-out text, preferred over the packed-block loss), else a Trainer's eval/all_results.json."""
    for name in METRIC_FILES:
        path = model_dir / name
        if path.is_file():
            try:
                values = json.loads(path.read_text())
            except json.JSONDecodeError:
                return []
            out = []
            for key, metric in METRIC_KEYS:
                if isinstance(values.get(key), (int, float)) and metric not in {r.metric_type for r in out}:
                    out.append(EvalResult(task_type="text-generation", dataset_type=dataset or "custom",
                                          dataset_name=dataset or "held-out text", metric_type=metric,
                                          metric_value=round(float(values[key]), 4)))
            return out
    return []


def build_model_card(
    model_dir: str | os.PathLike,
    repo_id: str,
    license: str | None = None,
    datasets: Sequence[str] = (),
    language: Sequence[str] = ("en",),
    tags: Sequence[str] = (),
) -> ModelCard:
    """The README.md for the repo: Hub metadata front matter + the folder's own card body (or a generated one).

    A card already in the folder (written by training) keeps its text and its metadata; the Hub fields this repo
    needs (library_name, pipeline_tag, custom_code tag, ...) are set on top. `license` defaults to the existing
    card's, else apache-2.0.
    """
    model_dir = Path(model_dir)
    config = json.loads((model_dir / "config.json").read_text())
    name = repo_id.split("/")[-1]
    existing_path = model_dir / "README.md"
    existing = ModelCard.load(existing_path) if existing_path.is_file() else None
    old = existing.data.to_dict() if existing is not None else {}
    datasets = list(datasets) or list(old.get("datasets") or [])
    results = _eval_results(model_dir, name, datasets[0] if datasets else None)
    extra = {k: v for k, v in old.items() if k not in {
        "model_name", "language", "license", "library_name", "pipeline_tag", "tags", "datasets", "metrics",
        "model-index", "eval_results"}}
    data = ModelCardData(
        model_name=name,
        language=list(language) or old.get("language"),
        license=license or old.get("license") or "apache-2.0",
        library_name="transformers",
        pipeline_tag="text-generation",
        tags=sorted({"tinyslm", "custom_code", "text-generation", "safetensors", *tags, *(old.get("tags") or [])}),
        datasets=datasets or None,
        metrics=sorted({r.metric_type for r in results} | set(old.get("metrics") or [])) or ["perplexity"],
        eval_results=results or (existing.data.eval_results if existing is not None else None),
        **extra,
    )
    if existing is not None:  # the training run wrote a card: keep its text, named and addressed as this repo
        body = _retitle(existing.text, name, repo_id)
    else:
        preset = "modern (RoPE, RMSNorm, SwiGLU, GQA)" if config.get("position_embedding_type") == "rope" else \
            "seed (GPT-2 layout: learned positions, LayerNorm, GELU)"
        body = f"""
# {name}

A small decoder-only language model (TinySLM, {preset} preset) living natively in the Hugging Face ecosystem.

| | |
|---|---|
| layers | {config.get('num_hidden_layers')} |
| hidden size | {config.get('hidden_size')} |
| attention heads | {config.get('num_attention_heads')} |
| context length | {config.get('max_position_embeddings')} tokens |
| vocabulary | {config.get('vocab_size')} (byte-level BPE, ChatML chat template) |

## Use it

```python
from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline

model = AutoModelForCausalLM.from_pretrained("{repo_id}", trust_remote_code=True)
tokenizer = AutoTokenizer.from_pretrained("{repo_id}", trust_remote_code=True)
print(pipeline("text-generation", model=model, tokenizer=tokenizer)("Once upon a time", max_new_tokens=40))
```

`trust_remote_code=True` runs `modeling_tinyslm.py`, `kernels_tinyslm.py` and `configuration_tinyslm.py` from this repo:
read them first.
`python app.py` (after `pip install -r requirements.txt`) starts a Gradio demo; the same files work as a Space.

## Limitations

A tiny model: expect fluent-looking but unreliable text. Not for factual, medical, legal or safety-critical use.
"""
    return ModelCard(f"---\n{data.to_yaml()}\n---\n{body}")


def _retitle(text: str, name: str, repo_id: str) -> str:
    """A card written for a local folder, made the repo's: its title is the repo name and its usage snippet loads
    the repo id instead of a placeholder path."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.startswith("# "):
            lines[i] = f"# {name}"
            break
    return "\n".join(lines).replace('from_pretrained("PATH"', f'from_pretrained("{repo_id}"')


def linked_files(card_text: str) -> list[str]:
    """Relative files a card links or shows (`[x](file)`, `![x](file)`), to be uploaded beside it."""
    targets = re.findall(r"\]\(([^)\s]+)\)", card_text)
    return sorted({t for t in targets if "://" not in t and not t.startswith(("#", "/", "mailto:"))})


def stage_repo(
    model_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    repo_id: str,
    license: str | None = None,
    datasets: Sequence[str] = (),
    overwrite: bool = False,
    space: bool = True,
) -> Path:
    """Write the complete Hub repo folder for `model_dir` into `out_dir` (atomically) and return it."""
    from .modelio import _check_folder

    model_dir, out_dir = Path(model_dir), Path(out_dir)
    _validate_repo_id(repo_id)
    _check_folder(model_dir)
    if out_dir.exists() and not overwrite:
        raise FileExistsError(f"{out_dir} already exists (use --overwrite to replace it)")
    if out_dir.resolve() == model_dir.resolve():
        raise ValueError("the staging folder must differ from the model folder")
    with atomic_directory(out_dir) as tmp:
        for name in MODEL_FILES:
            if (model_dir / name).is_file():
                shutil.copy2(model_dir / name, tmp / name)
        for shard in model_dir.glob("model-*-of-*.safetensors"):
            shutil.copy2(shard, tmp / shard.name)
        for name in REMOTE_CODE:  # the folder's own copy matches its weights; fall back to this package's
            source = model_dir / name if (model_dir / name).is_file() else PACKAGE_DIR / name
            shutil.copy2(source, tmp / name)
        if not (tmp / "tokenizer.json").is_file():
            raise FileNotFoundError(f"{model_dir} has no tokenizer.json: save the tokenizer with the model")
        _ensure_auto_map(tmp / "config.json")
        card = build_model_card(model_dir, repo_id, license=license, datasets=datasets)
        for link in linked_files(card.text):  # e.g. loss_curve.png: a card must not point at a missing file
            source = (model_dir / link).resolve()
            if not source.is_file() or model_dir.resolve() not in source.parents:
                raise FileNotFoundError(f"the model card links {link}, which is not in {model_dir}")
            (tmp / link).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, tmp / link)
        card.save(tmp / "README.md")
        if space:
            shutil.copy2(PACKAGE_DIR / "serving" / "app.py", tmp / "app.py")
            shutil.copy2(PACKAGE_DIR / "generation.py", tmp / "generation.py")
            (tmp / "requirements.txt").write_text("\n".join(SPACE_REQUIREMENTS) + "\n")
    return out_dir


def _ensure_auto_map(config_path: Path) -> None:
    config: dict[str, Any] = json.loads(config_path.read_text())
    auto_map = dict(config.get("auto_map") or {})
    changed = False
    for key, value in AUTO_MAP.items():
        if key not in auto_map:
            auto_map[key] = value
            changed = True
    if changed:
        config["auto_map"] = auto_map
        config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def _validate_repo_id(repo_id: str) -> None:
    parts = repo_id.split("/")
    if len(parts) != 2 or not all(parts) or any(c.isspace() for c in repo_id):
        raise ValueError(f"repo id must look like USER/NAME, got {repo_id!r}")


def resolve_token(token: str | None = None) -> str:
    """An explicit token, else `HF_TOKEN`, else the stored `hf auth login` token; a clear error when none."""
    if token:
        return token
    from huggingface_hub import get_token

    found = get_token()
    if not found:
        raise ValueError("no Hugging Face token: set HF_TOKEN, pass --token, or run `hf auth login` "
                         "(use --stage-only OUT to build the folder without uploading)")
    return found


def push(
    folder: str | os.PathLike,
    repo_id: str,
    private: bool = False,
    token: str | None = None,
    api: HfApi | None = None,
    commit_message: str = "Upload TinySLM model",
) -> str:
    """Create the repo if needed and upload a staged folder in one commit; returns the commit URL."""
    folder = Path(folder)
    _validate_repo_id(repo_id)
    if not (folder / "config.json").is_file() or not (folder / "README.md").is_file():
        raise FileNotFoundError(f"{folder} is not a staged repo folder (run stage_repo / --stage-only first)")
    token = resolve_token(token)
    api = api if api is not None else HfApi(token=token)
    api.create_repo(repo_id=repo_id, private=private, exist_ok=True, repo_type="model", token=token)
    info = api.upload_folder(repo_id=repo_id, folder_path=str(folder), repo_type="model",
                             commit_message=commit_message, ignore_patterns=NEVER_UPLOAD, token=token)
    return str(getattr(info, "commit_url", None) or info)


__all__ = ["build_model_card", "push", "resolve_token", "stage_repo"]
