"""Pretraining with the HF Trainer (Accelerate underneath: CPU, one GPU, DDP/FSDP/DeepSpeed via `accelerate launch`).

`train(TrainSettings())` is the whole main job: tokenizer -> datasets blocks -> Trainer -> evaluation -> a complete
model folder in `<output_dir>/final`. Every field of `TrainSettings` is a CLI flag and a key of a YAML/JSON config.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR
from transformers import (
    Trainer,
    TrainingArguments,
    set_seed,
)
from transformers.trainer_callback import ProgressCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from .budget import StepPlan, TimeBudgetCallback, calibrate_steps
from .configuration_tinyslm import PRESETS, TinySLMConfig
from .data import (PackedBlockCollator, column, describe, embedded_corpus_path, even_sample, load_documents,
                   prepare_data, split_documents, texts_of, throughput)
from .evaluation import evaluate_text
from .modeling_tinyslm import TinySLMForCausalLM
from .modelio import save_model_folder
from .settings import TrainSettings, read_settings_file  # noqa: F401  (re-exported: the library's entry points)
from .tokenization import check_vocab_compatible, load_tokenizer, stop_token_ids, train_tokenizer
from .weight_averaging import AVERAGE_FILE, WeightAveragingCallback


# Muon orthogonalises whole matrices; a sharded parameter holds only a slice of one (and a DeepSpeed config may bring
# its own optimizer, which would silently replace it).
MUON_NEEDS_WHOLE_MATRICES = ("optimizer muon needs whole weight matrices on every process: use it with data-parallel "
                             "training (DDP), not FSDP or DeepSpeed (--optimizer adamw)")
AVERAGING_NEEDS_WHOLE_WEIGHTS = ("weight averaging keeps a copy of the whole model on every process: pass "
                                 "--weight-averaging 0 with FSDP or DeepSpeed")
PERIODIC_EVALS = 4  # evaluations during a run whose length is derived from a time budget
REPLAN_HEADROOM = 2.0  # how far above the first plan a budgeted run may be corrected (a first plan timed while
# other work shares the CPU can come out well short, and the cap would then end the run before its budget)
STREAM_SHUFFLE_BLOCKS = 1024  # a streamed run's shuffle buffer: blocks from ~1024 places mixed (256k tokens at 256)



def bf16_supported() -> bool:
    """bf16 autocast only where the hardware does bf16 math natively; emulated bf16 on CPU is slower than fp32."""
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def resolve_bf16(requested: str | bool | None, auto_on_cpu: bool = True) -> bool:
    """The one precision policy: whether a run uses bf16 autocast.

    `requested` is True/False (or "true"/"false"), or "auto"/None: bf16 where the hardware does bf16 math natively
    (`bf16_supported`). `auto_on_cpu=False` keeps "auto" off on CPUs, for models so small that the autocast casts
    cost more than the bf16 matmuls save (the Excel model; docs/excel.md).
    """
    if requested in (True, "true", "True", "1"):
        return True
    if requested in (False, "false", "False", "0"):
        return False
    if requested not in (None, "auto"):
        raise ValueError(f"bf16 must be auto, true or false, got {requested!r}")
    return bf16_supported() and (auto_on_cpu or accelerator_available())


def accelerator_available() -> bool:
    """Whether torch sees a GPU or another accelerator (CUDA, ROCm, XPU, MPS, ...)."""
    accelerator = getattr(torch, "accelerator", None)  # torch >= 2.6
    if accelerator is not None:
        return accelerator.is_available()
    mps = getattr(torch.backends, "mps", None)
    return torch.cuda.is_available() or bool(mps and mps.is_available())


def precision_args(use_bf16: bool) -> dict:
    """`TrainingArguments` keywords for a run with or without bf16 autocast, on whatever device is present.

    `use_cpu` is set whenever no accelerator is present, in every precision: Accelerate forms a multi-process
    (gloo) group on CPUs only when told the run is on the CPU, so without it each rank of a `torchrun` launch would
    train alone on all the data; transformers also refuses `bf16=True` without a GPU otherwise. A machine with an
    accelerator keeps it.
    """
    return {"bf16": use_bf16, "use_cpu": not accelerator_available()}


def _distributed_type(args: TrainingArguments) -> str:
    """What Accelerate made of the launch: NO, MULTI_CPU, MULTI_GPU, FSDP, DEEPSPEED, ..."""
    return args.distributed_state.distributed_type.value if args.distributed_state else "NO"


def _sharded_launch() -> tuple[str, str] | None:
    """(variable, name) of the sharding `accelerate launch` asked for through the environment, or None."""
    for variable, name in (("ACCELERATE_USE_FSDP", "FSDP"), ("ACCELERATE_USE_DEEPSPEED", "DeepSpeed")):
        if os.environ.get(variable, "").lower() in ("1", "true", "yes"):
            return variable, name
    return None


def check_launch(args: TrainingArguments, log=print, optimizer: str = "adamw", weight_averaging: float = 0.0) -> None:
    """Refuse launches that would not do what they ask for, then log what the run actually is.

    FSDP and DeepSpeed shard across GPUs; on a machine without one Accelerate would quietly run plain data
    parallelism (or independent copies) instead, so such a launch is refused. A launcher that started several
    processes (WORLD_SIZE) must have produced a process group of that size, or every rank would train alone and
    write the same folder.
    """
    sharded = _sharded_launch()
    if sharded and not accelerator_available():
        variable, name = sharded
        raise ValueError(
            f"this launch asks for {name} ({variable}), which shards across GPUs, and this machine has "
            "none; on CPUs run data-parallel training: torchrun --nproc_per_node N -m tinyslm_hf train ..."
        )
    if sharded or args.fsdp or args.deepspeed:  # every refusal at once, so one corrected command works
        refusals = [message for needed, message in ((optimizer == "muon", MUON_NEEDS_WHOLE_MATRICES),
                                                    (bool(weight_averaging), AVERAGING_NEEDS_WHOLE_WEIGHTS))
                    if needed]
        if refusals:
            raise ValueError("; ".join(refusals))
    launched = int(os.environ.get("WORLD_SIZE", "1"))
    if launched != args.world_size:
        raise RuntimeError(f"the launcher started {launched} processes (WORLD_SIZE) but the run joined a process "
                           f"group of {args.world_size}; refusing to train {launched} independent copies")
    if args.process_index == 0:
        backend = args.distributed_state.backend if args.distributed_state else None
        log(f"processes: {args.world_size} ({_distributed_type(args)}, backend {backend}), device {args.device}")


def prepare_output_dir(settings: "TrainSettings", args: TrainingArguments, log=print) -> Path | None:
    """The output-dir policy (refuse, overwrite or resume), applied by the main process before the others look, so
    ranks never race on one folder. Returns the checkpoint to resume from, if any."""
    output_dir = Path(settings.output_dir)
    # Every rank checks before any of them changes anything, so each one fails with the message, not at a barrier.
    if output_dir.exists() and any(output_dir.iterdir()) and not (settings.overwrite or settings.resume):
        raise FileExistsError(f"{output_dir} already exists: pass --overwrite to replace it or --resume to continue")
    with args.main_process_first(local=False, desc="output directory"):
        if args.process_index == 0:
            if settings.overwrite and not settings.resume and output_dir.exists():
                shutil.rmtree(output_dir)
            output_dir.mkdir(parents=True, exist_ok=True)
        resume_from = last_complete_checkpoint(output_dir) if settings.resume else None
    if settings.resume:
        if resume_from is None:
            raise FileNotFoundError(f"--resume: no complete checkpoint in {output_dir}")
        check_resume_recipe(settings, resume_from)
        log(f"resuming from {resume_from}")
    return resume_from


def check_resume_recipe(settings: "TrainSettings", checkpoint: Path) -> None:
    """A checkpoint continues with the optimizer and schedule it was trained with; asking for others on `--resume`
    would fail inside torch (a different number of parameter groups) or be silently overridden by the saved plan."""
    saved = {}
    optimizer_file, scheduler_file = checkpoint / "optimizer.pt", checkpoint / "scheduler.pt"
    if optimizer_file.is_file():
        groups = torch.load(optimizer_file, map_location="cpu", weights_only=True)["param_groups"]
        saved["optimizer"] = "muon" if any(g.get("rule") == "muon" for g in groups) else "adamw"
    if scheduler_file.is_file():
        plans = torch.load(scheduler_file, map_location="cpu", weights_only=True).get("lr_lambdas") or [None]
        saved["lr_schedule"] = (plans[0] or {}).get("shape", "cosine")  # checkpoints before wsd existed: cosine
    for name, value in saved.items():
        if getattr(settings, name, value) != value:  # FinetuneSettings has no recipe choice: nothing to compare
            raise ValueError(f"--resume: {checkpoint} was trained with {name} {value}; pass "
                             f"--{name.replace('_', '-')} {value} to continue it")
    # The model is rebuilt from the checkpoint's own config, so an untyped --qk-norm follows it (runs from before the
    # field existed have none: off); only a typed one that contradicts it is an error.
    config_file = checkpoint / "config.json"
    if getattr(settings, "qk_norm", None) is not None and config_file.is_file():
        saved_qk_norm = json.loads(config_file.read_text(encoding="utf-8")).get("qk_norm", False)
        if settings.qk_norm != saved_qk_norm:
            flag = "--qk-norm" if saved_qk_norm else "--no-qk-norm"
            raise ValueError(f"--resume: {checkpoint} was trained with qk_norm {saved_qk_norm}; pass {flag} (or "
                             "neither) to continue it")


def resolved_qk_norm(settings: "TrainSettings") -> bool:
    """`--qk-norm` as given, else the preset's default: on for modern, off for the GPT-2-shaped seed."""
    return settings.preset == "modern" if settings.qk_norm is None else settings.qk_norm


def last_complete_checkpoint(output_dir: Path) -> Path | None:
    """Newest `checkpoint-N` that finished saving. The Trainer writes trainer_state.json last, so a checkpoint
    without it was interrupted (e.g. `kill -9` during a save) and is removed rather than resumed from."""
    if not output_dir.is_dir():
        return None
    found = []
    for path in output_dir.glob(f"{PREFIX_CHECKPOINT_DIR}-*"):
        suffix = path.name.rsplit("-", 1)[-1]
        if path.is_dir() and suffix.isdigit():
            found.append((int(suffix), path))
    for _, path in sorted(found, reverse=True):
        if (path / "trainer_state.json").is_file() and any(path.glob("*.safetensors")):
            return path
        shutil.rmtree(path, ignore_errors=True)
    return None


class _PlannedTrainer(Trainer):
    """A Trainer whose learning-rate schedule is a `StepPlan`, so a time budget can correct its length mid-run, and
    whose optimizer may be Muon + AdamW (`optimizer_settings`: a `TrainSettings` with `optimizer="muon"`). Both are
    built where the Trainer builds its own, so Accelerate wraps them and checkpoints save and restore their state."""

    def __init__(self, plan: StepPlan, optimizer_settings: TrainSettings | None = None, **kwargs):
        super().__init__(**kwargs)
        self.plan = plan
        self.optimizer_settings = optimizer_settings
        self.weight_average: WeightAveragingCallback | None = None  # set by weight_averaging()

    def create_optimizer(self, model=None):
        settings = self.optimizer_settings
        if self.optimizer is None and settings is not None and settings.optimizer == "muon":
            if self.is_fsdp_enabled or self.is_deepspeed_enabled:
                raise ValueError(MUON_NEEDS_WHOLE_MATRICES)
            self.optimizer = build_optimizer(settings, self.args, self.model if model is None else model)
        return super().create_optimizer(model)

    def _save_optimizer_and_scheduler(self, output_dir: str) -> None:
        # The weight average belongs to the checkpoint: written with the optimizer, before trainer_state.json marks
        # the folder complete (last_complete_checkpoint).
        super()._save_optimizer_and_scheduler(output_dir)
        if self.weight_average is not None and self.args.should_save:
            self.weight_average.save(output_dir)

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        if self.lr_scheduler is None:
            self.lr_scheduler = LambdaLR(optimizer if optimizer is not None else self.optimizer, self.plan)
            self._created_lr_scheduler = True
        return self.lr_scheduler


def model_config(settings: TrainSettings, vocab_size: int, tokenizer) -> TinySLMConfig:
    overrides: dict[str, Any] = dict(
        vocab_size=vocab_size,
        hidden_size=settings.hidden_size,
        num_hidden_layers=settings.num_hidden_layers,
        num_attention_heads=settings.num_attention_heads,
        max_position_embeddings=settings.block_size,
        hidden_dropout=settings.dropout,
        attention_dropout=settings.attention_dropout,
        qk_norm=resolved_qk_norm(settings),
        pad_token_id=tokenizer.pad_token_id if tokenizer is not None else None,
        bos_token_id=tokenizer.bos_token_id if tokenizer is not None else None,
        eos_token_id=tokenizer.eos_token_id if tokenizer is not None else None,
    )
    if settings.num_key_value_heads is not None:
        overrides["num_key_value_heads"] = settings.num_key_value_heads
    elif settings.preset == "seed":
        overrides["num_key_value_heads"] = settings.num_attention_heads
    if settings.intermediate_size is not None:
        overrides["intermediate_size"] = settings.intermediate_size
    elif settings.preset == "seed":
        overrides["intermediate_size"] = 4 * settings.hidden_size
    else:  # parameter-matched SwiGLU (3 matrices of 8/3 x hidden ~ 2 of 4 x hidden), a multiple of 32 for GGUF q8_0
        overrides["intermediate_size"] = (8 * settings.hidden_size // 3 + 31) // 32 * 32
    return TinySLMConfig.from_preset(settings.preset, **overrides)


def _plot_losses(log_history: list[dict], path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    train = [(h["step"], h["loss"]) for h in log_history if "loss" in h]
    evals: dict[int, float] = {}
    for h in log_history:  # the first evaluation of a step: at the end, the last step's weights, not their average
        if "eval_loss" in h:
            evals.setdefault(h["step"], h["eval_loss"])
    evals = list(evals.items())
    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    if train:
        ax.plot(*zip(*train), label="train loss")
    if evals:
        ax.plot(*zip(*evals), marker="o", label="validation loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats/token)")
    ax.set_title("TinySLM training")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def training_arguments(settings: TrainSettings, use_bf16: bool) -> TrainingArguments:
    """The Trainer's arguments for these settings; the schedule's length is set later, by `plan_schedule`."""
    return TrainingArguments(
        output_dir=str(settings.output_dir),
        per_device_train_batch_size=settings.batch_size,
        per_device_eval_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation_steps,
        learning_rate=settings.learning_rate,
        # the scheduler is _PlannedTrainer's StepPlan: warmup + cosine/wsd to min_lr_ratio x the peak
        warmup_steps=settings.warmup_steps,
        weight_decay=settings.weight_decay,
        adam_beta1=0.9,
        adam_beta2=0.95,
        max_grad_norm=1.0,
        max_steps=max(settings.max_steps, 1),  # replaced by plan_schedule once the budget is known
        eval_strategy="steps",
        eval_steps=settings.eval_every,
        save_strategy="steps",
        save_steps=settings.save_every,
        save_total_limit=settings.save_total_limit,
        logging_steps=settings.logging_steps,
        **precision_args(use_bf16),
        seed=settings.seed,
        report_to="none",
        dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(),
        disable_tqdm=False,
        save_only_model=False,
        # A stream is read by every process itself: Accelerate gives each its own shards (IterableDataset.shard)
        # instead of reading on the main process and sending batches out.
        accelerator_config={"dispatch_batches": False} if settings.streaming else None,
    )


def available_cores() -> int:
    """CPU cores this process may run on (the affinity mask, not the machine's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def tokenizer_and_data(settings: TrainSettings, args: TrainingArguments, data_paths: list[str], log=print):
    """The tokenizer (given, left by an earlier run of this output dir, or trained on a bounded sample of the
    training split) and the packed blocks. Built on the main process first; other ranks then hit the datasets
    cache (or, streaming, read only the evaluation sample)."""
    with args.main_process_first(desc="tokenizer and data"):
        if settings.streaming:
            return _streamed_data(settings, args, data_paths, log)
        started = time.monotonic()
        docs = load_documents(data_paths, settings.text_field, settings.dataset, settings.dataset_config,
                              settings.split)
        splits = split_documents(docs, settings.validation_fraction, settings.seed)
        log(f"read and split {throughput(int(column(docs, 'n_bytes').sum()), time.monotonic() - started)}")
        tokenizer = _tokenizer(settings, args, lambda: texts_of(even_sample(splits["train"],
                                                                            settings.tokenizer_sample_bytes)), log)
        data = prepare_data(splits, tokenizer, settings.block_size, num_proc=settings.num_proc or available_cores(),
                            document_masking=settings.document_masking,
                            max_eval_tokens=settings.max_eval_tokens or None, log=log)
    log(describe(data.stats, settings.block_size))
    return tokenizer, data


def _streamed_data(settings: TrainSettings, args: TrainingArguments, data_paths: list[str], log=print):
    from .data.streaming import prepare_stream, stream_documents, training_texts

    pieces = stream_documents(data_paths, settings.text_field, settings.dataset, settings.dataset_config,
                              settings.split)
    tokenizer = _tokenizer(settings, args, lambda: training_texts(pieces, settings.validation_fraction,
                                                                  settings.tokenizer_sample_bytes), log)
    started = time.monotonic()
    data = prepare_stream(pieces, tokenizer, settings.block_size, settings.validation_fraction,
                          settings.max_eval_tokens, settings.document_masking, processes=args.world_size,
                          log_shards=args.world_size > 1)
    log(f"streaming: {data.stats['shards']} shard(s); evaluation sample read in {time.monotonic() - started:.1f} s")
    log(describe(data.stats, settings.block_size))
    return tokenizer, data


def _tokenizer(settings: TrainSettings, args: TrainingArguments, sample_texts, log=print):
    """--tokenizer, the one an earlier run of this output folder trained, or a new byte-level BPE trained on
    `sample_texts()` (saved on the main process and reloaded from disk, so every rank and rerun fingerprints it
    alike and shares one datasets cache key)."""
    tokenizer_dir = Path(settings.output_dir) / "tokenizer"
    if settings.tokenizer:
        return load_tokenizer(settings.tokenizer)
    if tokenizer_dir.exists():
        return load_tokenizer(tokenizer_dir)
    started, sampled = time.monotonic(), [0]

    def counted(texts):
        for text in texts:
            sampled[0] += len(text.encode("utf-8"))
            yield text

    tokenizer = train_tokenizer(counted(sample_texts()), vocab_size=settings.vocab_size,
                                model_max_length=settings.block_size)
    if args.process_index == 0:
        tokenizer.save_pretrained(str(tokenizer_dir))
        tokenizer = load_tokenizer(tokenizer_dir)
    log(f"trained a {len(tokenizer)}-token byte-level BPE on {sampled[0] / 1e6:,.3f} MB of training text in "
        f"{time.monotonic() - started:.1f}s")
    return tokenizer


def build_model(settings: TrainSettings, tokenizer, resume_from: Path | None) -> TinySLMForCausalLM:
    """A new model for these settings, or the checkpoint's when resuming."""
    if resume_from is not None:
        model = TinySLMForCausalLM.from_pretrained(str(resume_from), attn_implementation=settings.attn_implementation)
        check_vocab_compatible(tokenizer, model.config)
        return model
    config = model_config(settings, len(tokenizer), tokenizer)
    config._attn_implementation = settings.attn_implementation
    return TinySLMForCausalLM(config)


def build_optimizer(settings: TrainSettings, args: TrainingArguments, model):
    """The optimizer `--optimizer` asks for, or None for the Trainer's own AdamW."""
    if settings.optimizer != "muon":
        return None
    from .optim import build_muon_with_adamw

    return build_muon_with_adamw(model, lr=args.learning_rate, muon_lr=settings.muon_learning_rate,
                                 weight_decay=args.weight_decay, muon_weight_decay=settings.muon_weight_decay,
                                 betas=(args.adam_beta1, args.adam_beta2), eps=args.adam_epsilon)


def optimizer_step_seconds(settings: TrainSettings, args: TrainingArguments, model) -> float:
    """Muon's step costs a sizeable share of a small model's step on a CPU: time it for the budget's first plan."""
    if settings.optimizer != "muon":
        return 0.0
    from .optim import time_optimizer_step

    return time_optimizer_step(model, lambda shadow: build_optimizer(settings, args, shadow), device=args.device)


@dataclass
class Schedule:
    plan: StepPlan
    replan: bool  # a budgeted run: TimeBudgetCallback corrects the plan from the measured step time
    eval_cost_in_steps: float
    max_total: int | None = None  # the most steps a correction may plan (--max-epochs)


def plan_schedule(settings: TrainSettings, args: TrainingArguments, model, data, resume_from: Path | None,
                  log=print) -> Schedule:
    """Steps, warmup and evaluation interval: as given, from the checkpoint, from the time budget, or one epoch.
    Sets them on `args`."""
    max_steps, eval_steps, warmup_steps = settings.max_steps, settings.eval_every, settings.warmup_steps
    replan, max_total = False, None
    # A periodic evaluation is a forward pass over the validation blocks, ~1/3 of a training step's cost per block.
    eval_cost_in_steps = len(data.validation) / (3.0 * settings.batch_size)
    if max_steps <= 0:
        if resume_from is not None:
            max_steps = json.loads((resume_from / "trainer_state.json").read_text())["max_steps"]
        elif settings.max_minutes:
            # Budgeted run: a first plan from timed steps, with the periodic evaluations charged to the budget;
            # TimeBudgetCallback corrects it from the real step time once training runs.
            steps = calibrate_steps(model, settings.batch_size, settings.block_size,
                                    settings.gradient_accumulation_steps, settings.max_minutes, args.device,
                                    bf16=args.bf16, optimizer_seconds=optimizer_step_seconds(settings, args, model))
            max_steps = max(10, int(steps - PERIODIC_EVALS * eval_cost_in_steps))
            replan = True
            if settings.max_epochs and not settings.streaming:
                max_total = max(10, math.ceil(settings.max_epochs * len(data.train) / (
                    settings.batch_size * settings.gradient_accumulation_steps * args.world_size)))
                max_steps = min(max_steps, max_total)
        else:
            max_steps = math.ceil(len(data.train) / (settings.batch_size * settings.gradient_accumulation_steps
                                                     * args.world_size))
        if args.world_size > 1:  # every rank must agree on the schedule
            from accelerate.utils import broadcast_object_list

            max_steps = broadcast_object_list([max_steps])[0]
        eval_steps = max(1, max_steps // PERIODIC_EVALS)
        warmup_steps = min(settings.warmup_steps, max(1, max_steps // 10))
    # The Trainer sizes its epoch loop from args.max_steps: leave room for a plan corrected upwards.
    args.max_steps = int(max_steps * REPLAN_HEADROOM) if replan else max_steps
    args.eval_steps = eval_steps
    args.warmup_steps = warmup_steps
    blocks = max_steps * settings.batch_size * settings.gradient_accumulation_steps * args.world_size
    passes = "streamed" if settings.streaming else f"~{blocks / len(data.train):.1f} epochs"
    rates = f"lr {settings.learning_rate:g}" + (f", muon lr {settings.muon_learning_rate:g}"
                                                 if settings.optimizer == "muon" else "")
    log(f"schedule: {max_steps} steps ({passes}{', corrected while training' if replan else ''}), "
        f"warmup {warmup_steps}, eval every {eval_steps}, {settings.lr_schedule} to {settings.min_lr_ratio:g}x; "
        f"optimizer {settings.optimizer} ({rates})")
    plan = StepPlan(max_steps, warmup_steps, settings.min_lr_ratio, settings.lr_schedule, settings.decay_fraction)
    return Schedule(plan, replan, eval_cost_in_steps, max_total)


def finish(trainer: Trainer, tokenizer, settings: TrainSettings, data, data_paths: list[str],
           result: dict[str, Any]) -> dict[str, Any]:
    """On the main process: held-out evaluation, the final model folder with its card, loss curve, metrics and a
    sample."""
    final_dir = Path(settings.output_dir) / "final"
    model = trainer.model
    model.config.use_cache = True  # the Trainer turned it off; generation needs it
    held_out = evaluate_text(model, tokenizer, data.validation_text, block_size=settings.block_size,
                             batch_size=settings.batch_size)
    result.update({f"heldout_{k}": v for k, v in held_out.items()})
    result["vocab_size"] = len(tokenizer)  # what the BPE reached, which can be below the size asked for
    save_model_folder(model, tokenizer, final_dir, overwrite=True)
    plot = _plot_losses(trainer.state.log_history, final_dir / "loss_curve.png")
    from .card import write_model_card

    write_model_card(final_dir, settings, result, data_paths, plot is not None)
    result["final_dir"] = str(final_dir)
    result["sample"] = generate_sample(model, tokenizer, settings.sample_prompt, settings.sample_tokens,
                                       settings.seed)
    (final_dir / "train_metrics.json").write_text(json.dumps(
        {k: v for k, v in result.items() if k != "sample"}, indent=2))
    return result


def weight_averaging(settings: TrainSettings, trainer: Trainer, plan: StepPlan, resume_from: Path | None,
                     log=print) -> WeightAveragingCallback | None:
    """The EMA of the weights that becomes the final model (`--weight-averaging`), continued from the checkpoint
    when resuming; None when off. Built after the Trainer has moved the model to its device."""
    if not settings.weight_averaging:
        return None
    averaging = WeightAveragingCallback(trainer.model, plan, settings.weight_averaging)
    if resume_from is not None and not averaging.load(resume_from):
        log(f"{resume_from} has no weight average ({AVERAGE_FILE}): it was trained without --weight-averaging; "
            "the average starts from its weights")
    trainer.add_callback(averaging)
    trainer.weight_average = averaging
    return averaging


def train(settings: TrainSettings, log=print) -> dict[str, Any]:
    """Run the main job; returns metrics and the path of the final model folder."""
    started = time.monotonic()
    settings.validate()
    set_seed(settings.seed)
    data_paths = settings.data or ([] if settings.dataset else [str(embedded_corpus_path())])
    use_bf16 = resolve_bf16(settings.bf16)
    args = training_arguments(settings, use_bf16)
    check_launch(args, log, settings.optimizer, settings.weight_averaging)
    created_here = not Path(settings.output_dir).exists()
    resume_from = prepare_output_dir(settings, args, log)
    try:
        tokenizer, data = tokenizer_and_data(settings, args, data_paths, log)
    except BaseException:
        # Bad data found while preparing it: leave no folder behind (a tokenizer in it would make the corrected
        # command reuse it, or refuse to start).
        if created_here and args.process_index == 0:
            shutil.rmtree(settings.output_dir, ignore_errors=True)
        raise
    model = build_model(settings, tokenizer, resume_from)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model: {settings.preset} preset, {n_params / 1e6:.2f}M parameters, bf16={use_bf16}")
    schedule = plan_schedule(settings, args, model, data, resume_from, log)

    budget = None
    if settings.max_minutes:
        # A wsd run whose steps were fixed still gets its plan, corrected only downwards (max_total): if the
        # deadline comes first the decay moves forward to end there, instead of the run stopping at the peak rate.
        correctable = schedule.replan or settings.lr_schedule == "wsd"
        budget = TimeBudgetCallback(settings.max_minutes, schedule.plan if correctable else None,
                                    min(args.max_steps, schedule.max_total or args.max_steps),
                                    schedule.eval_cost_in_steps)
    trainer = _PlannedTrainer(
        schedule.plan,
        optimizer_settings=settings,
        model=model,
        args=args,
        train_dataset=(data.train.shuffle(seed=settings.seed, buffer_size=STREAM_SHUFFLE_BLOCKS) if settings.streaming
                       else data.train),
        eval_dataset=data.validation,
        data_collator=PackedBlockCollator(tokenizer.pad_token_id),
        processing_class=tokenizer,
        callbacks=[budget] if budget else [],
    )
    if budget is not None:
        budget.progress = [cb for cb in trainer.callback_handler.callbacks if isinstance(cb, ProgressCallback)]
    averaging = weight_averaging(settings, trainer, schedule.plan, resume_from, log)
    train_result = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    final_eval = [h for h in trainer.state.log_history
                  if "eval_loss" in h and h.get("step") == trainer.state.global_step]
    # The last periodic evaluation usually lands on the final step; evaluate again only when it did not. With
    # weight averaging that is the last step's weights, and the average is evaluated after it.
    eval_metrics = final_eval[-1] if final_eval else trainer.evaluate()
    last_step_eval_loss = eval_metrics["eval_loss"]
    averaged = averaging is not None and averaging.apply()
    if averaged:
        eval_metrics = trainer.evaluate()
        log(f"weight average of the last ~{settings.weight_averaging:.0%} of steps: eval loss "
            f"{eval_metrics['eval_loss']:.4f} (last step's weights: {last_step_eval_loss:.4f})")

    result: dict[str, Any] = {
        "train_loss": train_result.training_loss,
        "eval_loss": eval_metrics["eval_loss"],
        "steps": trainer.state.global_step,
        "parameters": n_params,
        "train_seconds": round(time.monotonic() - started, 1),
        "train_loop_seconds": round(train_result.metrics["train_runtime"], 1),  # what --max-minutes budgets
        "weight_averaging": settings.weight_averaging if averaged else 0.0,
        "last_step_eval_loss": last_step_eval_loss,
        "world_size": args.world_size,
        "distributed_type": _distributed_type(args),
        "data": data.stats,
    }
    if trainer.is_world_process_zero():
        result = finish(trainer, tokenizer, settings, data, data_paths, result)
    return result


def generate_sample(model, tokenizer, prompt: str, max_new_tokens: int, seed: int = 0) -> str:
    """A short sampled continuation, to eyeball what the model learned."""
    set_seed(seed)
    model.eval()
    inputs = tokenizer(prompt, return_tensors="pt").to(next(model.parameters()).device)
    limit = model.config.max_position_embeddings - inputs["input_ids"].shape[1]
    output = model.generate(
        **inputs,
        max_new_tokens=max(1, min(max_new_tokens, limit)),
        do_sample=True,
        temperature=0.8,
        top_k=50,
        eos_token_id=stop_token_ids(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
    )
    return tokenizer.decode(output[0], skip_special_tokens=True)


__all__ = [
    "TrainSettings",
    "accelerator_available",
    "bf16_supported",
    "check_launch",
    "generate_sample",
    "last_complete_checkpoint",
    "precision_args",
    "prepare_output_dir",
    "resolve_bf16",
    "train",
]
