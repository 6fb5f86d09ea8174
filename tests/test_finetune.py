"""`tinyslm finetune`: the row formats, the answer-only loss, continued pretraining, LoRA, packing, resume, bad input,
and the Excel trainer as a client of the same wiring."""

from __future__ import annotations

import json
import random

import pytest
import torch

from tinyslm_hf.cli import main
from tinyslm_hf.finetune import FinetuneSettings, finetune, lora_target_modules
from tinyslm_hf.modelio import load_model_and_tokenizer
from tinyslm_hf.sft_data import BadRow, encode_conversation, read_conversations, to_messages

QUIET = ["--bf16", "false", "--logging-steps", "5", "--sample-tokens", "4"]


def addition_rows(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        a, b = rng.randint(1, 20), rng.randint(1, 20)
        rows.append({"messages": [{"role": "system", "content": "You add numbers."},
                                  {"role": "user", "content": f"What is {a} plus {b}?"},
                                  {"role": "assistant", "content": f"{a} plus {b} is {a + b}."}]})
    return rows


def write_jsonl(path, rows) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("ft-corpus") / "story.txt"
    path.write_text("The cat sat on the mat. The dog sat on the log. What is two plus two? Four. " * 60,
                    encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def base(tmp_path_factory, corpus):
    """A tiny pretrained run (modern preset, 128-token context): its `final/` folder is what users fine-tune."""
    out = tmp_path_factory.mktemp("ft-base") / "run"
    assert main(["train", str(corpus), "--output-dir", str(out), "--vocab-size", "300", "--hidden-size", "32",
                 "--num-hidden-layers", "2", "--num-attention-heads", "2", "--block-size", "128", "--batch-size", "4",
                 "--max-steps", "60", "--max-minutes", "0", "--dropout", "0", "--learning-rate", "3e-3",
                 "--sample-tokens", "4", "--bf16", "false"]) == 0
    return out


@pytest.fixture(scope="module")
def chat_file(tmp_path_factory):
    return write_jsonl(tmp_path_factory.mktemp("ft-chat") / "chat.jsonl", addition_rows(40))


# --- formats and the answer-only mask -----------------------------------------------------------------------------

FORMAT_ROWS = {
    "messages": {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                              {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Name?"},
                              {"role": "assistant", "content": "Tiny."}]},
    "prompt-completion": {"prompt": "What is 2 plus 2?", "completion": "4.", "system": "Be brief."},
    "alpaca": {"instruction": "Add the numbers.", "input": "2 and 2", "output": "4.", "system": "Be brief."},
}
ANSWERS = {"messages": ["Hello.", "Tiny."], "prompt-completion": ["4."], "alpaca": ["4."]}


@pytest.mark.parametrize("fmt", list(FORMAT_ROWS))
def test_the_loss_covers_exactly_the_assistant_tokens(fmt, tiny_tokenizer):
    messages = to_messages(FORMAT_ROWS[fmt], "row")
    assert messages[0] == {"role": "system", "content": "Be brief."}  # system prompts are kept
    enc = encode_conversation(tiny_tokenizer, messages, max_length=512)
    ids, labels = enc["input_ids"], enc["labels"]
    # contiguous runs of trained tokens, decoded: exactly each assistant turn plus the <|im_end|> that ends it
    runs, current = [], []
    for token, label in zip(ids, labels):
        if label != -100:
            assert label == token
            current.append(token)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    assert [tiny_tokenizer.decode(r) for r in runs] == [a + "<|im_end|>" for a in ANSWERS[fmt]]
    rendered = tiny_tokenizer.decode(ids)
    assert rendered.startswith("<|im_start|>system\nBe brief.<|im_end|>")
    if fmt == "alpaca":
        assert "Add the numbers.\n\n2 and 2" in rendered
    everything = encode_conversation(tiny_tokenizer, messages, max_length=512, prompt_loss=True)
    assert everything["labels"] == ids


def test_a_message_name_is_kept_and_rendered(tiny_tokenizer):
    messages = to_messages({"messages": [{"role": "user", "content": "hi", "name": "alice"},
                                         {"role": "assistant", "content": "hello"}]}, "x.jsonl:1")
    assert messages[0]["name"] == "alice"
    encoded = encode_conversation(tiny_tokenizer, messages, max_length=512)
    assert "<|im_start|>user name=alice\nhi" in tiny_tokenizer.decode(encoded["input_ids"])


@pytest.mark.parametrize("row, message", [
    ({"messages": [{"role": "user", "content": "x"}, {"role": "bot", "content": "y"}]}, "unknown role 'bot'"),
    ({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": " "}]},
     "message 2 is an empty assistant turn"),
    ({"messages": [{"role": "user", "content": "x"}]}, "no assistant turn"),
    ({"prompt": "x", "completion": 3}, "'completion' must be a string"),
    ({"question": "x", "answer": "y"}, "not a chat row"),
    ({"messages": [{"role": "user", "content": "x", "name": 7}, {"role": "assistant", "content": "y"}]},
     "message 1 name must be 1-64 letters"),
    ({"messages": [{"role": "user", "content": "x", "name": "a\n<|im_start|>system"},
                   {"role": "assistant", "content": "y"}]}, "message 1 name must be 1-64 letters"),
])
def test_bad_rows_name_the_file_and_line(tmp_path, row, message):
    path = write_jsonl(tmp_path / "bad.jsonl", [FORMAT_ROWS["prompt-completion"], row])
    with pytest.raises(BadRow, match=f"bad.jsonl:2: .*{message}"):
        read_conversations([path])


def test_bad_input_is_one_line_exit_2_and_leaves_nothing(base, tmp_path, capsys, monkeypatch):
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"messages": [{"role": "robot", "content": "x"}]}])
    out = tmp_path / "out"
    assert main(["finetune", bad, "--model", str(base / "final"), "--output-dir", str(out), *QUIET]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "bad.jsonl:1" in err and "unknown role 'robot'" in err
    assert not out.exists()
    monkeypatch.chdir(tmp_path)
    assert main(["finetune", bad, "--output-dir", str(out)]) == 2  # no --model, and no default run here
    assert "model folder not found: runs/tinyslm/final" in capsys.readouterr().err and not out.exists()


def test_too_long_rows_are_counted_not_cut(base, tmp_path, capsys):
    rows = addition_rows(12) + [{"prompt": "word " * 200, "completion": "long"}]
    data = write_jsonl(tmp_path / "mixed.jsonl", rows)
    result = finetune(FinetuneSettings(model=str(base / "final"), data=[data], output_dir=str(tmp_path / "o"),
                                       max_steps=2, bf16="false", sample_tokens=0, validation_fraction=0.2))
    assert result["skipped_too_long"] == 1 and result["train_rows"] + result["validation_rows"] == 12
    assert "skipped 1 of 13 conversations longer than the context of 128 tokens" in capsys.readouterr().out
    only_long = write_jsonl(tmp_path / "long.jsonl", [{"prompt": "word " * 200, "completion": "x"}] * 3)
    with pytest.raises(ValueError, match="longer than the context of 128 tokens"):
        finetune(FinetuneSettings(model=str(base / "final"), data=[only_long], output_dir=str(tmp_path / "o2"),
                                  bf16="false"))
    assert not (tmp_path / "o2").exists()


def test_a_tokenizer_without_chat_template_is_refused_for_chat_rows(base, chat_file, tmp_path):
    import shutil

    folder = tmp_path / "no-template"
    shutil.copytree(base / "final", folder)
    (folder / "chat_template.jinja").unlink(missing_ok=True)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="tokenizer has no chat template"):
        finetune(FinetuneSettings(model=str(folder), data=[chat_file], output_dir=str(tmp_path / "o"), bf16="false"))


# --- continued pretraining ---------------------------------------------------------------------------------------


def test_continued_pretraining_starts_from_the_folders_weights(base, corpus, tmp_path):
    """On the main job's data and split, the loss before the first step is the base run's own final eval loss."""
    base_eval = json.loads((base / "final" / "train_metrics.json").read_text())
    result = finetune(FinetuneSettings(model=str(base / "final"), data=[str(corpus)], output_dir=str(tmp_path / "o"),
                                       max_steps=6, batch_size=4, learning_rate=1e-3, bf16="false", sample_tokens=0))
    assert result["format"] == "text" and result["block_size"] == 128
    assert result["eval_loss_before"] == pytest.approx(base_eval["eval_loss"], abs=1e-5)
    assert result["heldout_bits_per_byte_before"] == pytest.approx(base_eval["heldout_bits_per_byte"], abs=1e-5)
    assert result["eval_loss_before"] < 4.0  # a fresh model of 300 tokens starts near ln(300) = 5.7
    assert result["eval_loss"] < result["eval_loss_before"]
    tokenizer_files = sorted(p.name for p in (tmp_path / "o").iterdir())
    assert "tokenizer" not in tokenizer_files  # no new tokenizer: the folder's own is kept
    card = (tmp_path / "o" / "final" / "README.md").read_text()
    assert "continued pretraining" in card and f"{result['eval_loss']:.4f}" in card


# --- SFT, packing, LoRA, resume ----------------------------------------------------------------------------------


def test_sft_through_the_cli_learns_the_answers(base, chat_file, tmp_path, capsys):
    out = tmp_path / "sft"
    assert main(["finetune", chat_file, "--model", str(base / "final"), "--output-dir", str(out), "--max-steps", "30",
                 "--learning-rate", "3e-3", "--batch-size", "4", *QUIET]) == 0
    metrics = json.loads((out / "final" / "finetune_metrics.json").read_text())
    assert metrics["format"] == "messages" and metrics["loss_on"] == "assistant turns"
    assert metrics["eval_loss"] < 0.7 * metrics["eval_loss_before"]
    card = (out / "final" / "README.md").read_text()
    assert "supervised fine-tuning" in card and f"{metrics['eval_loss_before']:.4f}" in card
    assert (out / "final" / "loss_curve.png").is_file()
    model, tokenizer = load_model_and_tokenizer(out / "final")
    assert tokenizer.chat_template  # chat / serve / ui use it
    assert "base model -> fine-tuned" in capsys.readouterr().out


def test_flattened_packing_gives_each_conversation_its_own_loss(base, tiny_tokenizer):
    """A padding-free batch (conversations side by side, positions restarting) scores every conversation exactly as
    it scores alone: attention does not cross from one conversation into the next."""
    from tinyslm_hf.finetune import sft_collator

    model, tokenizer = load_model_and_tokenizer(base / "final")
    rows = [encode_conversation(tokenizer, to_messages(r, "r"), 128, prompt_loss=True) for r in addition_rows(3)]
    batch = sft_collator(tokenizer, packing=True)(rows)
    assert batch["input_ids"].shape[0] == 1 and "attention_mask" not in batch
    with torch.no_grad():
        packed = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"]).logits[0]
        alone = [model(input_ids=torch.tensor([r["input_ids"]])).logits[0] for r in rows]
    torch.testing.assert_close(packed, torch.cat(alone), atol=1e-5, rtol=1e-5)
    with torch.no_grad():  # and without the restarting positions the later conversations do see the earlier ones
        leaky = model(input_ids=batch["input_ids"]).logits[0]
    assert not torch.allclose(leaky[len(rows[0]["input_ids"]):], torch.cat(alone[1:]), atol=1e-3)


def test_packed_sft_trains(base, chat_file, tmp_path):
    result = finetune(FinetuneSettings(model=str(base / "final"), data=[chat_file], output_dir=str(tmp_path / "o"),
                                       packing=True, max_steps=10, learning_rate=3e-3, bf16="false", sample_tokens=0))
    assert result["packing"] == "flattened" and result["eval_loss"] < result["eval_loss_before"]


def test_lora_adapter_loads_with_peft_and_matches_the_merged_folder(base, chat_file, tmp_path, capsys):
    from peft import PeftModel

    out = tmp_path / "lora"
    assert main(["finetune", chat_file, "--model", str(base / "final"), "--output-dir", str(out), "--lora",
                 "--lora-r", "4", "--max-steps", "8", "--learning-rate", "1e-2", *QUIET]) == 0
    metrics = json.loads((out / "final" / "finetune_metrics.json").read_text())
    assert metrics["trainable_parameters"] < metrics["parameters"] / 4
    merged, tokenizer = load_model_and_tokenizer(out / "final")
    plain, _ = load_model_and_tokenizer(base / "final")
    adapted = PeftModel.from_pretrained(load_model_and_tokenizer(base / "final")[0], str(out / "adapter")).eval()
    ids = tokenizer.apply_chat_template([{"role": "user", "content": "What is 3 plus 4?"}],
                                        add_generation_prompt=True, return_tensors="pt", return_dict=True)["input_ids"]
    with torch.no_grad():
        a, m, b = adapted(input_ids=ids).logits, merged(input_ids=ids).logits, plain(input_ids=ids).logits
    assert not torch.allclose(a, b, atol=1e-4)  # the adapters learned something
    torch.testing.assert_close(m, a, atol=1e-5, rtol=1e-5)
    # an adapter folder is not a model to start from, with or without --lora
    capsys.readouterr()
    assert main(["finetune", chat_file, "--model", str(out / "adapter"), "--lora", "--output-dir",
                 str(tmp_path / "again"), *QUIET]) == 2
    assert "is a LoRA adapter, not a model folder" in capsys.readouterr().err
    assert not (tmp_path / "again").exists()


def test_default_lora_targets_follow_the_preset(tiny_model_dir, tiny_modern_model_dir):
    seed, _ = load_model_and_tokenizer(tiny_model_dir)
    modern, _ = load_model_and_tokenizer(tiny_modern_model_dir)
    assert lora_target_modules(seed) == ["q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj"]
    assert lora_target_modules(modern) == ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                           "down_proj"]
    from tinyslm_hf.finetune import wrap_lora

    with pytest.raises(ValueError, match=r"lora_target_modules: \['c_attn'\] not in this model"):
        wrap_lora(seed, target_modules=["c_attn"])


def test_resume_continues_from_its_own_checkpoint(base, chat_file, tmp_path, capsys):
    """Stopped after step 3 of 6 and resumed, the run ends where the uninterrupted run ends (not at the base)."""
    import shutil

    from safetensors.torch import load_file

    def run(out, *extra):
        return main(["finetune", chat_file, "--model", str(base / "final"), "--output-dir", str(out), "--max-steps",
                     "6", "--save-every", "3", "--save-total-limit", "3", "--batch-size", "4", "--learning-rate",
                     "3e-3", *QUIET, *extra])

    assert run(tmp_path / "whole") == 0
    assert run(tmp_path / "cut") == 0
    shutil.rmtree(tmp_path / "cut" / "checkpoint-6")  # as if killed after the step-3 checkpoint
    shutil.rmtree(tmp_path / "cut" / "final")
    capsys.readouterr()
    assert run(tmp_path / "cut", "--resume") == 0
    assert "resuming from" in capsys.readouterr().out
    whole = load_file(str(tmp_path / "whole" / "final" / "model.safetensors"))
    resumed = load_file(str(tmp_path / "cut" / "final" / "model.safetensors"))
    start = load_file(str(base / "final" / "model.safetensors"))
    for name in whole:
        torch.testing.assert_close(resumed[name], whole[name], atol=1e-6, rtol=1e-5)
    assert any(not torch.allclose(whole[n], start[n]) for n in whole)


# --- one wiring for every trainer --------------------------------------------------------------------------------


def test_excel_training_through_the_shared_path_gives_the_same_losses_as_before(tmp_path, monkeypatch):
    """The first three logged losses of a tiny Excel run with AdamW and cosine decay: equal to those of its own
    trainer at 51084dd (before it became a client of `finetune.sft_trainer`) on that commit's data, re-pinned when
    the generator gained 19 families and again when it gained messy tables, IF over a number, cells named by
    address and whole-year dates (2026-12-06; both times the old pin still held on the old data), and when training
    began to fit wide prompts as decoding does (2026-12-07: with the fitting switched off the old pin holds; this
    run's 400-token vocabulary makes some prompts long enough to be fitted): any silent change to the data,
    tokenizer, initialisation, batch order or optimizer of the shared path moves them."""
    import tinyslm_hf.excel.train as excel_train

    captured = {}
    original = excel_train._run_trainer

    def capture(*args, **kwargs):
        result, history = original(*args, **kwargs)
        captured["losses"] = [h["loss"] for h in history]
        return result, history

    monkeypatch.setattr(excel_train, "_run_trainer", capture)
    excel_train.train_excel(excel_train.ExcelTrainConfig(
        out_dir=str(tmp_path / "excel"), n_train=48, max_steps=3, learning_rate=3e-3, bf16=False, hidden_size=32,
        num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=2, intermediate_size=64, vocab_size=400,
        batch_size=4, logging_steps=1, warmup_steps=0, optimizer="adamw", lr_schedule="cosine", breadth=0.0))
    assert captured["losses"] == pytest.approx([5.98773193359375, 5.9358086585998535, 5.861643314361572], rel=1e-5)


def test_trl_sft_trainer_runs_on_a_tinyslm(base, chat_file, tmp_path):
    """TRL is the ecosystem's SFT tool: its SFTTrainer, with its own assistant-only loss, trains a TinySLM folder."""
    import trl
    from datasets import load_dataset

    model, tokenizer = load_model_and_tokenizer(base / "final")
    dataset = load_dataset("json", data_files=chat_file, split="train")
    config = trl.SFTConfig(output_dir=str(tmp_path / "trl"), max_steps=4, per_device_train_batch_size=4,
                           learning_rate=3e-3, assistant_only_loss=True, report_to="none", use_cpu=True,
                           logging_steps=1, save_strategy="no", bf16=False, max_length=128)
    trainer = trl.SFTTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer)
    first = trainer.train_dataset[0]
    labels = first["labels"] if "labels" in first else [  # TRL >= 1.1x folds the mask into labels
        t if m else -100 for t, m in zip(first["input_ids"], first["assistant_masks"])]
    trained_ids = [t for t in labels if t != -100]
    assert tokenizer.decode(trained_ids).endswith("<|im_end|>") and "plus" in tokenizer.decode(trained_ids)
    result = trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 4 and losses[-1] < losses[0] and result.global_step == 4


# --- the chat demo -----------------------------------------------------------------------------------------------


def test_the_chat_demo_is_generated_from_the_training_split_only():
    from tinyslm_hf.corpus import embedded_corpus_path
    from tinyslm_hf.corpus.chat_demo import SMALL_TALK, chat_rows

    rows = chat_rows(300, seed=1)
    assert rows == chat_rows(300, seed=1) and rows != chat_rows(300, seed=2)
    text = embedded_corpus_path().read_text(encoding="utf-8")
    head, tail = text[: int(len(text) * 0.9)], text[int(len(text) * 0.9):]
    small_talk = {answer for _, answer in SMALL_TALK}
    answers = [to_messages(r, "demo")[-1]["content"] for r in rows]
    quoted = [a for a in answers if a not in small_talk and not a.endswith(" says it.")]
    assert len(quoted) > 150 and all(a in head for a in quoted)
    assert any(a not in tail for a in quoted)  # not a test that passes on any text: lines are the head's
    kinds = {r["messages"][-2]["content"].split()[0] for r in rows}
    assert {"Who", "Write", "Finish", "What"} <= kinds | {"Which", "Give", "Complete", "How", "Say"}


def test_finetune_without_data_trains_on_the_chat_demo(base, tmp_path):
    result = finetune(FinetuneSettings(model=str(base / "final"), output_dir=str(tmp_path / "demo"), max_steps=3,
                                       bf16="false", sample_tokens=0))
    assert result["format"] == "messages" and result["data"] == ["chat demo (generated, corpus/chat_demo.py)"]
    assert result["train_rows"] + result["validation_rows"] + result["skipped_too_long"] == 4000
    assert "chat demo" in (tmp_path / "demo" / "final" / "README.md").read_text()
