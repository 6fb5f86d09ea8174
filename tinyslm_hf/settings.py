"""The settings of the training verbs, as dataclasses: every field is a `tinyslm <verb>` flag (its docstring the
`--help` line) and a key of a YAML/JSON config file.

This module imports nothing heavy, so `tinyslm <verb> --help` is built from it without loading torch or
transformers; `validate()` imports what it checks against when it runs.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path


LR_SCHEDULES = ("cosine", "wsd")
OPTIMIZERS = ("adamw", "muon")


@dataclass
class TrainSettings:
    """Everything `tinyslm train` can be told. Defaults are the embedded-corpus job tuned for 2 CPU cores."""

    data: list[str] = field(default_factory=list)
    """Text, .jsonl, .parquet or .csv files, folders, globs or saved datasets; empty: the embedded Tiny Shakespeare
    (or only --dataset)."""
    text_field: str = "text"
    """The field of .jsonl rows / the column of tables and datasets that holds the text."""
    dataset: str | None = None
    """A dataset by Hub name or a local dataset folder, read with datasets.load_dataset (offline: only what the
    datasets cache holds); trained on beside --data."""
    dataset_config: str | None = None
    """Configuration (subset) of --dataset."""
    split: str = "train"
    """Split of --dataset to read; the held-out part is cut from it as from files."""
    streaming: bool = False
    """Read, tokenize and pack the data on the fly (a datasets IterableDataset) instead of writing it to the
    datasets cache first: for corpora larger than the disk; needs --max-steps or --max-minutes (docs/data.md)."""
    output_dir: str = "runs/tinyslm"
    """Folder for checkpoints, the tokenizer and the final model (`final/`)."""
    overwrite: bool = False
    """Replace an existing output folder."""
    resume: bool = False
    """Continue from the last complete checkpoint in the output folder."""
    tokenizer: str | None = None
    """An existing tokenizer folder; default: train a byte-level BPE on the training split."""
    # Defaults chosen by measurement (docs/training.md): at a fixed ~0.9M-token budget the modern preset beat the
    # seed preset by 0.22 bits/byte and vocab 1024 beat 2048 slightly. At the ~8 epochs a 9-minute budget now gives,
    # residual dropout 0.1 beat 0 (which overfits) and 0.2. With AdamW, batch 4 at lr 1e-3 beat batch 8, 2 and other
    # rates; with Muon (whose step cost does not grow with the batch) batch 8 beat 4 and 16, and Muon's weight decay
    # 0.05 beat 0 and 0.1 (docs/training.md).
    vocab_size: int = 1024
    """Tokenizer vocabulary (at least 260: 256 bytes + special tokens)."""
    preset: str = "modern"
    """Architecture: seed (GPT-2 shaped, learned positions) or modern (RoPE, RMSNorm, SwiGLU, GQA)."""
    hidden_size: int = 192
    """Width of the residual stream."""
    num_hidden_layers: int = 6
    """Number of transformer blocks."""
    num_attention_heads: int = 4
    """Query heads per block; must divide hidden_size."""
    num_key_value_heads: int | None = None
    """Key/value heads (grouped-query attention); default: the preset's (modern 2, seed = query heads)."""
    intermediate_size: int | None = None
    """MLP width; default: seed 4 x hidden, modern SwiGLU 8/3 x hidden rounded up to 32."""
    block_size: int = 256
    """Tokens per training block, and the model's context length."""
    dropout: float = 0.1
    """Residual and embedding dropout."""
    attention_dropout: float = 0.0
    """Dropout on attention probabilities; costly on CPU (docs/training.md)."""
    qk_norm: bool | None = None
    """RMSNorm over each head's queries and keys (OLMo 2 / Qwen3); default: on for modern (it measured better),
    off for seed (GPT-2 has none, and llama.cpp's gpt2 cannot run it)."""
    validation_fraction: float = 0.1
    """Share of the text held out for evaluation."""
    batch_size: int = 8
    """Blocks per optimizer step, per process."""
    gradient_accumulation_steps: int = 1
    """Batches accumulated into one optimizer step."""
    learning_rate: float = 1e-3
    """Peak learning rate (AdamW)."""
    min_lr_ratio: float = 0.1
    """Where the decay ends, as a fraction of the peak."""
    lr_schedule: str = "wsd"
    """Learning-rate shape after warmup: wsd (warmup-stable-decay: the peak held, then a linear decay over the last
    --decay-fraction of the run) or cosine."""
    decay_fraction: float = 0.3
    """Share of the run after warmup that the wsd schedule spends decaying."""
    optimizer: str = "muon"
    """muon: Muon (torch.optim.Muon) on the transformer blocks' matrices and AdamW on embeddings, norms and biases;
    or adamw everywhere (docs/training.md)."""
    muon_learning_rate: float = 0.01
    """Muon's peak learning rate (--optimizer muon; the schedule scales it like --learning-rate)."""
    muon_weight_decay: float = 0.05
    """Muon's decoupled weight decay (--optimizer muon): the weights shrink by lr x this each step."""
    weight_decay: float = 0.1
    """AdamW weight decay."""
    weight_averaging: float = 0.05
    """The final model is an exponential moving average of the weights with this time constant, as a share of the
    run's steps (at most 0.5; docs/training.md); 0: the last step's weights."""
    warmup_steps: int = 60
    """Linear warmup steps (capped at a tenth of a budgeted run)."""
    max_steps: int = -1
    """Optimizer steps; -1: from --max-minutes, or one epoch without a budget."""
    max_minutes: float | None = 9.0
    """Wall-clock budget of the training loop, evaluations included; 0: none. Setup and saving add ~40 s."""
    max_epochs: float = 7.0
    """A budgeted run plans at most this many passes over the training data (0: no cap): on a machine fast enough
    for more, it ends early instead of overfitting (docs/training.md)."""
    eval_every: int = 200
    """Steps between evaluations (a budgeted run evaluates 4 times instead)."""
    save_every: int = 400
    """Steps between checkpoints."""
    save_total_limit: int = 2
    """Checkpoints kept."""
    logging_steps: int = 10
    """Steps between loss log lines."""
    bf16: str = "auto"
    """bf16 autocast: auto (where the hardware does bf16 natively), true or false."""
    seed: int = 1337
    """Seed for the split, initialisation, data order and the sample."""
    num_proc: int | None = None
    """Processes for tokenization; default: the CPU cores available (small corpora use one)."""
    tokenizer_sample_bytes: int = 100_000_000
    """UTF-8 bytes of training text the tokenizer is trained on, spread evenly over the training split (all of it
    when smaller), so tokenizer time and memory do not grow with the corpus."""
    max_eval_tokens: int = 262_144
    """Held-out tokens evaluated, periodically and at the end: a fixed sample (the leading held-out text); 0: all.
    At the default ~1000 blocks, four periodic evaluations cost about a tenth of a 9-minute run."""
    sample_prompt: str = "ROMEO:"
    """Prompt of the sample printed at the end."""
    sample_tokens: int = 120
    """Length of that sample in tokens."""
    attn_implementation: str = "sdpa"
    """Attention kernel: sdpa, eager, or one transformers registers (flash_attention_2 needs flash-attn)."""
    document_masking: bool = False
    """Keep attention inside each document of a packed block (position ids restart at every end-of-text); off by
    default: the embedded corpus is one document, where it changes nothing (docs/packing.md)."""

    def validate(self) -> None:
        """Every setting checked before any work (no tokenizer trained, nothing written); each message names the
        setting. The model shape is checked by building its config with the requested vocabulary."""
        from .configuration_tinyslm import PRESETS
        from .tokenization import MIN_VOCAB_SIZE
        from .training import model_config, resolve_bf16

        check_integers(self, (("hidden_size", 1), ("num_hidden_layers", 1), ("num_attention_heads", 1),
                               ("block_size", 2), ("batch_size", 1), ("gradient_accumulation_steps", 1),
                               ("eval_every", 1), ("save_every", 1), ("save_total_limit", 1), ("logging_steps", 1),
                               ("warmup_steps", 0), ("sample_tokens", 0), ("vocab_size", MIN_VOCAB_SIZE),
                               ("tokenizer_sample_bytes", 1), ("max_eval_tokens", 0)))
        if self.num_proc is not None:
            check_integers(self, (("num_proc", 1),))
        if not self.split:
            raise ValueError("split: name the split of --dataset to read (e.g. train)")
        check_max_steps(self.max_steps)
        if self.streaming and self.max_steps <= 0 and not self.max_minutes:
            raise ValueError("streaming: a stream has no length to make an epoch of; give --max-steps or "
                             "--max-minutes")
        if self.streaming and not self.max_eval_tokens:
            raise ValueError("max_eval_tokens: streaming evaluates a fixed sample of the held-out text; give a cap > 0")
        if self.max_minutes is not None and not (isinstance(self.max_minutes, (int, float)) and self.max_minutes >= 0):
            raise ValueError(f"max_minutes must be >= 0 minutes (0: no budget), got {self.max_minutes!r}")
        check_number("max_epochs", self.max_epochs, 0.0, float("inf"))
        check_number("dropout", self.dropout, 0.0, 1.0)
        check_number("attention_dropout", self.attention_dropout, 0.0, 1.0)
        check_number("validation_fraction", self.validation_fraction, 0.0, 1.0, low_open=True)
        check_number("min_lr_ratio", self.min_lr_ratio, 0.0, 1.0, high_closed=True)
        check_number("learning_rate", self.learning_rate, 0.0, float("inf"), low_open=True)
        check_number("weight_decay", self.weight_decay, 0.0, float("inf"))
        check_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        check_number("decay_fraction", self.decay_fraction, 0.0, 1.0, low_open=True, high_closed=True)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_number("muon_learning_rate", self.muon_learning_rate, 0.0, float("inf"), low_open=True)
        check_number("muon_weight_decay", self.muon_weight_decay, 0.0, float("inf"))
        check_number("weight_averaging", self.weight_averaging, 0.0, 0.5, high_closed=True)
        resolve_bf16(self.bf16)
        check_attention_implementation(self.attn_implementation)
        if self.preset not in PRESETS:
            raise ValueError(f"preset must be one of {tuple(PRESETS)}, got {self.preset!r}")
        model_config(self, self.vocab_size, None)  # the shape: heads divide hidden, kv heads divide heads, ...

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "TrainSettings":
        """Read settings from YAML or JSON; unknown keys are an error (typos must not be silently ignored)."""
        return cls(**read_settings_file(path, cls))


def read_settings_file(path: str | os.PathLike, cls) -> dict:
    """The settings in a YAML or JSON file, checked against the fields of the dataclass `cls`."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        if str(path).endswith((".yaml", ".yml")):
            import yaml

            values = yaml.safe_load(text) or {}
        else:
            values = json.loads(text)
    except ValueError as exc:  # json.JSONDecodeError
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc
    except Exception as exc:  # yaml.YAMLError; the first line of its message says where
        if type(exc).__module__.startswith("yaml"):
            raise ValueError(f"{path} is not valid YAML: {' '.join(str(exc).split())}") from exc
        raise
    if not isinstance(values, dict):
        raise ValueError(f"{path} must hold a mapping of settings, got {type(values).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown settings in {path}: {unknown}")
    return values


def check_integers(settings, minimums) -> None:
    """Each (field, lowest allowed) of `settings` is an integer (not a bool) at or above its bound."""
    for name, low in minimums:
        value = getattr(settings, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def check_max_steps(value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or (value <= 0 and value != -1):
        raise ValueError(f"max_steps must be a positive integer or -1 (from the budget), got {value!r}")


def check_choice(name: str, value, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r}")


def check_number(name: str, value, low: float, high: float, low_open: bool = False,
                  high_closed: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = ok and (value > low if low_open else value >= low) and (value <= high if high_closed else value < high)
    if not ok:
        bounds = f"{'(' if low_open else '['}{low:g}, {high:g}{']' if high_closed else ')'}"
        raise ValueError(f"{name} must be in {bounds}, got {value!r}")


def check_attention_implementation(name: str) -> None:
    """sdpa and eager always exist; anything else must be registered with transformers and, for the flash kernels,
    installed."""
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
    from transformers.utils import is_flash_attn_2_available

    if name in ("eager", "sdpa"):
        return
    if name not in ALL_ATTENTION_FUNCTIONS:
        raise ValueError(f"attn_implementation must be eager, sdpa or one transformers knows, got {name!r}")
    if name == "flash_attention_2" and not is_flash_attn_2_available():
        raise ValueError("attn_implementation 'flash_attention_2' needs the flash-attn package and a CUDA GPU; "
                         "use sdpa")


@dataclass
class FinetuneSettings:
    """Everything `tinyslm finetune` can be told. Defaults suit a small model on a 2-core CPU."""

    model: str = "runs/tinyslm/final"
    """The model folder to start from (default: what `tinyslm train` writes); its tokenizer is kept."""
    data: list[str] = field(default_factory=list)
    """Training files: plain text, folders or {"text"} jsonl (continued pretraining), or chat jsonl (SFT); empty:
    the chat demo, 4000 rows generated from the embedded corpus (corpus/chat_demo.py)."""
    validation_data: list[str] = field(default_factory=list)
    """Held-out files in the same format; default: hold out --validation-fraction of the training data."""
    output_dir: str = "runs/finetune"
    """Folder for checkpoints and the result (`final/`, and `adapter/` with --lora)."""
    overwrite: bool = False
    """Replace an existing output folder."""
    resume: bool = False
    """Continue from the last complete checkpoint in the output folder (not from the base model)."""
    format: str = "auto"
    """Data format: auto (from the first file), text, messages, prompt-completion or alpaca."""
    text_field: str = "text"
    """The field of .jsonl rows that holds the text (continued pretraining)."""
    prompt_loss: bool = False
    """SFT: train on every token, prompts included (default: the assistant's turns only)."""
    packing: bool = False
    """SFT: concatenate each batch's conversations into one row without padding, attention kept inside each one;
    default: pad each batch to its longest, batches grouped by length (faster on CPUs for short rows)."""
    block_size: int | None = None
    """Context used for training: the longest conversation kept, or the text block length; default: the model's."""
    validation_fraction: float = 0.1
    """Share of the training data held out when --validation-data is not given."""
    document_masking: bool = False
    """Continued pretraining: keep attention inside each document of a packed block."""
    lora: bool = False
    """Train LoRA adapters (peft) instead of every weight."""
    lora_r: int = 16
    """LoRA rank."""
    lora_alpha: int = 32
    """LoRA scaling numerator (the update is scaled by alpha / r)."""
    lora_dropout: float = 0.05
    """Dropout on the LoRA branch."""
    lora_target_modules: list[str] | None = None
    """Linear layers to adapt; default: every attention and MLP projection the preset has (seed: q,k,v,o,up,down;
    modern: q,k,v,o,gate,up,down)."""
    merge: bool = True
    """With --lora: also write the adapters merged into a plain model folder (final/); the adapter is always saved."""
    epochs: float = 1.0
    """Passes over the training data, when neither --max-steps nor --max-minutes is given."""
    max_steps: int = -1
    """Optimizer steps; -1: from --max-minutes, or --epochs."""
    max_minutes: float | None = None
    """Wall-clock budget of the training loop, evaluations included; default: none."""
    batch_size: int = 8
    """Rows (SFT) or blocks (text) per optimizer step, per process."""
    gradient_accumulation_steps: int = 1
    """Batches accumulated into one optimizer step."""
    learning_rate: float | None = None
    """Peak learning rate (AdamW); default: 3e-4, or 1e-3 with --lora."""
    min_lr_ratio: float = 0.1
    """Where the cosine decay ends, as a fraction of the peak."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    warmup_steps: int = 20
    """Linear warmup steps (capped at a tenth of the run)."""
    eval_every: int = 100
    """Steps between evaluations (a budgeted run evaluates 4 times instead)."""
    save_every: int = 200
    """Steps between checkpoints."""
    save_total_limit: int = 2
    """Checkpoints kept."""
    logging_steps: int = 10
    """Steps between loss log lines."""
    bf16: str = "auto"
    """bf16 autocast: auto (where the hardware does bf16 natively), true or false."""
    seed: int = 1337
    """Seed for the hold-out, data order, LoRA initialisation and the sample."""
    num_proc: int | None = None
    """Processes for tokenization of text; default: the CPU cores available (small corpora use one)."""
    max_eval_tokens: int = 262_144
    """Held-out tokens of text evaluated, periodically and at the end: a fixed sample; 0: all."""
    sample_prompt: str | None = None
    """Prompt answered at the end as a sample (SFT: as a chat request); default: the first held-out prompt."""
    sample_tokens: int = 80
    """Length of that sample in tokens."""

    def validate(self) -> None:
        """Every setting checked before any work; each message names the setting."""
        from .sft_data import FORMATS
        from .training import resolve_bf16

        if not self.model:
            raise ValueError("model: give the folder to fine-tune (--model DIR)")
        if not Path(self.model).is_dir():
            raise FileNotFoundError(f"model folder not found: {self.model} (train one with `tinyslm train`, or pass "
                                    "--model DIR)")
        check_integers(self, (("batch_size", 1), ("gradient_accumulation_steps", 1), ("eval_every", 1),
                               ("save_every", 1), ("save_total_limit", 1), ("logging_steps", 1),
                               ("warmup_steps", 0), ("lora_r", 1), ("lora_alpha", 1), ("sample_tokens", 0),
                               ("max_eval_tokens", 0)))
        if self.block_size is not None:
            check_integers(self, (("block_size", 2),))
        check_max_steps(self.max_steps)
        if self.max_minutes is not None:
            check_number("max_minutes", self.max_minutes, 0.0, float("inf"), low_open=True)
        check_number("epochs", self.epochs, 0.0, float("inf"), low_open=True)
        check_number("validation_fraction", self.validation_fraction, 0.0, 1.0, low_open=True)
        check_number("min_lr_ratio", self.min_lr_ratio, 0.0, 1.0, high_closed=True)
        check_number("weight_decay", self.weight_decay, 0.0, float("inf"))
        check_number("lora_dropout", self.lora_dropout, 0.0, 1.0)
        if self.learning_rate is not None:
            check_number("learning_rate", self.learning_rate, 0.0, float("inf"), low_open=True)
        if self.format not in ("auto", "text", *FORMATS):
            raise ValueError(f"format must be one of auto, text, {', '.join(FORMATS)}; got {self.format!r}")
        resolve_bf16(self.bf16)

    @property
    def peak_learning_rate(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return 1e-3 if self.lora else 3e-4
