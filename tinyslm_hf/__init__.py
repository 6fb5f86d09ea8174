"""tinyslm_hf: a small language model that lives natively in the Hugging Face ecosystem.

Importing the package registers TinySLM with the Auto classes, so `AutoModelForCausalLM.from_pretrained(dir)` works
without `trust_remote_code` while the package is installed; saved folders also carry the remote code for users
who do not have it.

One importer is spared that: the `tinyslm` command, whose `--help` must not wait seconds for torch and transformers.
Its parser is built from torch-free modules, and `cli.main` registers the Auto classes itself before a verb runs.
The public names below are resolved on first use either way.
"""

import os
import sys

__version__ = "0.1.0"

_PUBLIC = {
    "PRESETS": "configuration_tinyslm",
    "TinySLMConfig": "configuration_tinyslm",
    "TinySLMPreTrainedModel": "modeling_tinyslm",
    "TinySLMModel": "modeling_tinyslm",
    "TinySLMForCausalLM": "modeling_tinyslm",
    "TinySLMForSequenceClassification": "modeling_tinyslm",
}

__all__ = list(_PUBLIC)


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'tinyslm_hf' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
    globals()[name] = value
    return value


def register_auto_classes() -> None:
    """Register TinySLM with AutoConfig / AutoModel / AutoModelForCausalLM / ...SequenceClassification (idempotent),
    and mark the classes so `save_pretrained` writes `auto_map` and copies the modeling code next to the weights."""
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForSequenceClassification

    from .configuration_tinyslm import TinySLMConfig
    from .modeling_tinyslm import TinySLMForCausalLM, TinySLMForSequenceClassification, TinySLMModel

    AutoConfig.register(TinySLMConfig.model_type, TinySLMConfig, exist_ok=True)
    AutoModel.register(TinySLMConfig, TinySLMModel, exist_ok=True)
    AutoModelForCausalLM.register(TinySLMConfig, TinySLMForCausalLM, exist_ok=True)
    AutoModelForSequenceClassification.register(TinySLMConfig, TinySLMForSequenceClassification, exist_ok=True)
    TinySLMConfig.register_for_auto_class()
    TinySLMModel.register_for_auto_class("AutoModel")
    TinySLMForCausalLM.register_for_auto_class("AutoModelForCausalLM")
    TinySLMForSequenceClassification.register_for_auto_class("AutoModelForSequenceClassification")


def _imported_by_the_command() -> bool:
    """True while the `tinyslm` console script (the file pip writes, `tinyslm` / `tinyslm.exe` / `tinyslm-script.py`)
    is starting: it imports this package only to reach `cli.main`."""
    main_file = getattr(sys.modules.get("__main__"), "__file__", None) or ""
    return os.path.splitext(os.path.basename(main_file))[0] in ("tinyslm", "tinyslm-script")


if not _imported_by_the_command():
    register_auto_classes()
