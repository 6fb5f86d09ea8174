import json

import pytest
from datasets import Dataset

import torch

from tinyslm_hf import TinySLMConfig, TinySLMForCausalLM
from tinyslm_hf.data import (
    PackedBlockCollator,
    document_positions,
    embedded_corpus_path,
    load_documents,
    prepare_data,
    split_documents,
    tokenize_and_pack,
)


def test_embedded_corpus_ships_with_the_package():
    path = embedded_corpus_path()
    assert path.is_file() and path.stat().st_size == 1_115_394
    assert (path.parent / "README.md").read_text().count("public domain") >= 1


def test_single_document_split_is_nanogpt_90_10():
    text = "x" * 1000 + "y" * 111
    splits = split_documents(Dataset.from_dict({"text": [text]}), 0.1)
    assert splits["train"][0]["text"] + splits["validation"][0]["text"] == text
    assert len(splits["train"][0]["text"]) == int(len(text) * 0.9)


def test_many_documents_are_held_out_whole():
    docs = Dataset.from_dict({"text": [f"doc {i}" for i in range(100)]})
    splits = split_documents(docs, 0.2, seed=1)
    assert len(splits["validation"]) == 20
    assert not set(splits["train"]["text"]) & set(splits["validation"]["text"])


def test_packing_blocks_and_eos_between_documents(tiny_tokenizer):
    docs = Dataset.from_dict({"text": ["alpha beta gamma " * 7, "delta epsilon " * 9, "zeta " * 11]})
    block = 16
    packed = tokenize_and_pack(docs, tiny_tokenizer, block)
    assert all(len(ids) == block for ids in packed["input_ids"])
    stream = [t for text in docs["text"] for t in tiny_tokenizer(text)["input_ids"] + [tiny_tokenizer.eos_token_id]]
    flat = [t for ids in packed["input_ids"] for t in ids]
    assert flat == stream[: (len(stream) // block) * block]  # order kept, only the tail remainder dropped
    assert flat.count(tiny_tokenizer.eos_token_id) >= 2


def test_document_positions_restart_at_every_eos_and_at_the_block_start():
    assert document_positions([5, 6, 0, 7, 8, 9, 0, 0, 4], eos=0) == [0, 1, 0, 1, 2, 3, 0, 0, 1]
    assert document_positions([0, 3], eos=0) == [0, 1]


def test_document_masked_blocks_keep_attention_inside_each_document(tiny_tokenizer):
    """Blocks carry restarting positions and the collator sends no attention mask, so a document after the first
    gets the logits it gets alone (opened by its eos), not ones that saw the document before it."""
    docs = Dataset.from_dict({"text": ["alpha beta", "delta epsilon delta", "zeta eta " * 30]})
    eos = tiny_tokenizer.eos_token_id
    packed = tokenize_and_pack(docs, tiny_tokenizer, 48, document_masking=True)
    assert packed.column_names == ["input_ids", "position_ids"]
    batch = PackedBlockCollator()(list(packed))
    assert set(batch) == {"input_ids", "labels", "position_ids"} and torch.equal(batch["labels"], batch["input_ids"])
    ids, positions = batch["input_ids"][0], batch["position_ids"][0]
    starts = [i for i, token in enumerate(ids.tolist()) if token == eos]
    assert len(starts) >= 2 and all(positions[i] == 0 for i in starts)
    torch.manual_seed(0)
    model = TinySLMForCausalLM(TinySLMConfig.from_preset(
        "modern", vocab_size=len(tiny_tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        max_position_embeddings=64, intermediate_size=64, initializer_range=0.3)).train()
    segment = slice(starts[0], starts[1])  # the second document, opened by the first document's eos
    with torch.no_grad():
        packed_logits = model(ids[None], position_ids=positions[None]).logits[0, segment]
        alone = model(ids[None, segment]).logits[0]
        unmasked = model(ids[None]).logits[0, segment]
    torch.testing.assert_close(packed_logits, alone, rtol=1e-4, atol=1e-4)
    assert (unmasked - alone).abs().max() > 1e-2


def test_collator_does_not_train_on_pad_tokens():
    batch = PackedBlockCollator(pad_token_id=1)([{"input_ids": [5, 1, 6, 7]}, {"input_ids": [1, 8, 9, 0]}])
    assert batch["labels"].tolist() == [[5, -100, 6, 7], [-100, 8, 9, 0]]
    assert batch["input_ids"].tolist() == [[5, 1, 6, 7], [1, 8, 9, 0]] and "attention_mask" not in batch


def test_inputs_text_folder_jsonl_and_saved_dataset(tmp_path):
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "a.txt").write_text("first file\nline two\n", encoding="utf-8")
    (tmp_path / "folder" / "b.md").write_text("second file", encoding="utf-8")
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_text("\n".join(json.dumps({"text": f"row {i}", "id": i}) for i in range(3)), encoding="utf-8")
    saved = tmp_path / "saved"
    Dataset.from_dict({"text": ["saved one", "saved two"]}).save_to_disk(str(saved))
    docs = load_documents([tmp_path / "folder", jsonl, saved])
    assert sorted(docs["text"]) == sorted(
        ["first file\nline two\n", "second file", "row 0", "row 1", "row 2", "saved one", "saved two"])


@pytest.mark.parametrize(
    "content, message",
    [(b"", "empty"), (b"abc\x00\x01\x02binary", "binary"), ("caf\u00e9".encode("latin-1"), "UTF-8")],
)
def test_bad_files_get_clear_errors(tmp_path, content, message):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        load_documents([bad])


def test_missing_path_and_missing_jsonl_field(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_documents([tmp_path / "nope.txt"])
    bad = tmp_path / "x.jsonl"
    bad.write_text('{"body": "no text field"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="'text'"):
        load_documents([bad])


def test_prepare_data_is_cached_on_second_run(tmp_path, tiny_tokenizer):
    corpus = tmp_path / "c.txt"
    corpus.write_text("To be, or not to be, that is the question. " * 200, encoding="utf-8")
    first = prepare_data([corpus], tiny_tokenizer, block_size=32)
    second = prepare_data([corpus], tiny_tokenizer, block_size=32)
    assert first.train.cache_files and first.train.cache_files == second.train.cache_files
    assert first.train["input_ids"] == second.train["input_ids"]
    assert len(first.validation_text) == len(corpus.read_text()) - int(len(corpus.read_text()) * 0.9)


def test_too_short_input_for_a_block(tmp_path, tiny_tokenizer):
    corpus = tmp_path / "short.txt"
    corpus.write_text("tiny", encoding="utf-8")
    with pytest.raises(ValueError, match="block"):
        prepare_data([corpus], tiny_tokenizer, block_size=64)
