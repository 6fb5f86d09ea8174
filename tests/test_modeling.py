"""Correctness of the TinySLM model: each test fails if the property it names breaks."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from conftest import tiny_config
from transformers import (
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
    DynamicCache,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    StaticCache,
)

from tinyslm_hf import TinySLMForCausalLM, TinySLMForSequenceClassification, TinySLMModel
from tinyslm_hf.modeling_tinyslm import _CACHE_FIELD

PRESETS = ["seed", "modern"]


def make_model(preset: str, seed: int = 0, attn: str = "eager", **overrides) -> TinySLMForCausalLM:
    """A tiny model with a large init std so logits differ clearly between tokens (no near-ties)."""
    torch.manual_seed(seed)
    config = tiny_config(preset, vocab_size=97, **{"initializer_range": 0.3, **overrides})
    config._attn_implementation = attn
    return TinySLMForCausalLM(config).eval()


def cache_of(output):
    return output.cache if "cache" in output else output.past_key_values


@pytest.mark.parametrize("preset", PRESETS)
def test_every_matrix_starts_at_the_configured_init_std(preset):
    # The documented init (modeling `_init_weights`): Normal(0, initializer_range) for every projection, the residual
    # output ones included. A module-level rule on the attention or MLP module is never run for remote code
    # (transformers marks parameter-less modules initialised without calling `_init_weights`), so a rule there
    # would be silently dead; this pins what a fresh model really holds.
    torch.manual_seed(0)
    model = TinySLMForCausalLM(tiny_config(preset, hidden_size=128, num_hidden_layers=4, initializer_range=0.05))
    stds = {name: p.std().item() for name, p in model.named_parameters() if p.ndim == 2}
    assert any("o_proj" in n for n in stds) and any("down_proj" in n for n in stds)
    for name, std in stds.items():
        assert std == pytest.approx(0.05, rel=0.1), name


@pytest.mark.parametrize("preset", PRESETS)
def test_causality_future_tokens_do_not_change_past_logits(preset):
    model = make_model(preset)
    ids = torch.randint(0, 97, (2, 20))
    changed = ids.clone()
    changed[:, 11:] = torch.randint(0, 97, (2, 9))
    with torch.no_grad():
        a, b = model(ids).logits, model(changed).logits
    torch.testing.assert_close(a[:, :11], b[:, :11], rtol=0, atol=1e-5)
    assert (a[:, 11:] - b[:, 11:]).abs().max() > 1e-3  # and the future did change


def gpt2_from_seed(model: TinySLMForCausalLM) -> GPT2LMHeadModel:
    c = model.config
    ref = GPT2LMHeadModel(
        GPT2Config(
            vocab_size=c.vocab_size,
            n_positions=c.max_position_embeddings,
            n_embd=c.hidden_size,
            n_layer=c.num_hidden_layers,
            n_head=c.num_attention_heads,
            n_inner=c.intermediate_size,
            activation_function=c.hidden_act,
            layer_norm_epsilon=c.layer_norm_eps,
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=0.0,
            tie_word_embeddings=True,
        )
    ).eval()
    src = model.state_dict()
    dst = {"transformer.wte.weight": src["model.embed_tokens.weight"],
           "transformer.wpe.weight": src["model.embed_positions.weight"],
           "transformer.ln_f.weight": src["model.norm.weight"], "transformer.ln_f.bias": src["model.norm.bias"]}
    for i in range(c.num_hidden_layers):
        p, q = f"model.layers.{i}.", f"transformer.h.{i}."
        # GPT-2 fuses q, k, v into one Conv1D whose weight is stored (in, out): transpose our Linear weights.
        dst[q + "attn.c_attn.weight"] = torch.cat(
            [src[p + f"self_attn.{n}_proj.weight"].T for n in "qkv"], dim=1)
        dst[q + "attn.c_attn.bias"] = torch.cat([src[p + f"self_attn.{n}_proj.bias"] for n in "qkv"])
        dst[q + "attn.c_proj.weight"] = src[p + "self_attn.o_proj.weight"].T
        dst[q + "attn.c_proj.bias"] = src[p + "self_attn.o_proj.bias"]
        dst[q + "mlp.c_fc.weight"] = src[p + "mlp.up_proj.weight"].T
        dst[q + "mlp.c_fc.bias"] = src[p + "mlp.up_proj.bias"]
        dst[q + "mlp.c_proj.weight"] = src[p + "mlp.down_proj.weight"].T
        dst[q + "mlp.c_proj.bias"] = src[p + "mlp.down_proj.bias"]
        for ours, theirs in (("input_layernorm", "ln_1"), ("post_attention_layernorm", "ln_2")):
            dst[q + theirs + ".weight"] = src[p + ours + ".weight"]
            dst[q + theirs + ".bias"] = src[p + ours + ".bias"]
    missing, unexpected = ref.load_state_dict(dst, strict=False)
    assert not unexpected and all(k == "lm_head.weight" or ".attn.bias" in k or "masked_bias" in k for k in missing)
    return ref


@pytest.mark.parametrize("act", ["gelu_pytorch_tanh", "gelu"])  # GPT-2's tanh form (the seed's), and exact erf
def test_seed_preset_equals_gpt2_with_the_same_weights(act):
    model = make_model("seed", initializer_range=0.1, hidden_act=act)
    ref = gpt2_from_seed(model)
    ids = torch.randint(0, 97, (3, 40))
    with torch.no_grad():
        ours, theirs = model(ids).logits, ref(ids).logits
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


def test_seed_mlp_is_gpt2_tanh_gelu():
    """The seed's default activation is GPT-2's tanh GELU (which llama.cpp's gpt2 architecture computes), not the
    exact erf form it differs from by up to 4.7e-4: a swapped default would change what exports and GPT-2 compute."""
    mlp = make_model("seed", initializer_range=0.5).model.layers[0].mlp
    x = torch.randn(4, 32) * 4
    with torch.no_grad():
        up = mlp.up_proj(x)
        tanh = mlp.down_proj(torch.nn.functional.gelu(up, approximate="tanh"))
        exact = mlp.down_proj(torch.nn.functional.gelu(up))
        torch.testing.assert_close(mlp(x), tanh, rtol=0, atol=1e-6)
        assert (mlp(x) - exact).abs().max() > 1e-5


def test_seed_matches_gpt2_with_left_padding_via_position_ids():
    model = make_model("seed", initializer_range=0.1)
    ref = gpt2_from_seed(model)
    ids = torch.randint(2, 97, (2, 12))
    mask = torch.ones_like(ids)
    mask[0, :4] = 0
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        ours = model(ids, attention_mask=mask).logits  # positions derived from the mask
        theirs = ref(ids, attention_mask=mask, position_ids=pos).logits
    torch.testing.assert_close(ours[mask.bool()], theirs[mask.bool()], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kv_heads", [4, 2, 1])
def test_modern_preset_equals_llama_with_the_same_weights(kv_heads):
    model = make_model("modern", initializer_range=0.1, num_key_value_heads=kv_heads)
    c = model.config
    ref = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=c.vocab_size,
            hidden_size=c.hidden_size,
            intermediate_size=c.intermediate_size,
            num_hidden_layers=c.num_hidden_layers,
            num_attention_heads=c.num_attention_heads,
            num_key_value_heads=c.num_key_value_heads,
            max_position_embeddings=c.max_position_embeddings,
            rms_norm_eps=c.layer_norm_eps,
            rope_parameters=dict(c.rope_parameters),
            tie_word_embeddings=True,
            hidden_act="silu",
        )
    ).eval()
    # Same module names as Llama by design, so the state dict loads as is.
    ref.load_state_dict(model.state_dict(), strict=True)
    ids = torch.randint(0, 97, (2, 33))
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, ref(ids).logits, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kv_heads", [4, 2])
def test_modern_preset_with_qk_norm_equals_qwen3_with_the_same_weights(kv_heads):
    """QK-norm (`tinyslm train`'s default) is Qwen3's: RMSNorm over each head's queries and keys, before RoPE."""
    from transformers import Qwen3Config, Qwen3ForCausalLM

    model = make_model("modern", initializer_range=0.1, num_key_value_heads=kv_heads, qk_norm=True)
    with torch.no_grad():  # norm scales other than 1, so a q/k norm left out or swapped shows in the logits
        for layer in model.model.layers:
            layer.self_attn.q_norm.weight.uniform_(0.5, 1.5)
            layer.self_attn.k_norm.weight.uniform_(0.5, 1.5)
    c = model.config
    ref = Qwen3ForCausalLM(
        Qwen3Config(
            vocab_size=c.vocab_size, hidden_size=c.hidden_size, intermediate_size=c.intermediate_size,
            num_hidden_layers=c.num_hidden_layers, num_attention_heads=c.num_attention_heads,
            num_key_value_heads=c.num_key_value_heads, head_dim=c.head_dim,
            max_position_embeddings=c.max_position_embeddings, rms_norm_eps=c.layer_norm_eps,
            rope_parameters=dict(c.rope_parameters), tie_word_embeddings=True, hidden_act="silu",
            attention_bias=False, use_sliding_window=False,
        )
    ).eval()
    ref.load_state_dict(model.state_dict(), strict=True)  # Qwen3's module names, q_norm / k_norm included
    ids = torch.randint(0, 97, (2, 33))
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, ref(ids).logits, rtol=1e-5, atol=1e-5)
        plain = copy.deepcopy(model)
        plain.config.qk_norm = False  # the copy's modules share its config
        assert not torch.allclose(plain(ids).logits, model(ids).logits, atol=1e-3)  # the norms do act


def manual_attention_logits(model: TinySLMForCausalLM, ids: torch.Tensor) -> torch.Tensor:
    """The seed forward written out by hand: explicit head split, causal mask, 1/sqrt(head_dim) scaling."""
    c, m = model.config, model.model
    B, T = ids.shape
    H, D = c.num_attention_heads, c.head_dim
    x = m.embed_tokens(ids) + m.embed_positions(torch.arange(T))
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    for layer in m.layers:
        h = layer.input_layernorm(x)
        a = layer.self_attn
        q, k, v = (proj(h).view(B, T, H, D).permute(0, 2, 1, 3) for proj in (a.q_proj, a.k_proj, a.v_proj))
        scores = (q @ k.transpose(-1, -2)) / D**0.5
        scores = scores.masked_fill(~causal, float("-inf"))
        out = (scores.softmax(-1) @ v).permute(0, 2, 1, 3).reshape(B, T, H * D)
        x = x + a.o_proj(out)
        x = x + layer.mlp(layer.post_attention_layernorm(x))
    return model.lm_head(m.norm(x))


def test_attention_head_split_and_scaling_match_a_hand_written_reference():
    model = make_model("seed")
    ids = torch.randint(0, 97, (2, 16))
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, manual_attention_logits(model, ids), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("preset", PRESETS)
def test_eager_equals_sdpa(preset):
    eager = make_model(preset, attn="eager")
    sdpa = copy.deepcopy(eager)
    sdpa.config._attn_implementation = "sdpa"
    ids = torch.randint(0, 97, (2, 24))
    mask = torch.ones_like(ids)
    mask[1, :5] = 0
    with torch.no_grad():
        torch.testing.assert_close(eager(ids).logits, sdpa(ids).logits, rtol=1e-5, atol=1e-5)
        a = eager(ids, attention_mask=mask).logits[mask.bool()]
        b = sdpa(ids, attention_mask=mask).logits[mask.bool()]
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_sdpa_without_padding_gets_no_materialised_mask(monkeypatch):
    """Without padding, sdpa runs its causal fast path (is_causal, no [batch, 1, q, k] mask built); padding gives it a
    mask. Both in training and in cached decoding."""
    import tinyslm_hf.modeling_tinyslm as modeling

    masks = []
    sdpa = modeling.ALL_ATTENTION_FUNCTIONS["sdpa"]

    def spy(module, query, key, value, attention_mask, **kwargs):
        masks.append(attention_mask)
        return sdpa(module, query, key, value, attention_mask, **kwargs)

    monkeypatch.setitem(modeling.ALL_ATTENTION_FUNCTIONS._global_mapping, "sdpa", spy)
    model = make_model("seed", attn="sdpa").train()
    ids = torch.randint(0, 97, (2, 10))
    model(ids, labels=ids)
    model(ids, attention_mask=torch.ones_like(ids), labels=ids)
    model.eval().generate(ids[:, :4], max_new_tokens=3, do_sample=False, pad_token_id=0)
    assert masks and all(mask is None for mask in masks)
    padded = torch.ones_like(ids)
    padded[0, -3:] = 0
    masks.clear()
    model(ids, attention_mask=padded)
    assert masks[0] is not None and masks[0].shape[-2:] == (10, 10)


@pytest.mark.parametrize("preset", PRESETS)
def test_incremental_decoding_with_cache_equals_full_forward(preset):
    model = make_model(preset)
    ids = torch.randint(0, 97, (2, 18))
    with torch.no_grad():
        full = model(ids, use_cache=False).logits
        out = model(ids[:, :10], use_cache=True, past_key_values=DynamicCache(config=model.config))
        steps = [out.logits]
        cache = cache_of(out)
        assert cache.get_seq_length() == 10
        for t in range(10, 18):
            out = model(ids[:, t : t + 1], past_key_values=cache, use_cache=True)
            cache = cache_of(out)
            steps.append(out.logits)
    torch.testing.assert_close(torch.cat(steps, dim=1), full, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("preset", PRESETS)
def test_generate_with_and_without_cache_agree(preset):
    model = make_model(preset)
    ids = torch.randint(2, 97, (1, 6))
    kw = dict(max_new_tokens=20, do_sample=False, pad_token_id=1)
    with torch.no_grad():
        cached = model.generate(ids, use_cache=True, **kw)
        uncached = model.generate(ids, use_cache=False, **kw)
        manual = ids
        for _ in range(20):  # full recompute argmax loop
            manual = torch.cat([manual, model(manual).logits[:, -1:].argmax(-1)], dim=1)
    assert torch.equal(cached, uncached)
    assert torch.equal(cached, manual)
    assert len(set(cached[0, 6:].tolist())) > 1  # a non-degenerate continuation


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_left_padded_batch_generates_like_each_prompt_alone(preset, attn):
    model = make_model(preset, attn=attn)
    prompts = [torch.randint(2, 97, (n,)) for n in (3, 9, 6)]
    width = max(len(p) for p in prompts)
    ids = torch.full((3, width), 1)
    mask = torch.zeros((3, width), dtype=torch.long)
    for row, p in enumerate(prompts):
        ids[row, width - len(p) :] = p
        mask[row, width - len(p) :] = 1
    kw = dict(max_new_tokens=12, do_sample=False, pad_token_id=1)
    with torch.no_grad():
        batched = model.generate(ids, attention_mask=mask, **kw)[:, width:]
        for row, p in enumerate(prompts):
            alone = model.generate(p[None], **kw)[0, len(p) :]
            assert torch.equal(batched[row], alone), f"row {row} differs"


def test_static_cache_generation_matches_dynamic():
    model = make_model("modern")
    ids = torch.randint(2, 97, (2, 5))
    kw = dict(max_new_tokens=10, do_sample=False, pad_token_id=1)
    with torch.no_grad():
        dynamic = model.generate(ids, **kw)
        static = model.generate(ids, cache_implementation="static", **kw)
    assert torch.equal(dynamic, static)


@pytest.mark.parametrize("preset", PRESETS)
def test_static_cache_decode_step_compiles_to_one_graph_and_matches(preset):
    """fullgraph=True raises on any graph break; the static cache reports its length as a tensor, which must not be
    turned into Python ints (positions are derived from it when the caller passes no position_ids)."""
    model = make_model(preset)
    ids = torch.randint(2, 97, (2, 9))
    with torch.no_grad():
        full = model(ids).logits
        cache = StaticCache(config=model.config, max_cache_len=16)
        model(ids[:, :8], **{_CACHE_FIELD: cache})
        step = torch.compile(model, backend="eager", fullgraph=True)
        logits = step(ids[:, 8:], **{_CACHE_FIELD: cache}).logits
    torch.testing.assert_close(logits[:, -1], full[:, -1], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("preset", PRESETS)
def test_loss_is_shifted_cross_entropy_that_ignores_minus_100(preset):
    model = make_model(preset)
    ids = torch.randint(0, 97, (2, 12))
    labels = ids.clone()
    labels[0, :4] = -100
    labels[1, -3:] = -100
    out = model(ids, labels=labels)
    logits = out.logits[:, :-1].reshape(-1, 97)
    target = labels[:, 1:].reshape(-1)
    expected = F.cross_entropy(logits.float(), target, ignore_index=-100)
    torch.testing.assert_close(out.loss, expected, rtol=1e-5, atol=1e-6)
    # With the Trainer's `num_items_in_batch` the loss is a sum over the whole accumulated batch, divided once.
    n_items = torch.tensor(40)
    summed = F.cross_entropy(logits.float(), target, ignore_index=-100, reduction="sum")
    torch.testing.assert_close(model(ids, labels=labels, num_items_in_batch=n_items).loss, summed / 40)


def _loss_and_grads(model, ids, labels, dtype, **kwargs):
    model.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32):
        out = model(ids, labels=labels, **kwargs)
    (3.0 * out.loss).backward()  # an upstream gradient other than 1, as gradient accumulation and DDP scaling give
    return out, {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("tied", [True, False])
def test_fused_linear_cross_entropy_matches_the_unfused_loss_and_gradients(preset, dtype, tied):
    """The fused LM head + loss of training steps gives transformers' loss and the same gradients for every weight,
    with ignored labels, the Trainer's num_items_in_batch and under bf16 autocast; it returns no logits."""
    fused = make_model(preset, tie_word_embeddings=tied).train()
    unfused = copy.deepcopy(fused)
    unfused.config.fused_linear_cross_entropy = False
    ids = torch.randint(0, 97, (3, 40))
    labels = ids.clone()
    labels[0, :9] = -100
    labels[2, -5:] = -100
    shifted = torch.cat([labels[:, 1:], torch.full((3, 1), -100)], dim=1)
    for kwargs in ({}, {"num_items_in_batch": torch.tensor(150)}, {"num_items_in_batch": 150},
                   {"shift_labels": shifted}):
        got, got_grads = _loss_and_grads(fused, ids, labels, dtype, **kwargs)
        want, want_grads = _loss_and_grads(unfused, ids, labels, dtype, **kwargs)
        assert got.logits is None and want.logits is not None
        assert got_grads.keys() == want_grads.keys()
        if dtype == torch.float32:
            torch.testing.assert_close(got.loss, want.loss, rtol=1e-5, atol=1e-6)
            for name in want_grads:
                torch.testing.assert_close(got_grads[name], want_grads[name], rtol=1e-5, atol=1e-6, msg=name)
        else:  # both round to bf16, at different points: each must be as close to the fp32 gradients as the other
            torch.testing.assert_close(got.loss, want.loss, rtol=1e-3, atol=1e-3)
            _, exact = _loss_and_grads(unfused, ids, labels, torch.float32, **kwargs)
            for name in want_grads:
                error = [(grads[name] - exact[name]).norm() / exact[name].norm() for grads in (got_grads, want_grads)]
                assert error[0] < 2 * error[1] + 1e-3, (name, error)


def test_fused_loss_over_many_blocks_equals_cross_entropy_of_the_logits():
    """Rows are processed in blocks of 2**20 // vocab; a large vocabulary makes several blocks and a ragged last one."""
    from tinyslm_hf.kernels_tinyslm import fused_linear_cross_entropy

    torch.manual_seed(0)
    vocab = 2**20 // 7 + 3  # 7 rows per block
    hidden = torch.randn(2, 12, 8, requires_grad=True)
    weight = (0.1 * torch.randn(vocab, 8)).requires_grad_()
    labels = torch.randint(0, vocab, (2, 12))
    labels[1, 2] = -100
    loss = fused_linear_cross_entropy(hidden, weight, labels)
    grads = torch.autograd.grad(loss, (hidden, weight))
    logits = hidden[:, :-1].reshape(-1, 8) @ weight.t()
    expected = F.cross_entropy(logits, labels[:, 1:].reshape(-1), ignore_index=-100)
    torch.testing.assert_close(loss, expected)
    for got, want in zip(grads, torch.autograd.grad(expected, (hidden, weight))):
        torch.testing.assert_close(got, want)


def test_fused_loss_with_no_targets_is_nan_like_transformers_but_leaves_zero_gradients():
    fused = make_model("seed").train()
    unfused = copy.deepcopy(fused)
    unfused.config.fused_linear_cross_entropy = False
    ids = torch.randint(0, 97, (2, 6))
    labels = torch.full_like(ids, -100)
    got, got_grads = _loss_and_grads(fused, ids, labels, torch.float32)
    want = unfused(ids, labels=labels)
    assert torch.isnan(got.loss) and torch.isnan(want.loss)
    assert got_grads and all(torch.count_nonzero(g) == 0 for g in got_grads.values())


def test_fused_loss_cannot_be_differentiated_twice():
    from tinyslm_hf.kernels_tinyslm import fused_linear_cross_entropy

    hidden = torch.randn(1, 5, 8, requires_grad=True)
    weight = torch.randn(11, 8, requires_grad=True)
    loss = fused_linear_cross_entropy(hidden, weight, torch.randint(0, 11, (1, 5)))
    (grad,) = torch.autograd.grad(loss, hidden, create_graph=True)
    with pytest.raises(RuntimeError):
        grad.sum().backward()


def test_fused_loss_is_used_only_for_training_steps():
    model = make_model("seed").train()
    ids = torch.randint(0, 97, (2, 10))
    assert model(ids, labels=ids).logits is None
    with torch.no_grad():  # e.g. the Trainer's evaluation loop: logits are needed for metrics
        assert model(ids, labels=ids).logits.shape == (2, 10, 97)
    # fp16 keeps the unfused path (its fused gradient would underflow before the loss scaler's factor arrives)
    with torch.autocast("cpu", dtype=torch.float16):
        assert model(ids, labels=ids).logits is not None
    model.config.fused_linear_cross_entropy = False
    assert model(ids, labels=ids).logits.shape == (2, 10, 97)
    model.config.fused_linear_cross_entropy = True
    model.eval()
    assert model(ids, labels=ids).logits.shape == (2, 10, 97)


def test_fused_loss_skips_the_gradient_of_a_frozen_head():
    model = make_model("seed", tie_word_embeddings=False).train()
    model.lm_head.weight.requires_grad_(False)
    ids = torch.randint(0, 97, (2, 10))
    model(ids, labels=ids).loss.backward()
    assert model.lm_head.weight.grad is None
    assert model.model.embed_tokens.weight.grad is not None


class _WrappedLinear(torch.nn.Linear):
    """Stands for a wrapped projection (LoRA, quantised): not a plain nn.Linear, so q/k/v run one by one."""


@pytest.mark.parametrize("preset", PRESETS)
def test_fused_projections_in_training_equal_separate_ones(preset):
    """Training runs q/k/v (and SwiGLU's gate/up) as one matmul over concatenated weights: same loss and gradients
    as separate projections, and the one-by-one path is what wrapped projections and inference get."""
    fused = make_model(preset).train()
    separate = copy.deepcopy(fused)
    for layer in separate.model.layers:
        layer.self_attn.q_proj.__class__ = _WrappedLinear
        layer.mlp.up_proj.__class__ = _WrappedLinear
    ids = torch.randint(0, 97, (2, 12))
    got, got_grads = _loss_and_grads(fused, ids, ids, torch.float32)
    want, want_grads = _loss_and_grads(separate, ids, ids, torch.float32)
    torch.testing.assert_close(got.loss, want.loss, rtol=1e-6, atol=1e-6)
    for name in want_grads:
        # float rounding only: the gradients reach ~3, and the two paths sum in different orders
        torch.testing.assert_close(got_grads[name], want_grads[name], rtol=1e-5, atol=1e-5, msg=name)
    fused.eval()
    with_grad = fused(ids).logits
    with torch.no_grad():
        torch.testing.assert_close(fused(ids).logits, with_grad.detach(), rtol=1e-5, atol=1e-5)


def test_gradient_accumulation_matches_one_big_batch():
    """Two micro-batches with num_items_in_batch give the gradient of one batch with uneven label counts."""
    model = make_model("seed")
    model.train()
    ids = torch.randint(0, 97, (4, 10))
    labels = ids.clone()
    labels[0, :7] = -100  # uneven numbers of labels per micro-batch
    model.zero_grad()
    model(ids, labels=labels).loss.backward()
    big = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    n_items = (labels[:, 1:] != -100).sum()
    for part in (slice(0, 2), slice(2, 4)):
        model(ids[part], labels=labels[part], num_items_in_batch=n_items).loss.backward()
    for a, b in zip(big, [p.grad for p in model.parameters()]):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("preset", PRESETS)
def test_gradient_checkpointing_gives_the_same_gradients(preset):
    model = make_model(preset)
    model.train()
    ids = torch.randint(0, 97, (2, 16))
    model(ids, labels=ids).loss.backward()
    plain = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    model.gradient_checkpointing_enable()
    assert model.is_gradient_checkpointing
    model(ids, labels=ids).loss.backward()
    for name, param in model.named_parameters():
        torch.testing.assert_close(param.grad, plain[name], rtol=1e-5, atol=1e-7, msg=name)


@pytest.mark.parametrize("preset", PRESETS)
def test_tied_embeddings(preset):
    model = make_model(preset)
    assert model.lm_head.weight is model.model.embed_tokens.weight
    untied = make_model(preset, tie_word_embeddings=False)
    assert untied.lm_head.weight.data_ptr() != untied.model.embed_tokens.weight.data_ptr()


def test_outputs_hidden_states_attentions_and_tuples():
    model = make_model("seed")
    ids = torch.randint(0, 97, (2, 7))
    out = model(ids, output_hidden_states=True, output_attentions=True)
    assert len(out.hidden_states) == model.config.num_hidden_layers + 1
    assert len(out.attentions) == model.config.num_hidden_layers
    assert out.attentions[0].shape == (2, 4, 7, 7)
    # Each attention row sums to one and the upper triangle (the future) gets no weight.
    torch.testing.assert_close(out.attentions[0].sum(-1), torch.ones(2, 4, 7))
    assert out.attentions[0].triu(1).abs().max() == 0
    as_tuple = model(ids, return_dict=False, use_cache=False)
    assert isinstance(as_tuple, tuple)
    torch.testing.assert_close(as_tuple[0], out.logits)


def test_logits_to_keep_returns_only_the_last_positions():
    model = make_model("modern")
    ids = torch.randint(0, 97, (2, 9))
    with torch.no_grad():
        full = model(ids).logits
        last = model(ids, logits_to_keep=1).logits
    assert last.shape == (2, 1, 97)
    torch.testing.assert_close(last, full[:, -1:])


def test_resize_token_embeddings_keeps_tie_and_old_rows():
    model = make_model("seed")
    old = model.model.embed_tokens.weight[:97].clone()
    model.resize_token_embeddings(120)
    assert model.config.vocab_size == 120
    assert model.lm_head.weight.shape[0] == 120 and model.lm_head.weight is model.model.embed_tokens.weight
    torch.testing.assert_close(model.model.embed_tokens.weight[:97], old)
    assert model(torch.tensor([[119, 3]])).logits.shape == (1, 2, 120)


def test_input_longer_than_learned_positions_raises_clearly():
    model = make_model("seed")
    with pytest.raises(ValueError, match="max_position_embeddings"):
        model(torch.randint(0, 97, (1, 65)))


def test_inputs_embeds_equal_input_ids():
    model = make_model("modern")
    ids = torch.randint(0, 97, (1, 8))
    with torch.no_grad():
        torch.testing.assert_close(
            model(inputs_embeds=model.model.embed_tokens(ids)).logits, model(input_ids=ids).logits
        )
    with pytest.raises(ValueError, match="exactly one"):
        model()


def test_auto_classes_resolve_to_tinyslm():
    config = tiny_config("seed")
    assert type(AutoModelForCausalLM.from_config(config)) is TinySLMForCausalLM
    assert type(AutoModel.from_config(config)) is TinySLMModel
    classifier = AutoModelForSequenceClassification.from_config(tiny_config("seed", num_labels=3, pad_token_id=1))
    assert type(classifier) is TinySLMForSequenceClassification


def test_sequence_classification_uses_last_non_pad_token():
    torch.manual_seed(0)
    model = TinySLMForSequenceClassification(tiny_config("modern", num_labels=3, pad_token_id=1)).eval()
    ids = torch.tensor([[5, 6, 7, 1, 1], [5, 6, 7, 8, 9]])
    out = model(ids, labels=torch.tensor([0, 2]))
    assert out.logits.shape == (2, 3) and out.loss.ndim == 0
    alone = model(ids[:1, :3]).logits
    torch.testing.assert_close(out.logits[:1], alone, rtol=1e-5, atol=1e-6)


def test_continuous_batching_generate_batch_matches_generate():
    """transformers' paged-cache continuous batching packs requests into one row; each must get its own tokens."""
    from transformers import GenerationConfig

    model = make_model("seed", attn="sdpa")
    prompts = [[5, 6, 7], [8, 9, 10, 11, 12], [40]]
    config = GenerationConfig(max_new_tokens=6, do_sample=False, eos_token_id=None, pad_token_id=1)
    out = model.generate_batch(inputs=prompts, generation_config=config)
    with torch.no_grad():
        expected = [model.generate(torch.tensor([p]), max_new_tokens=6, do_sample=False, pad_token_id=1)[0, len(p):]
                    .tolist() for p in prompts]
    assert [out[k].generated_tokens for k in sorted(out)] == expected


ROPE_TYPES = {
    "default": {},
    "linear": {"factor": 2.0},
    "dynamic": {"factor": 2.0},
    "yarn": {"factor": 4.0, "original_max_position_embeddings": 16},
    "longrope": {"short_factor": [1.0, 1.1, 1.3, 1.6], "long_factor": [1.0, 2.0, 3.0, 4.5],
                 "original_max_position_embeddings": 8},
    "llama3": {"factor": 4.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8},
}


def _llama_twin(model: TinySLMForCausalLM) -> LlamaForCausalLM:
    c = model.config
    ref = LlamaForCausalLM(LlamaConfig(
        vocab_size=c.vocab_size, hidden_size=c.hidden_size, intermediate_size=c.intermediate_size,
        num_hidden_layers=c.num_hidden_layers, num_attention_heads=c.num_attention_heads,
        num_key_value_heads=c.num_key_value_heads, max_position_embeddings=c.max_position_embeddings,
        rms_norm_eps=c.layer_norm_eps, rope_parameters=copy.deepcopy(c.rope_parameters), tie_word_embeddings=True,
        hidden_act="silu",
    )).eval()
    ref.load_state_dict(model.state_dict(), strict=True)
    return ref


@pytest.mark.parametrize("rope_type", sorted(ROPE_TYPES))
def test_every_rope_type_runs_past_the_trained_context_exactly_like_llama(rope_type):
    """Each scaling type through transformers' own RoPE functions, on sequences 2.5x max_position_embeddings."""
    rope = {"rope_type": rope_type, "rope_theta": 10000.0, **ROPE_TYPES[rope_type]}
    model = make_model("modern", initializer_range=0.1, max_position_embeddings=16, rope_parameters=rope)
    assert model.model.rotary_emb.rope_type == rope_type
    ref = _llama_twin(model)
    ids = torch.randint(0, 97, (2, 40))
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, ref(ids).logits, rtol=1e-5, atol=1e-5)
        # and token by token through the cache, where dynamic / longrope switch frequencies as the sequence grows
        ours = model.generate(ids[:, :4], max_new_tokens=30, min_new_tokens=30, do_sample=False)
        theirs = ref.generate(ids[:, :4], max_new_tokens=30, min_new_tokens=30, do_sample=False)
    assert torch.equal(ours, theirs)


def test_dynamic_rope_scaling_changes_only_positions_beyond_the_trained_context():
    default = make_model("modern", max_position_embeddings=16)
    dynamic = make_model("modern", max_position_embeddings=16,
                         rope_parameters={"rope_type": "dynamic", "rope_theta": 10000.0, "factor": 2.0})
    dynamic.load_state_dict(default.state_dict())
    short, long = torch.randint(0, 97, (1, 12)), torch.randint(0, 97, (1, 30))
    with torch.no_grad():
        torch.testing.assert_close(dynamic(short).logits, default(short).logits)
        assert (dynamic(long).logits - default(long).logits).abs().max() > 1e-3


def test_old_cache_argument_name_still_works_with_a_deprecation_warning():
    import transformers.modeling_outputs as outputs

    model = make_model("modern")
    ids = torch.randint(0, 97, (1, 5))
    if "cache" not in outputs.BaseModelOutputWithPast.__dataclass_fields__:
        pytest.skip("this transformers release still calls it past_key_values")
    with pytest.warns(FutureWarning, match="past_key_values"):
        out = model(ids, past_key_values=DynamicCache(config=model.config), use_cache=True)
    assert out.cache.get_seq_length() == 5


def test_tensor_parallel_plan_names_only_existing_modules():
    for preset in PRESETS:
        model = make_model(preset)
        names = {n for n, _ in model.model.named_modules()}
        for pattern in model.config.base_model_tp_plan:  # "layers.*.mlp.up_proj", or a plain name ("embed_tokens")
            prefix, _, suffix = pattern.partition(".*.")
            assert any(n.startswith(prefix) and n.endswith(suffix) for n in names), pattern


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_residual_dropout_is_bernoulli_with_inverted_scaling(dtype):
    """The CPU dropout draws its mask from 15-bit integers: it must still keep each element with probability 1 - p,
    scale kept ones by 1 / (1 - p) (so the expectation is unchanged), pass gradients through the same mask, and be
    the identity in eval mode; an odd number of elements uses half of the last 32-bit draw."""
    from tinyslm_hf.kernels_tinyslm import TinySLMDropout

    torch.manual_seed(0)
    dropout = TinySLMDropout(0.25).train()
    x = torch.full((200, 500), 2.0, dtype=dtype, requires_grad=True)
    y = dropout(x)
    kept = y != 0
    assert y.dtype == dtype
    assert abs(kept.float().mean().item() - 0.75) < 0.01
    assert torch.allclose(y[kept].float(), torch.tensor(2.0 / 0.75), rtol=1e-2)
    y.sum().backward()
    assert torch.equal(x.grad != 0, kept) and torch.allclose(x.grad[kept].float(), torch.tensor(1 / 0.75), rtol=1e-2)
    assert torch.equal(dropout.eval()(x), x)
    odd = dropout.train()(torch.ones(3, 3333, dtype=dtype))
    assert abs((odd != 0).float().mean().item() - 0.75) < 0.02
    # a p off the 2^-15 grid's ends falls back to torch's kernel instead of dividing by zero or never dropping
    for p in (1 - 2**-17, 2**-17):
        assert TinySLMDropout(p).train()(torch.ones(1000, dtype=dtype)).shape == (1000,)
    # the two 15-bit halves of a draw are independent: neighbours are kept together with probability (1 - p)^2
    pairs = (dropout(torch.ones(400_000)) != 0).view(-1, 2)
    assert abs(pairs.all(dim=1).float().mean().item() - 0.75**2) < 0.005
    # and the model uses it: training-mode logits are noisy, eval-mode logits are not
    model = make_model("modern", hidden_dropout=0.1)
    assert isinstance(model.model.dropout, TinySLMDropout)
    assert all(isinstance(layer.dropout, TinySLMDropout) for layer in model.model.layers)
    ids = torch.randint(0, 97, (2, 12))
    assert torch.equal(model(ids).logits, model(ids).logits)
    model.train()
    assert not torch.equal(model(ids).logits, model(ids).logits)


def test_residual_dropout_runs_twice_per_block_only_when_it_can_drop():
    """Each block drops its attention and its MLP output in training; at p = 0 or in eval mode the dropout modules
    are not called at all (two module calls per block are a measurable share of a decoded token)."""
    calls = []

    def count(model):
        calls.clear()
        for module in model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.register_forward_hook(lambda mod, args, out: calls.append(mod))
        return model

    ids = torch.randint(0, 97, (2, 12))
    model = count(make_model("seed", hidden_dropout=0.1).train())
    model(ids)
    layers = model.config.num_hidden_layers
    assert len(calls) == 2 * layers + 1  # two per block and one on the embeddings
    assert sum(1 for mod in calls if mod is model.model.layers[0].dropout) == 2
    calls.clear()
    model.eval()(ids)
    assert calls == []
    count(make_model("seed", hidden_dropout=0.0).train())(ids)
    assert calls == []


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_rmsnorm_training_path_matches_torch_rms_norm(dtype):
    """The modern preset's RMSNorm has a hand-written backward for CPU training: its output and both gradients must
    equal torch's `rms_norm` (exact in float64 gradcheck; to rounding in fp32 / bf16), its output keeps the input
    dtype, and the model's training steps use it while inference uses torch's kernel."""
    from tinyslm_hf.kernels_tinyslm import TinySLMRMSNormFunction
    from tinyslm_hf.modeling_tinyslm import TinySLMRMSNorm

    torch.manual_seed(0)
    norm = TinySLMRMSNorm(64, eps=1e-5)
    torch.nn.init.normal_(norm.weight)
    x = (torch.randn(3, 5, 64) * 3).to(dtype).requires_grad_()
    grad = torch.randn(3, 5, 64).to(dtype)
    got = norm(x)
    assert got.dtype == dtype and got.grad_fn.name() == "TinySLMRMSNormFunctionBackward"
    want = torch.rms_norm(x, (64,), norm.weight, 1e-5)
    got_grads = torch.autograd.grad(got, (x, norm.weight), grad)
    want_grads = torch.autograd.grad(want, (x, norm.weight), grad)
    tol = {"rtol": 1e-5, "atol": 1e-5} if dtype == torch.float32 else {"rtol": 2e-2, "atol": 2e-2}
    torch.testing.assert_close(got, want, **tol)
    for got_grad, want_grad in zip(got_grads, want_grads):
        assert got_grad.dtype == want_grad.dtype
        torch.testing.assert_close(got_grad, want_grad, **tol)
    doubles = (torch.randn(2, 3, 8, dtype=torch.float64, requires_grad=True),
               torch.randn(8, dtype=torch.float64, requires_grad=True))
    assert torch.autograd.gradcheck(lambda h, w: TinySLMRMSNormFunction.apply(h, w, 1e-5), doubles)
    with torch.no_grad():
        torch.testing.assert_close(norm(x), want.detach(), **tol)

    model = make_model("modern").train()
    names = []
    model.model.norm.register_forward_hook(lambda mod, args, out: names.append(out.grad_fn.name()))
    model(torch.randint(0, 97, (2, 12)))
    assert names == ["TinySLMRMSNormFunctionBackward"]


def test_kept_probabilities_attention_equals_causal_softmax_attention():
    """bf16 CPU training's attention (`TinySLMCausalAttentionFunction`): causal softmax attention and its gradients,
    exact in float64 (gradcheck, and against sdpa) with several query chunks, several head groups (the last one
    short) and lengths that are no multiple of the chunk; to bf16 rounding, also with the default chunk sizes."""
    from tinyslm_hf.kernels_tinyslm import TinySLMCausalAttentionFunction as Attention

    torch.manual_seed(0)
    # (dtype, [batch, heads, seq, head_dim], chunk rows, block bytes): the last case uses the defaults (64, 1 MiB).
    cases = [(torch.float64, (2, 3, 13, 4), 4, 200),  # 4 chunks, groups of 3 (block 200 B // (4 * 13 * 8 B))
             (torch.float64, (3, 2, 70, 16), 32, 4 * 32 * 70 * 8),  # 3 chunks, groups of 4 over 6: the last has 2
             (torch.bfloat16, (2, 4, 70, 16), 32, 10_000),
             (torch.bfloat16, (2, 3, 150, 16), None, None)]
    for dtype, shape, chunk_rows, block_bytes in cases:
        q, k, v = (torch.randn(shape, dtype=dtype, requires_grad=True) for _ in range(3))
        grad = torch.randn(shape, dtype=dtype)
        sizes = () if chunk_rows is None else (chunk_rows, block_bytes)
        got = Attention.apply(q, k, v, shape[-1] ** -0.5, *sizes)
        got_grads = torch.autograd.grad(got, (q, k, v), grad)
        doubles = [t.detach().double().requires_grad_() for t in (q, k, v)]
        want = F.scaled_dot_product_attention(*doubles, is_causal=True)
        want_grads = torch.autograd.grad(want, doubles, grad.double())
        rel = 1e-12 if dtype == torch.float64 else 2e-2
        for a, b in zip((got, *got_grads), (want, *want_grads)):
            assert a.dtype == dtype and (a.double() - b).abs().max() <= rel * b.abs().max()
    doubles = [torch.randn(1, 2, 9, 4, dtype=torch.float64, requires_grad=True) for _ in range(3)]
    assert torch.autograd.gradcheck(lambda q, k, v: Attention.apply(q, k, v, 0.5, 4, 100), doubles)


@pytest.mark.parametrize("preset", PRESETS)
def test_bf16_cpu_training_attention_keeps_probabilities_only_where_it_applies(preset, monkeypatch):
    """A bf16 autocast training step with sdpa takes the kept-probabilities attention (grouped-query heads too, and
    sequences longer than its 64-row chunks) and gives sdpa's loss and gradients to bf16 rounding; eval mode (with
    or without grad), fp32, padding masks, attention dropout, a cache prefix and an explicitly chosen eager
    attention keep the configured attention function."""
    import tinyslm_hf.modeling_tinyslm as modeling

    calls = []
    apply = modeling.TinySLMCausalAttentionFunction.apply
    monkeypatch.setattr(modeling.TinySLMCausalAttentionFunction, "apply",
                        lambda *args: calls.append(args[0].shape) or apply(*args))
    model = make_model(preset, attn="sdpa", initializer_range=0.1, max_position_embeddings=160).train()
    ids = torch.randint(0, 97, (2, 150))
    got, got_grads = _loss_and_grads(model, ids, ids, torch.bfloat16, num_items_in_batch=torch.tensor(250))
    assert len(calls) == model.config.num_hidden_layers and calls[0] == (2, 4, 150, 8)
    monkeypatch.setattr(modeling, "use_kept_probabilities_attention", lambda *args: False)
    want, want_grads = _loss_and_grads(model, ids, ids, torch.bfloat16, num_items_in_batch=torch.tensor(250))
    assert len(calls) == model.config.num_hidden_layers
    torch.testing.assert_close(got.loss, want.loss, rtol=1e-2, atol=1e-2)
    for name, want_grad in want_grads.items():
        if name.endswith("k_proj.bias"):  # exactly zero in theory (softmax ignores a per-row shift): rounding noise
            continue
        assert (got_grads[name] - want_grad).abs().max() <= 3e-2 * want_grad.abs().max(), name
    monkeypatch.undo()
    monkeypatch.setattr(modeling.TinySLMCausalAttentionFunction, "apply",
                        lambda *args: calls.append(args[0].shape) or apply(*args))
    calls.clear()
    padded = torch.ones_like(ids)
    padded[0, :3] = 0
    _loss_and_grads(model, ids, ids, torch.float32)
    _loss_and_grads(model, ids, ids, torch.bfloat16, attention_mask=padded)
    dropout = make_model(preset, attn="sdpa", attention_dropout=0.1, max_position_embeddings=160).train()
    _loss_and_grads(dropout, ids, ids, torch.bfloat16)
    _loss_and_grads(make_model(preset, attn="eager", max_position_embeddings=160).train(), ids, ids, torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model.eval()(ids)  # eval mode with grad enabled
        model.train()
        prefix = model(ids[:, :100], use_cache=True)
        assert len(calls) == model.config.num_hidden_layers  # the prefill has no prefix
        # One new token over 101 keys: sdpa gets no mask for a single query, so only the key-length check excludes it.
        model(ids[:, 100:101], **{_CACHE_FIELD: cache_of(prefix)})
    assert len(calls) == model.config.num_hidden_layers
