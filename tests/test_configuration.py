import json

import pytest
from transformers import AutoConfig

import tinyslm_hf  # noqa: F401  (registers the Auto classes)
from tinyslm_hf import PRESETS, TinySLMConfig


def test_default_is_the_seed_model():
    config = TinySLMConfig()
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (256, 8, 4)
    assert config.intermediate_size == 1024 and config.mlp_type == "gelu" and config.hidden_act == "gelu_pytorch_tanh"
    assert config.position_embedding_type == "learned" and config.max_position_embeddings == 512
    assert config.norm_type == "layernorm" and config.vocab_size == 30000
    assert config.head_dim == 64 and config.num_key_value_heads == 4
    assert config.preset == "seed"


def test_modern_preset_switches():
    config = TinySLMConfig.from_preset("modern")
    assert config.position_embedding_type == "rope" and config.rope_parameters["rope_theta"] == 10000.0
    assert config.norm_type == "rmsnorm" and config.mlp_type == "swiglu" and config.hidden_act == "silu"
    assert config.num_key_value_heads < config.num_attention_heads and config.tie_word_embeddings
    assert config.preset == "modern"
    assert TinySLMConfig.from_preset("modern", hidden_size=128).hidden_size == 128
    assert set(PRESETS) == {"seed", "modern"}


def test_gpt2_aliases_map_to_hf_names():
    config = TinySLMConfig(n_embd=128, n_layer=3, n_head=2, n_positions=64)
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (128, 3, 2)
    assert config.max_position_embeddings == 64 and config.head_dim == 64


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(hidden_size=65), "hidden_size"),
        (dict(num_key_value_heads=3), "num_key_value_heads"),
        (dict(hidden_act="gelu_foo"), "hidden_act"),
        (dict(norm_type="batchnorm"), "norm_type"),
        (dict(mlp_type="moe"), "mlp_type"),
        (dict(position_embedding_type="alibi"), "position_embedding_type"),
        (dict(vocab_size=0), "vocab_size"),
        (dict(num_hidden_layers=-1), "num_hidden_layers"),
        (dict(max_position_embeddings=0), "max_position_embeddings"),
        (dict(hidden_size="big"), "hidden_size"),
        (dict(attention_dropout=1.0), "attention_dropout"),
        (dict(layer_norm_eps=0.0), "layer_norm_eps"),
        (dict(pad_token_id=30000), "pad_token_id"),
        (dict(eos_token_id=[0, 99999]), "eos_token_id"),
        (dict(head_dim=32), "head_dim"),
        (dict(fused_linear_cross_entropy="yes"), "fused_linear_cross_entropy"),
    ],
)
def test_invalid_values_raise_naming_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        TinySLMConfig(**kwargs)


def test_unknown_preset_is_rejected():
    with pytest.raises(ValueError, match="preset"):
        TinySLMConfig.from_preset("huge")


def test_round_trip_and_auto_config(tmp_path):
    config = TinySLMConfig.from_preset("modern", hidden_size=64, num_attention_heads=4, num_key_value_heads=1)
    config.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["model_type"] == "tinyslm" and saved["num_key_value_heads"] == 1
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(loaded, TinySLMConfig)
    assert loaded.to_diff_dict() == config.to_diff_dict()


def test_generation_params_do_not_leak_into_model_config():
    # Sampling defaults belong in generation_config.json; transformers refuses to save them in config.json.
    config = TinySLMConfig()
    assert not hasattr(config, "temperature") or config.to_diff_dict().get("temperature") is None


def test_learned_positions_do_not_present_themselves_as_rope(tmp_path):
    config = TinySLMConfig()
    assert config.rope_parameters is None and not hasattr(config, "rope_theta")
    assert "rope_parameters" not in config.to_dict()
    config.save_pretrained(tmp_path)
    assert "rope" not in (tmp_path / "config.json").read_text()
    # A folder saved before this check carried plain RoPE defaults: it still loads, without them.
    saved = json.loads((tmp_path / "config.json").read_text())
    saved["rope_parameters"] = {"rope_theta": 10000.0, "rope_type": "default"}
    (tmp_path / "config.json").write_text(json.dumps(saved))
    assert TinySLMConfig.from_pretrained(tmp_path).rope_parameters is None
    assert TinySLMConfig.from_preset("modern").rope_parameters["rope_type"] == "default"


def test_rope_scaling_on_learned_positions_is_refused():
    with pytest.raises(ValueError, match="rope_parameters.*learned positions"):
        TinySLMConfig(rope_parameters={"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0})
