"""Fine-tuning an existing TinySLM with the HF Trainer: continued pretraining on plain text, or supervised
fine-tuning (SFT) on chat / instruction rows with the loss on the assistant's turns; full or LoRA (peft).

`finetune(FinetuneSettings(model=..., data=[...]))` is the whole job. It keeps the main job's wiring - one precision
policy (`training.resolve_bf16`), launch checks, output-folder policy, time budget, resume, loss curve, model card -
so `accelerate launch` / `torchrun` work unchanged. `sft_trainer` is the shared piece other trainers build on (the
Excel assistant's `tinyslm excel train` is one).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import (
    DataCollatorForSeq2Seq,
    DataCollatorWithFlattening,
    TrainingArguments,
    set_seed,
)
from transformers.trainer_callback import ProgressCallback

from .budget import StepPlan, TimeBudgetCallback, calibrate_steps
from .settings import FinetuneSettings  # noqa: F401  (re-exported)
from .sft_data import (
    FORMATS,
    check_chat_template,
    detect_format,
    encode_conversations,
    read_conversations,
    split_conversations,
)
from .generation import renders_message_names

ADAPTER_CONFIG = "adapter_config.json"
LORA_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


# --- the model to start from -------------------------------------------------------------------------------------


def check_base_folder(path: str | os.PathLike, lora: bool) -> None:
    """A LoRA adapter folder is not a model to start from: say so, and name its base."""
    path = Path(path)
    adapter = path / ADAPTER_CONFIG
    if adapter.is_file():
        base = json.loads(adapter.read_text(encoding="utf-8")).get("base_model_name_or_path") or "its base model"
        action = "--lora on an adapter would stack adapters" if lora else "an adapter holds no full model"
        raise ValueError(f"{path} is a LoRA adapter, not a model folder ({action}): fine-tune the merged model "
                         f"folder instead, or the base ({base}) with the adapter merged in")


def lora_target_modules(model) -> list[str]:
    """The attention and MLP projections this model has (seed: q/k/v/o, up/down; modern: also gate)."""
    names = {name.rsplit(".", 1)[-1] for name, mod in model.named_modules() if isinstance(mod, torch.nn.Linear)}
    return [n for n in LORA_MODULES if n in names]


def wrap_lora(model, r: int = 16, alpha: int = 32, dropout: float = 0.0, target_modules: list[str] | None = None):
    """`model` with peft LoRA adapters on `target_modules` (default: `lora_target_modules`); a wrong name is named."""
    from peft import LoraConfig, get_peft_model

    available = lora_target_modules(model)
    targets = list(target_modules) if target_modules else available
    unknown = [t for t in targets if t not in available]
    if unknown:
        raise ValueError(f"lora_target_modules: {unknown} not in this model (it has {available})")
    config = LoraConfig(task_type="CAUSAL_LM", r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets)
    return get_peft_model(model, config)


# --- the Trainer wiring shared by every fine-tuning job ----------------------------------------------------------


def finetune_arguments(settings: FinetuneSettings, use_bf16: bool, output_dir: str, save: bool = True,
                       evaluate: bool = True) -> TrainingArguments:
    """The Trainer's arguments; the schedule's length and evaluation interval are set by `plan_steps`."""
    from .training import precision_args

    return TrainingArguments(
        output_dir=output_dir,
        per_device_train_batch_size=settings.batch_size,
        per_device_eval_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation_steps,
        learning_rate=settings.peak_learning_rate,
        warmup_steps=settings.warmup_steps,
        weight_decay=settings.weight_decay,
        max_grad_norm=1.0,
        max_steps=max(settings.max_steps, 1),
        eval_strategy="steps" if evaluate else "no",
        eval_steps=settings.eval_every,
        save_strategy="steps" if save else "no",
        save_steps=settings.save_every,
        save_total_limit=settings.save_total_limit,
        logging_steps=settings.logging_steps,
        **precision_args(use_bf16),
        seed=settings.seed,
        report_to="none",
        # padded batches are grouped by length so little compute goes to padding; a flattened batch has none
        train_sampling_strategy="random" if settings.packing else "group_by_length",
        dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(),
        disable_tqdm=False,
        remove_unused_columns=False,
    )


def sft_collator(tokenizer, packing: bool):
    """Flattened (padding-free, positions restart per conversation) or right-padded batches; labels -100 on pads."""
    if packing:
        return DataCollatorWithFlattening()
    return DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100)


def sft_trainer(model, tokenizer, args: TrainingArguments, plan: StepPlan, train_rows, eval_rows=None,
                packing: bool = False, callbacks: list | None = None, optimizer_settings=None):
    """The HF Trainer over encoded rows (`input_ids`, `labels`), with `plan` as its learning-rate schedule.

    `optimizer_settings`: a `TrainSettings` whose `optimizer` is "muon" for Muon + AdamW; None for AdamW."""
    from .training import _PlannedTrainer

    tokenizer.padding_side = "right"
    return _PlannedTrainer(
        plan,
        optimizer_settings,
        model=model,
        args=args,
        train_dataset=train_rows,
        eval_dataset=eval_rows,
        data_collator=sft_collator(tokenizer, packing),
        processing_class=tokenizer,
        callbacks=callbacks or [],
    )


# --- data --------------------------------------------------------------------------------------------------------


@dataclass
class FinetuneData:
    format: str  # "text" or one of sft_data.FORMATS
    train: Any
    validation: Any
    validation_text: str | None = None  # continued pretraining: raw held-out text, for bits per byte
    description: dict = field(default_factory=dict)  # what the run trained on, for the log, metrics and card
    sample_messages: list[dict] | None = None


def resolve_format(settings: FinetuneSettings) -> str:
    if settings.format != "auto":
        return settings.format
    if not settings.data:
        return "messages"  # the chat demo
    formats = {detect_format(path) for path in settings.data}
    if len(formats) > 1:
        raise ValueError(f"data: files in different formats {sorted(formats)}; fine-tune on one format at a time "
                         "or pass --format")
    return formats.pop()


def text_data(settings: FinetuneSettings, tokenizer, block_size: int, log=print) -> FinetuneData:
    """Continued pretraining: the main job's data path (documents -> packed blocks) with the model's tokenizer."""
    from datasets import DatasetDict

    from .data import describe, load_documents, prepare_data, split_documents
    from .training import available_cores

    num_proc = settings.num_proc or available_cores()
    cap = settings.max_eval_tokens or None
    docs = load_documents(settings.data, settings.text_field)
    if settings.validation_data:  # the given held-out files replace the hold-out
        splits = DatasetDict(train=docs, validation=load_documents(settings.validation_data, settings.text_field))
    else:
        splits = split_documents(docs, settings.validation_fraction, settings.seed)
    data = prepare_data(splits, tokenizer, block_size, num_proc=num_proc, document_masking=settings.document_masking,
                        max_eval_tokens=cap, log=log)
    log(describe(data.stats, block_size))
    description = {"format": "text", "train_blocks": len(data.train), "validation_blocks": len(data.validation),
                   "block_size": block_size, "train_tokens": data.stats["train_tokens"],
                   "eval_tokens": data.stats["eval_tokens"]}
    return FinetuneData("text", data.train, data.validation, data.validation_text, description)


def read_chat_rows(settings: FinetuneSettings, fmt: str):
    """Every row parsed and checked (before any model is loaded), then split into training and held-out rows."""
    fmt = None if settings.format == "auto" else fmt  # auto: each row by its own keys
    if settings.data:
        conversations = read_conversations(settings.data, fmt)
    else:
        from .corpus.chat_demo import DEMO_ROWS, chat_rows
        from .sft_data import Conversation, to_messages

        conversations = [Conversation(to_messages(row, f"chat demo row {i}"), f"chat demo row {i}")
                         for i, row in enumerate(chat_rows(DEMO_ROWS, settings.seed))]
    if settings.validation_data:
        return conversations, read_conversations(settings.validation_data, fmt)
    return split_conversations(conversations, settings.validation_fraction, settings.seed)


def chat_data(settings: FinetuneSettings, tokenizer, fmt: str, block_size: int, rows, log=print) -> FinetuneData:
    """SFT: checked rows encoded with the model's chat template; rows longer than the context counted and left out."""
    check_chat_template(tokenizer, settings.model)
    train, validation = rows
    named = next((c.source for c in [*train, *validation] if any(m.get("name") for m in c.messages)), None)
    if named and not renders_message_names(tokenizer):
        raise ValueError(f"{named}: a message has a 'name', which the chat template of {settings.model} drops "
                         "(saved before names were rendered); remove the names or use a newer tokenizer")
    encoded_train = encode_conversations(tokenizer, train, block_size, settings.prompt_loss)
    encoded_val = encode_conversations(tokenizer, validation, block_size, settings.prompt_loss)
    skipped = encoded_train.skipped + encoded_val.skipped
    if skipped:
        log(f"skipped {len(skipped)} of {len(train) + len(validation)} conversations longer than the context of "
            f"{block_size} tokens (first: {', '.join(skipped[:3])}); raise --block-size if the model allows it")
    for name, split in (("training", encoded_train), ("validation", encoded_val)):
        if not split.rows:
            raise ValueError(f"every {name} conversation is longer than the context of {block_size} tokens")
    description = {
        "format": fmt, "train_rows": len(encoded_train.rows), "validation_rows": len(encoded_val.rows),
        "skipped_too_long": len(skipped), "train_tokens": encoded_train.tokens,
        "train_target_tokens": encoded_train.target_tokens, "loss_on": "all tokens" if settings.prompt_loss
        else "assistant turns", "packing": "flattened" if settings.packing else "padded, grouped by length",
    }
    log(f"data: {fmt} rows, {len(encoded_train.rows)} train / {len(encoded_val.rows)} validation, "
        f"{encoded_train.tokens} tokens of which {encoded_train.target_tokens} are trained on")
    # the sample prompt: the first held-out conversation up to (not including) its first assistant turn
    sample = validation[0].messages
    first_answer = next(i for i, m in enumerate(sample) if m["role"] == "assistant")
    return FinetuneData(fmt, encoded_train.rows, encoded_val.rows, None, description, sample[:first_answer])


# --- schedule ----------------------------------------------------------------------------------------------------


def plan_steps(settings: FinetuneSettings, args: TrainingArguments, model, data: FinetuneData,
               resume_from: Path | None, log=print) -> tuple[StepPlan, bool]:
    """Total steps (given, from the checkpoint, from the budget, or --epochs), warmup and eval interval, set on
    `args`. Returns the plan and whether a time budget corrects it while training."""
    from .training import PERIODIC_EVALS, REPLAN_HEADROOM

    per_step = settings.batch_size * settings.gradient_accumulation_steps * args.world_size
    steps, replan = settings.max_steps, False
    if steps <= 0:
        if resume_from is not None:
            steps = json.loads((resume_from / "trainer_state.json").read_text())["max_steps"]
        elif settings.max_minutes:
            lengths = [len(r["input_ids"]) for r in data.train] if data.format != "text" else [data.description[
                "block_size"]]
            typical = max(2, round(sum(lengths) / len(lengths)))
            shape = (1, typical * settings.batch_size) if settings.packing else (settings.batch_size, typical)
            steps = calibrate_steps(model, shape[0], shape[1], settings.gradient_accumulation_steps,
                                    settings.max_minutes, args.device, bf16=args.bf16)
            replan = True
        else:
            steps = max(1, math.ceil(settings.epochs * len(data.train) / per_step))
        if args.world_size > 1:
            from accelerate.utils import broadcast_object_list

            steps = broadcast_object_list([steps])[0]
    args.eval_steps = max(1, steps // PERIODIC_EVALS) if replan else min(settings.eval_every, steps)
    warmup = min(settings.warmup_steps, max(1, steps // 10))
    args.max_steps = int(steps * REPLAN_HEADROOM) if replan else steps
    args.warmup_steps = warmup
    epochs = steps * per_step / len(data.train)
    log(f"schedule: {steps} steps (~{epochs:.2f} epochs{', corrected while training' if replan else ''}), warmup "
        f"{warmup}, eval every {args.eval_steps}, lr {settings.peak_learning_rate:g} cosine to "
        f"{settings.min_lr_ratio:g}x")
    return StepPlan(steps, warmup, settings.min_lr_ratio), replan


# --- the job -----------------------------------------------------------------------------------------------------


def _sample(model, tokenizer, data: FinetuneData, settings: FinetuneSettings) -> str:
    from .tokenization import stop_token_ids

    set_seed(settings.seed)
    model.eval()
    device = next(model.parameters()).device
    if data.format == "text":
        prompt = settings.sample_prompt or ""
        ids = tokenizer(prompt or tokenizer.eos_token, return_tensors="pt")["input_ids"]
    else:
        messages = ([{"role": "user", "content": settings.sample_prompt}] if settings.sample_prompt
                    else data.sample_messages)
        ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                            return_dict=True)["input_ids"]
    ids = ids.to(device)
    room = model.config.max_position_embeddings - ids.shape[1]
    if room <= 0 or settings.sample_tokens == 0:
        return ""
    output = model.generate(input_ids=ids, max_new_tokens=min(settings.sample_tokens, room), do_sample=False,
                            repetition_penalty=1.1, eos_token_id=stop_token_ids(tokenizer),
                            pad_token_id=tokenizer.pad_token_id)
    return tokenizer.decode(output[0, ids.shape[1]:], skip_special_tokens=True)


def _held_out_bits(model, tokenizer, data: FinetuneData, block_size: int, batch_size: int) -> dict:
    if data.validation_text is None:
        return {}
    from .evaluation import evaluate_text

    return evaluate_text(model, tokenizer, data.validation_text, block_size=block_size, batch_size=batch_size)


def finish(trainer, tokenizer, settings: FinetuneSettings, data: FinetuneData, block_size: int,
           result: dict[str, Any], log=print) -> dict[str, Any]:
    """On the main process: held-out numbers after training, the adapter and/or model folder, card, curve, sample."""
    from .card import write_finetune_card
    from .modelio import save_model_folder
    from .training import _plot_losses

    out = Path(settings.output_dir)
    model = trainer.model
    model.config.use_cache = True
    result.update({f"heldout_{k}": v for k, v in
                   _held_out_bits(model, tokenizer, data, block_size, settings.batch_size).items()})
    if settings.lora:
        adapter_dir = out / "adapter"
        if adapter_dir.exists():
            shutil.rmtree(adapter_dir)
        model.save_pretrained(str(adapter_dir))
        tokenizer.save_pretrained(str(adapter_dir))
        result["adapter_dir"] = str(adapter_dir)
        if not settings.merge:
            result["sample"] = _sample(model, tokenizer, data, settings)
            (adapter_dir / "finetune_metrics.json").write_text(json.dumps(result, indent=2))
            return result
        model = model.merge_and_unload()
    final_dir = out / "final"
    save_model_folder(model, tokenizer, final_dir, overwrite=True)
    plot = _plot_losses(trainer.state.log_history, final_dir / "loss_curve.png")
    result["final_dir"] = str(final_dir)
    result["sample"] = _sample(model, tokenizer, data, settings)
    write_finetune_card(final_dir, settings, result, data.description, plot is not None)
    (final_dir / "finetune_metrics.json").write_text(json.dumps(result, indent=2))
    return result


def finetune(settings: FinetuneSettings, log=print) -> dict[str, Any]:
    """Run the fine-tuning job; returns metrics before and after and the path of the result."""
    from .modelio import load_model_and_tokenizer
    from .training import _distributed_type, check_launch, prepare_output_dir, resolve_bf16

    started = time.monotonic()
    settings.validate()
    check_base_folder(settings.model, settings.lora)
    set_seed(settings.seed)
    fmt = resolve_format(settings)
    use_bf16 = resolve_bf16(settings.bf16)
    args = finetune_arguments(settings, use_bf16, settings.output_dir)
    check_launch(args, log)
    rows = read_chat_rows(settings, fmt) if fmt != "text" else None
    model, tokenizer = load_model_and_tokenizer(settings.model)
    context = model.config.max_position_embeddings
    block_size = settings.block_size or context
    if block_size > context:
        raise ValueError(f"block_size {block_size} exceeds the model's context of {context} tokens")
    created_here = not Path(settings.output_dir).exists()
    resume_from = prepare_output_dir(settings, args, log)
    try:
        with args.main_process_first(desc="fine-tuning data"):
            data = (text_data(settings, tokenizer, block_size, log) if fmt == "text"
                    else chat_data(settings, tokenizer, fmt, block_size, rows, log))
    except BaseException:
        if created_here and args.process_index == 0:
            shutil.rmtree(settings.output_dir, ignore_errors=True)
        raise
    model.train()
    if settings.lora:
        model = wrap_lora(model, settings.lora_r, settings.lora_alpha, settings.lora_dropout,
                          settings.lora_target_modules)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    log(f"model: {settings.model}, {total / 1e6:.2f}M parameters, {trainable / 1e6:.3f}M trained"
        f"{' (LoRA r=%d)' % settings.lora_r if settings.lora else ''}, bf16={use_bf16}")
    plan, replan = plan_steps(settings, args, model, data, resume_from, log)
    budget = None
    if settings.max_minutes:
        eval_cost = len(data.validation) / (3.0 * settings.batch_size)
        budget = TimeBudgetCallback(settings.max_minutes, plan if replan else None, args.max_steps, eval_cost)
    from .data import PackedBlockCollator
    from .training import _PlannedTrainer

    if fmt == "text":
        trainer = _PlannedTrainer(plan, model=model, args=args, train_dataset=data.train,
                                  eval_dataset=data.validation, data_collator=PackedBlockCollator(
                                      tokenizer.pad_token_id), processing_class=tokenizer,
                                  callbacks=[budget] if budget else [])
    else:
        trainer = sft_trainer(model, tokenizer, args, plan, data.train, data.validation, settings.packing,
                              [budget] if budget else [])
    if budget is not None:
        budget.progress = [cb for cb in trainer.callback_handler.callbacks if isinstance(cb, ProgressCallback)]
    result: dict[str, Any] = {"base_model": str(settings.model),
                              "data": [str(p) for p in settings.data] or ["chat demo (generated, corpus/chat_demo.py)"],
                              **data.description}
    if resume_from is None:
        # step 0: the base model on the held-out data, so the gain of this run is measured, not assumed
        result["eval_loss_before"] = trainer.evaluate()["eval_loss"]
        result.update({f"heldout_{k}_before": v for k, v in
                       _held_out_bits(model, tokenizer, data, block_size, settings.batch_size).items()})
        model.train()
    # The length-grouped sampler draws its order from the global RNG: seeding here makes the order depend on the
    # seed alone, so a resumed run skips exactly the batches the interrupted one consumed.
    set_seed(settings.seed)
    train_result = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    final_eval = [h for h in trainer.state.log_history
                  if "eval_loss" in h and h.get("step") == trainer.state.global_step]
    result.update({
        "eval_loss": (final_eval[-1] if final_eval else trainer.evaluate())["eval_loss"],
        "train_loss": train_result.training_loss,
        "steps": trainer.state.global_step,
        "parameters": total,
        "trainable_parameters": trainable,
        "lora": settings.lora,
        "learning_rate": settings.peak_learning_rate,
        "bf16": use_bf16,
        "train_seconds": round(time.monotonic() - started, 1),
        "train_loop_seconds": round(train_result.metrics["train_runtime"], 1),
        "world_size": args.world_size,
        "distributed_type": _distributed_type(args),
    })
    if trainer.is_world_process_zero():
        result = finish(trainer, tokenizer, settings, data, block_size, result, log)
    return result


__all__ = [
    "FinetuneSettings",
    "check_base_folder",
    "finetune",
    "finetune_arguments",
    "lora_target_modules",
    "sft_collator",
    "sft_trainer",
    "wrap_lora",
]
