"""tinyslm_hf: a small language model that lives natively in the Hugging Face ecosystem.

Importing the package registers TinySLM with the Auto classes, so `AutoModelForCausalLM.from_pretrained(dir)` works
without `trust_remote_code` while the package is installed; saved folders also carry the remote code for users
who do not have it.
"""

from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
)

from .configuration_tinyslm import PRESETS, TinySLMConfig
from .modeling_tinyslm import (
    TinySLMForCausalLM,
    TinySLMForSequenceClassification,
    TinySLMModel,
    TinySLMPreTrainedModel,
)

__version__ = "0.1.0"

AutoConfig.register(TinySLMConfig.model_type, TinySLMConfig, exist_ok=True)
AutoModel.register(TinySLMConfig, TinySLMModel, exist_ok=True)
AutoModelForCausalLM.register(TinySLMConfig, TinySLMForCausalLM, exist_ok=True)
AutoModelForSequenceClassification.register(TinySLMConfig, TinySLMForSequenceClassification, exist_ok=True)

# `save_pretrained` then writes `auto_map` and copies configuration_/modeling_/kernels_tinyslm.py next to the weights.
TinySLMConfig.register_for_auto_class()
TinySLMModel.register_for_auto_class("AutoModel")
TinySLMForCausalLM.register_for_auto_class("AutoModelForCausalLM")
TinySLMForSequenceClassification.register_for_auto_class("AutoModelForSequenceClassification")

__all__ = [
    "PRESETS",
    "TinySLMConfig",
    "TinySLMPreTrainedModel",
    "TinySLMModel",
    "TinySLMForCausalLM",
    "TinySLMForSequenceClassification",
]
