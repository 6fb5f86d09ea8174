"""Supervised fine-tuning for the Excel task with the HF Trainer: loss on the assistant's formula only.

Two starting points: from scratch (a byte-level BPE trained on the synthetic prompts plus a small modern TinySLM)
or a pretrained TinySLM folder (full fine-tuning, or LoRA adapters via `peft` merged back into a plain checkpoint).
The defaults are sized for a 2-core CPU: ~130-token prompts, a ~1M-parameter model, 7000 steps of 16 examples.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ..settings import LR_SCHEDULES, OPTIMIZERS, check_choice, check_number
from ..sft_data import ConversationTooLong, encode_conversation
from .example import Example, read_jsonl
from .synthetic.breadth import BREADTH
from .synthetic.generator import generate
from .synthetic.phrasings import REQUEST_NOISE
from .prompt import example_messages, fitted_prompt_messages, prompt_limit
from .synthetic.topics import INVENTED_FRACTION


@dataclass
class ExcelTrainConfig:
    """Everything `tinyslm excel train` can set; the defaults are the measured CPU recipe (docs/excel.md)."""

    out_dir: str
    data_dir: str | None = None  # train.jsonl (+ validation.jsonl); None: generate in memory
    n_train: int = 40000
    seed: int = 0
    invented_fraction: float = INVENTED_FRACTION  # generated data only (see synthetic/topics.py)
    request_noise: float = REQUEST_NOISE  # generated data only: share of requests with word-level noise (synthetic/phrasings.py)
    breadth: float = BREADTH  # generated data only: share of requests with widened wording (synthetic/breadth.py)
    init: str | None = None  # pretrained TinySLM folder; None: from scratch
    lora: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    vocab_size: int = 2048
    copy_friendly_tokenizer: bool = False  # spaces/digits as own tokens; measured no better here (docs/excel.md)
    hidden_size: int = 128
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    intermediate_size: int = 352
    max_length: int = 320
    max_steps: int = 7000  # 8000 took 31 min with the Links line; 7000 keeps the whole run under 30 (docs/excel.md)
    # A wall-clock budget for the training loop instead of max_steps: steps are sized by timing a few, corrected
    # while training, and the cosine schedule ends at the deadline (the main job's budget, tinyslm_hf/budget.py).
    max_minutes: float | None = None
    batch_size: int = 16
    learning_rate: float = 3e-3
    # "muon": Muon on the blocks' matrices, AdamW on the rest (tinyslm_hf/optim.py); "adamw": AdamW on everything.
    # None: Muon from scratch (at 1500 steps Muon + wsd scored 76.7% on validation against AdamW + cosine's 43.7%,
    # docs/excel.md), AdamW for --init / --lora (LoRA's small matrices and a pretrained start were not measured).
    optimizer: str | None = None
    muon_learning_rate: float = 0.01
    lr_schedule: str = "wsd"  # or "cosine"; wsd: warmup, peak held, linear decay over the last `decay_fraction`
    decay_fraction: float = 0.3
    warmup_steps: int = 30
    weight_decay: float = 0.01
    threads: int | None = None
    # None: bf16 autocast on a bf16-capable GPU only. On a native-bf16 CPU (AMX) this ~1M-parameter model steps
    # slower in bf16 than in fp32 (193 vs 153 ms per batch of 16, docs/excel.md): the casts cost more than they save.
    bf16: bool | None = None
    logging_steps: int = 50
    overwrite: bool = False
    extra: dict = field(default_factory=dict)


ExampleTooLong = ConversationTooLong  # an example longer than max_length is left out, never cut


def encode_example(tokenizer, example: Example, max_length: int = 320, context: int | None = None) -> dict:
    """Token ids plus labels that are -100 everywhere except the assistant's answer (formula + <|im_end|>).

    The table is shown as decoding shows it to a model of `context` tokens (default `max_length`): a prompt over
    `prompt.prompt_limit(context)` loses the sample values of the columns its request does not name, then all of
    them (`prompt.fitted_prompt_messages`), so the model learns the prompts it will read. An example longer than
    `max_length` even then raises: cutting it would remove the request or schema lines the answer depends on, so
    `train_excel` leaves such examples out (and counts them) instead.
    """
    context = max_length if context is None else context
    try:  # most prompts fit whole: one encoding, no counting
        encoded = encode_conversation(tokenizer, example_messages(example), max_length)
        if next(i for i, t in enumerate(encoded["labels"]) if t != -100) <= prompt_limit(context):
            return encoded
    except ConversationTooLong:
        pass
    messages = fitted_prompt_messages(tokenizer, example.table, example.request, example.show_samples, context)
    return encode_conversation(tokenizer, messages + [{"role": "assistant", "content": example.formula}], max_length)


def train_texts(examples: list[Example]) -> list[str]:
    """Text the from-scratch tokenizer is trained on: the rendered user turns and the formulas."""
    return [m["content"] for ex in examples for m in example_messages(ex)]


def _load_examples(cfg: ExcelTrainConfig) -> list[Example]:
    if cfg.data_dir:
        path = Path(cfg.data_dir) / "train.jsonl"
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found (make it with `tinyslm excel generate-data --out {cfg.data_dir}`)")
        return read_jsonl(path)
    return list(generate("train", cfg.n_train, seed=cfg.seed, invented_fraction=cfg.invented_fraction,
                         noise=cfg.request_noise, breadth=cfg.breadth))


def _fresh_model(cfg: ExcelTrainConfig, tokenizer):
    from ..configuration_tinyslm import TinySLMConfig
    from ..modeling_tinyslm import TinySLMForCausalLM

    config = TinySLMConfig.from_preset(
        "modern",
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden_size,
        num_hidden_layers=cfg.num_hidden_layers,
        num_attention_heads=cfg.num_attention_heads,
        num_key_value_heads=cfg.num_key_value_heads,
        intermediate_size=cfg.intermediate_size,
        max_position_embeddings=max(cfg.max_length, 256),
    )
    torch.manual_seed(cfg.seed)
    return TinySLMForCausalLM(config)


def _use_bf16(cfg: ExcelTrainConfig) -> bool:
    """The main trainer's precision policy, with "auto" off on CPUs (see `ExcelTrainConfig.bf16`)."""
    from ..training import resolve_bf16

    return resolve_bf16(cfg.bf16, auto_on_cpu=False)


def _model_and_tokenizer(cfg: ExcelTrainConfig, examples: list[Example]):
    """The model to train: `--init`'s (with its tokenizer, which must have a chat template) or a fresh one with a
    tokenizer trained on these examples."""
    from ..modelio import load_model_and_tokenizer
    from ..tokenization import train_tokenizer

    if cfg.init:
        model, tokenizer = load_model_and_tokenizer(cfg.init)
        if tokenizer.chat_template is None:
            raise ValueError(f"{cfg.init}: tokenizer has no chat template")
    else:
        tokenizer = train_tokenizer(train_texts(examples), vocab_size=cfg.vocab_size, model_max_length=cfg.max_length,
                                    copy_friendly=cfg.copy_friendly_tokenizer)
        model = _fresh_model(cfg, tokenizer)
    tokenizer.padding_side = "right"
    return model, tokenizer


def _encode_all(tokenizer, examples: list[Example], max_length: int, context: int) -> tuple[list[dict], int]:
    """Encoded examples, and how many were skipped for being longer than `max_length`."""
    rows, skipped = [], 0
    for ex in examples:
        try:
            rows.append(encode_example(tokenizer, ex, max_length, context))
        except ConversationTooLong:
            skipped += 1
    if not rows:
        raise ValueError(f"every example is longer than max_length={max_length} tokens")
    return rows, skipped


def _optimizer(cfg: ExcelTrainConfig) -> str:
    return cfg.optimizer or ("adamw" if cfg.init else "muon")


def _run_trainer(cfg: ExcelTrainConfig, model, tokenizer, dataset: list[dict], use_bf16: bool):
    """`tinyslm finetune`'s Trainer wiring over padded, length-grouped batches, with the recipe's optimizer and
    schedule (warmup, then cosine or warmup-stable-decay to zero); checkpoints go to a temporary folder and are
    dropped."""
    from ..budget import StepPlan, TimeBudgetCallback, calibrate_steps
    from ..finetune import FinetuneSettings, finetune_arguments, sft_trainer
    from ..settings import TrainSettings
    from ..training import REPLAN_HEADROOM, optimizer_step_seconds

    settings = FinetuneSettings(
        model="(in memory)", max_steps=cfg.max_steps, batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
        warmup_steps=cfg.warmup_steps, min_lr_ratio=0.0, weight_decay=cfg.weight_decay,
        logging_steps=cfg.logging_steps, seed=cfg.seed, packing=False,
    )
    with tempfile.TemporaryDirectory(prefix="excel-train-") as tmp:
        args = finetune_arguments(settings, use_bf16, tmp, save=False, evaluate=False)
        args.disable_tqdm = True
        steps, callbacks = cfg.max_steps, []
        # Muon without weight decay: the recipe the Excel numbers were measured with (the main job's 0.05 was tuned
        # on the 10-epoch corpus run, not here).
        optimizer = TrainSettings(optimizer=_optimizer(cfg), muon_learning_rate=cfg.muon_learning_rate,
                                  muon_weight_decay=0.0)
        if cfg.max_minutes:
            lengths = sorted(len(row["input_ids"]) for row in dataset)
            steps = calibrate_steps(model, cfg.batch_size, lengths[len(lengths) // 2], 1, cfg.max_minutes,
                                    args.device, bf16=args.bf16,
                                    optimizer_seconds=optimizer_step_seconds(optimizer, args, model))
            args.max_steps = int(steps * REPLAN_HEADROOM)  # room for a plan corrected upwards
        plan = StepPlan(steps, min(cfg.warmup_steps, max(1, steps // 10)), settings.min_lr_ratio, cfg.lr_schedule,
                        cfg.decay_fraction)
        if cfg.max_minutes:
            callbacks.append(TimeBudgetCallback(cfg.max_minutes, plan, args.max_steps, 0.0))
        trainer = sft_trainer(model, tokenizer, args, plan, dataset, packing=False, callbacks=callbacks,
                              optimizer_settings=optimizer)
        result = trainer.train()
        history = [h for h in trainer.state.log_history if "loss" in h]
        result.metrics["steps"] = trainer.state.global_step
        inner = getattr(trainer.optimizer, "optimizer", trainer.optimizer)  # Accelerate wraps it
        result.metrics["optimizer"] = type(inner).__name__
    return result, history


def train_excel(cfg: ExcelTrainConfig) -> dict:
    """Train and save a model folder at `cfg.out_dir`; returns a summary (also written as excel_train.json)."""
    from ..modelio import save_model_folder

    out = Path(cfg.out_dir)
    if out.exists() and not cfg.overwrite:
        raise FileExistsError(f"{out} already exists (pass --overwrite to replace it)")
    if cfg.lora and not cfg.init:
        raise ValueError("--lora adapts an existing model: give it one with --init DIR")
    check_choice("optimizer", _optimizer(cfg), OPTIMIZERS)
    check_choice("lr_schedule", cfg.lr_schedule, LR_SCHEDULES)
    check_number("decay_fraction", cfg.decay_fraction, 0.0, 1.0, low_open=True, high_closed=True)
    check_number("muon_learning_rate", cfg.muon_learning_rate, 0.0, float("inf"), low_open=True)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    start = time.time()
    examples = _load_examples(cfg)
    if not examples:
        raise ValueError("no training examples")
    model, tokenizer = _model_and_tokenizer(cfg, examples)
    context = model.config.max_position_embeddings
    dataset, too_long = _encode_all(tokenizer, examples, min(cfg.max_length, context), context)
    data_seconds = time.time() - start
    model.train()
    if cfg.lora:
        from ..finetune import wrap_lora

        model = wrap_lora(model, cfg.lora_r, cfg.lora_alpha)
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    use_bf16 = _use_bf16(cfg)
    result, history = _run_trainer(cfg, model, tokenizer, dataset, use_bf16)
    model.eval()
    if cfg.lora:
        adapter_dir = out.parent / f"{out.name}-adapter"
        model.save_pretrained(str(adapter_dir))
        model = model.merge_and_unload()
    save_model_folder(model.cpu(), tokenizer, out, overwrite=cfg.overwrite)
    summary = {
        "examples": len(dataset),
        "skipped_too_long": too_long,
        "steps": result.metrics["steps"],
        "optimizer": result.metrics["optimizer"],  # the class that stepped, not the flag
        "trainable_parameters": n_trainable,
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_loss": result.training_loss,
        "last_logged_loss": history[-1]["loss"] if history else None,
        "data_seconds": round(data_seconds, 1),
        "total_seconds": round(time.time() - start, 1),
        "threads": torch.get_num_threads(),
        "bf16": use_bf16,
        "config": {k: v for k, v in asdict(cfg).items() if k != "extra"},
    }
    with open(out / "excel_train.json", "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=2)
    return summary
