"""Padding-free packing: several documents in one row, position ids restarting at 0, no attention mask (what
`DataCollatorWithFlattening` and TRL's `padding_free=True` send). Each document must get exactly what it gets alone."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from datasets import Dataset
from transformers import DataCollatorWithFlattening, Trainer, TrainingArguments

from tinyslm_hf import TinySLMConfig, TinySLMForCausalLM
from tinyslm_hf.modeling_tinyslm import cache_kwarg

DOC_LENGTHS = (40, 30, 25)  # 95 tokens in one row, beyond the 48 learned positions of the seed model below


def make_model(preset: str) -> TinySLMForCausalLM:
    torch.manual_seed(0)
    config = TinySLMConfig.from_preset(
        preset, vocab_size=101, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
        max_position_embeddings=48, intermediate_size=128, initializer_range=0.3,
    )
    return TinySLMForCausalLM(config)


def packed_documents():
    generator = torch.Generator().manual_seed(1)
    docs = [torch.randint(0, 101, (n,), generator=generator) for n in DOC_LENGTHS]
    ids = torch.cat(docs)[None]
    positions = torch.cat([torch.arange(len(d)) for d in docs])[None]
    return docs, ids, positions


@pytest.mark.parametrize("preset", ["seed", "modern"])
@pytest.mark.parametrize("mode", ["eval", "train"])
@pytest.mark.parametrize("use_cache", [None, False])
def test_each_packed_document_gets_the_logits_it_gets_alone(preset, mode, use_cache):
    model = make_model(preset).train(mode == "train")
    docs, ids, positions = packed_documents()
    with torch.no_grad():
        packed = model(ids, position_ids=positions, use_cache=use_cache).logits[0]
        alone = torch.cat([model(doc[None], use_cache=use_cache).logits[0] for doc in docs])
    torch.testing.assert_close(packed, alone, rtol=1e-4, atol=1e-4)


def test_a_training_forward_creates_no_cache():
    model = make_model("modern").train()
    out = model(torch.randint(0, 101, (1, 8)))
    assert (out.cache if "cache" in out else out.past_key_values) is None
    out = model(torch.randint(0, 101, (1, 8)), use_cache=True)  # asked for explicitly: created
    assert (out.cache if "cache" in out else out.past_key_values) is not None
    model.eval()
    out = model(torch.randint(0, 101, (1, 8)))
    assert (out.cache if "cache" in out else out.past_key_values) is not None  # generation still gets one


def test_learned_positions_check_the_positions_used_not_the_row_length():
    model = make_model("seed").eval()
    _, ids, positions = packed_documents()
    model(ids, position_ids=positions)  # 95 tokens, positions 0..39: fits the 48-row table
    with pytest.raises(ValueError, match="position_ids span 0..48, outside max_position_embeddings=48"):
        model(ids[:, :49], position_ids=torch.arange(49)[None])
    with pytest.raises(ValueError, match="position_ids span -1..3"):
        model(ids[:, :5], position_ids=torch.arange(-1, 4)[None])
    with pytest.raises(ValueError, match="max_position_embeddings=48"):
        model(ids[:, :49])


def _reference_loss(model, docs) -> float:
    """Mean next-token cross-entropy over every document's own targets (each document alone)."""
    total, count = 0.0, 0
    with torch.no_grad():
        for doc in docs:
            logits = model(doc[None]).logits[0, :-1]
            total += F.cross_entropy(logits, doc[1:], reduction="sum").item()
            count += len(doc) - 1
    return total / count


@pytest.mark.parametrize("preset", ["seed", "modern"])
def test_trainer_step_on_flattened_batches_has_the_per_document_loss(preset, tmp_path):
    model = make_model(preset)
    docs, _, _ = packed_documents()
    reference = _reference_loss(model.eval(), docs)
    collator = DataCollatorWithFlattening()
    batch = collator([{"input_ids": doc.tolist()} for doc in docs])
    assert "attention_mask" not in batch and batch["position_ids"][0, DOC_LENGTHS[0]] == 0
    model.train()
    loss = model(**batch).loss  # the fused training loss, as the Trainer computes it
    assert abs(loss.item() - reference) < 1e-4

    args = TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=len(docs), max_steps=1,
                             learning_rate=0.0, logging_steps=1, report_to="none", save_strategy="no",
                             use_cpu=True, dataloader_num_workers=0, disable_tqdm=True)
    dataset = Dataset.from_dict({"input_ids": [doc.tolist() for doc in docs]})
    trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=collator)
    trainer.train()
    logged = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert logged and abs(logged[0] - reference) < 1e-3


def test_attention_functions_receive_the_position_ids_flash_attention_needs(monkeypatch):
    """Flash attention gets no mask for a packed row and finds the documents from `position_ids` in its kwargs."""
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    seen = []
    sdpa = ALL_ATTENTION_FUNCTIONS["sdpa"]

    def spy(*args, **kwargs):
        seen.append(kwargs.get("position_ids"))
        return sdpa(*args, **kwargs)

    monkeypatch.setitem(ALL_ATTENTION_FUNCTIONS._global_mapping, "sdpa", spy)
    model = make_model("modern").eval()
    model.config._attn_implementation = "sdpa"
    _, ids, positions = packed_documents()
    with torch.no_grad():
        model(ids, position_ids=positions)
    assert len(seen) == model.config.num_hidden_layers and all(torch.equal(p, positions) for p in seen)


def test_packed_rows_into_a_static_cache_are_refused():
    from transformers import StaticCache

    model = make_model("modern").eval()
    _, ids, positions = packed_documents()
    cache = StaticCache(config=model.config, max_cache_len=128)
    with pytest.raises(ValueError, match="static cache"):
        model(ids, position_ids=positions, **cache_kwarg(cache))
    with torch.no_grad():  # one document through a static cache is fine
        model(ids[:, :40], position_ids=positions[:, :40], use_cache=True, **cache_kwarg(cache))
