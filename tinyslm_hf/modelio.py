"""Load and save a *model folder*: weights (safetensors), config, generation config, tokenizer and remote code.

Every user-facing verb (generate, serve, eval, export, excel) opens models through `load_model_and_tokenizer`, so
the checks for a broken or mismatched folder live in one place.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, GenerationConfig, PreTrainedModel, PreTrainedTokenizerBase

from .tokenization import check_vocab_compatible, load_tokenizer, stop_token_ids


def pick_device(device: str | None = None) -> torch.device:
    """`auto` (or None) -> cuda if available, else mps, else cpu."""
    if device in (None, "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(device)


DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
          "float16": torch.float16, "fp16": torch.float16}


@contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temp folder beside `path`; on success it replaces `path` in one rename, on any error it is
    deleted. Readers never see a half-written model, export or staging folder."""
    from .partial_files import partial_prefix, remove_stale_partials

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(path)  # what a killed earlier write of this folder left
    tmp = Path(tempfile.mkdtemp(prefix=partial_prefix(path), dir=path.parent))
    # mkdtemp makes the folder private (0700); a model folder is for sharing (other users, a container's user), so
    # it gets the permissions of any folder made here: 0777 less the umask.
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


GENERIC_FOLDER_NAMES = {"final", "model", "merged", "adapter"}


def model_name(path: str | os.PathLike) -> str:
    """What to call a model folder: its name, or its run's name for the generic folders training writes
    (`runs/shakespeare/final` is "shakespeare", not "final")."""
    path = Path(path).resolve()
    return path.parent.name if path.name in GENERIC_FOLDER_NAMES and path.parent.name else path.name


def _check_folder(path: Path) -> None:
    if not path.is_dir():
        raise FileNotFoundError(f"model folder not found: {path}")
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path} has no config.json: not a saved model folder")
    weights = list(path.glob("*.safetensors"))
    if not weights:
        pickles = [p.name for p in path.glob("*.bin")]
        hint = f" (found {pickles}; pickle checkpoints are refused for safety)" if pickles else ""
        raise FileNotFoundError(f"{path} has no .safetensors weights{hint}")
    from safetensors import safe_open

    for file in weights:
        try:
            # Opening parses the header and checks that the file covers every tensor it lists, which is what a
            # truncated or cut-off download fails.
            with safe_open(str(file), framework="pt"):
                pass
        except Exception as exc:  # safetensors raises its own error types
            raise ValueError(f"{file} is not a valid safetensors file (truncated or corrupt?): {exc}") from exc


def load_model_and_tokenizer(
    path: str | os.PathLike,
    device: str | None = "cpu",
    dtype: str | torch.dtype | None = None,
    int8: bool = False,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Open a model folder for inference: checks it, loads model + tokenizer, checks that they belong together."""
    path = Path(path)
    _check_folder(path)
    torch_dtype = DTYPES[dtype] if isinstance(dtype, str) else dtype
    model = AutoModelForCausalLM.from_pretrained(
        str(path), trust_remote_code=True, dtype=torch_dtype if torch_dtype is not None else "auto"
    )
    tokenizer = load_tokenizer(path)
    check_vocab_compatible(tokenizer, model.config)
    model.to(pick_device(device)).eval()
    if int8:
        from .quantize import quantize_int8  # a load option: int8 in memory, never on disk

        model = quantize_int8(model)
    return model, tokenizer


def save_model_folder(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase | None,
    path: str | os.PathLike,
    overwrite: bool = False,
) -> Path:
    """Write a complete model folder atomically (written to a temp dir, then renamed into place).

    Sets `use_cache=True` (the Trainer turns it off) and the generation config's eos/pad ids so `generate` and
    `pipeline` stop at end-of-text and at the end of a chat turn.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists (pass overwrite=True / --overwrite to replace it)")
    model.config.use_cache = True
    if tokenizer is not None:
        check_vocab_compatible(tokenizer, model.config)
        model.config.pad_token_id = tokenizer.pad_token_id
        model.config.bos_token_id = tokenizer.bos_token_id
        model.config.eos_token_id = tokenizer.eos_token_id
        gen = model.generation_config if model.generation_config is not None else GenerationConfig()
        gen.pad_token_id = tokenizer.pad_token_id
        gen.bos_token_id = tokenizer.bos_token_id
        gen.eos_token_id = stop_token_ids(tokenizer)
        model.generation_config = gen
    with atomic_directory(path) as tmp:
        model.save_pretrained(str(tmp))
        if tokenizer is not None:
            tokenizer.save_pretrained(str(tmp))
    return path


__all__ = ["DTYPES", "atomic_directory", "load_model_and_tokenizer", "pick_device", "save_model_folder"]
