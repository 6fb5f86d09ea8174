"""Model cards: a filled README.md (with Hub metadata) written into every trained model folder."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from huggingface_hub import ModelCard, ModelCardData

SEED_FIXES = (
    "The seed (blog) TinySLM had three bugs, fixed here and each guarded by a test: (1) no causal mask, so positions "
    "attended to the future; (2) heads split with a reshape and no transpose, mixing sequence positions into heads; "
    "(3) attention scores scaled by 1/sqrt(hidden_size) instead of 1/sqrt(head_dim). With the same weights, the seed "
    "preset gives GPT2LMHeadModel's logits and the modern preset gives LlamaForCausalLM's (Qwen3ForCausalLM's with "
    "QK-norm, the `tinyslm train` default)."
)


def _data_description(data_paths: list[str]) -> tuple[str, list[str]]:
    names = [Path(p).name for p in data_paths]
    if names == ["tinyshakespeare.txt"]:
        return ("Tiny Shakespeare (public domain text; the char-rnn copy used by nanoGPT), first 90% of characters for "
                "training and the last 10% held out", [])
    return ("user-supplied text: " + ", ".join(names), [])



def _optimizer_text(config: dict) -> str:
    if config.get("optimizer") == "muon":
        return (f"Muon (lr {config.get('muon_learning_rate')}, weight decay {config.get('muon_weight_decay')}) on "
                f"the block matrices and AdamW (lr {config.get('learning_rate')}) on embeddings, norms and biases")
    return f"AdamW lr {config.get('learning_rate')}"

def write_model_card(folder: str | Path, settings: Any, metrics: dict[str, Any], data_paths: list[str],
                     has_plot: bool = False) -> Path:
    """Render README.md into `folder` from what this run actually did and measured."""
    folder = Path(folder)
    data_text, datasets = _data_description(data_paths)
    config = dataclasses.asdict(settings) if dataclasses.is_dataclass(settings) else dict(settings)
    metric_rows = [
        ("held-out loss (nats/token)", metrics.get("heldout_loss")),
        ("held-out perplexity", metrics.get("heldout_perplexity")),
        ("held-out bits per byte", metrics.get("heldout_bits_per_byte")),
        ("validation loss, packed blocks (nats/token)", metrics.get("eval_loss")),
        ("the same, last step's weights before averaging", metrics.get("last_step_eval_loss")
         if metrics.get("weight_averaging") else None),
        ("final training loss (nats/token)", metrics.get("train_loss")),
    ]
    data = ModelCardData(
        language="en",
        license="apache-2.0",
        library_name="transformers",
        pipeline_tag="text-generation",
        tags=["tinyslm", "custom_code", "text-generation", f"preset-{config.get('preset', 'seed')}"],
        datasets=datasets or None,
        model_name=folder.parent.name or "tinyslm",
    )
    lines = [
        f"# {folder.parent.name or 'TinySLM'}",
        "",
        f"A TinySLM ({config.get('preset')} preset, {metrics.get('parameters', 0) / 1e6:.2f}M parameters) trained with "
        "`tinyslm train` from the `tinyslm_hf` project.",
        "",
        "## Use",
        "",
        "```python",
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        'model = AutoModelForCausalLM.from_pretrained("PATH", trust_remote_code=True)',
        'tokenizer = AutoTokenizer.from_pretrained("PATH", trust_remote_code=True)',
        "```",
        "",
        "Requires transformers >= 5.17. `trust_remote_code` runs the two .py files next to the weights "
        "(they import only torch and transformers).",
        "",
        "## Training",
        "",
        f"- Data: {data_text}.",
        f"- Tokenizer: byte-level BPE, {metrics.get('vocab_size', config.get('vocab_size'))} tokens, trained on the "
        "training split only.",
        f"- Steps: {metrics.get('steps')} of batch {config.get('batch_size')} x {config.get('block_size')} tokens "
        f"(grad accumulation {config.get('gradient_accumulation_steps')}), {_optimizer_text(config)} with a "
        f"{'warmup-stable-decay' if config.get('lr_schedule') == 'wsd' else 'warmup + cosine'} schedule, weight decay "
        f"{config.get('weight_decay')}, dropout {config.get('dropout')} "
        f"(attention dropout {config.get('attention_dropout', 0.0)}).",
        *([f"- Weights: an exponential moving average over the last ~{metrics['weight_averaging']:.0%} of the steps "
           "(`--weight-averaging`), not the last step's."] if metrics.get("weight_averaging") else []),
        f"- Wall time: {metrics.get('train_seconds')} s.",
        "",
        "## Evaluation",
        "",
        "| metric | value |",
        "|---|---|",
        *[f"| {name} | {value:.4f} |" for name, value in metric_rows if isinstance(value, (int, float))],
        "",
        "Bits per byte = total negative log-likelihood in bits / UTF-8 bytes of the held-out text; it does not depend "
        "on the tokenizer, so it compares across vocabularies.",
        "",
    ]
    data_stats = metrics.get("data") or {}
    if data_stats.get("held_out_bytes"):
        lines += [f"Held out: {data_stats['held_out_bytes'] / 1e6:,.2f} MB; the numbers above score "
                  f"{data_stats['eval_bytes'] / 1e6:,.2f} MB of it ({data_stats['eval_tokens']:,} tokens) after "
                  f"training on {data_stats['train_tokens']:,} tokens.", ""]
    elif data_stats.get("streaming"):
        lines += [f"Streamed training data; the numbers above score a fixed held-out sample of "
                  f"{data_stats['eval_bytes'] / 1e6:,.2f} MB ({data_stats['eval_tokens']:,} tokens).", ""]
    if has_plot:
        lines += ["![loss curve](loss_curve.png)", ""]
    lines += [
        "## Architecture notes",
        "",
        SEED_FIXES,
        "",
        "## Limits",
        "",
        "A model this small produces locally plausible but incoherent text, knows only its training data, and has no "
        "safety tuning. Evaluate it on your task before relying on it.",
        "",
    ]
    card = ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(lines))
    path = folder / "README.md"
    card.save(str(path))
    return path


def write_finetune_card(folder: str | Path, settings: Any, metrics: dict[str, Any], data: dict[str, Any],
                        has_plot: bool = False) -> Path:
    """README.md for a fine-tuned folder: what it started from, what it was tuned on, and the held-out numbers
    before and after (measured by the run, on the same held-out rows)."""
    folder = Path(folder)
    config = dataclasses.asdict(settings) if dataclasses.is_dataclass(settings) else dict(settings)
    name = folder.parent.name or "tinyslm-finetuned"
    sft = data.get("format") != "text"
    loss_name = "held-out loss on assistant tokens" if sft and not config.get("prompt_loss") else "held-out loss"
    rows = [
        (f"{loss_name} (nats/token)", metrics.get("eval_loss_before"), metrics.get("eval_loss")),
        ("held-out bits per byte", metrics.get("heldout_bits_per_byte_before"), metrics.get("heldout_bits_per_byte")),
    ]
    method = (f"LoRA (r={config.get('lora_r')}, alpha={config.get('lora_alpha')}, modules "
              f"{config.get('lora_target_modules') or 'every attention and MLP projection'}), merged into the weights"
              if config.get("lora") else "full fine-tuning")
    what = (f"supervised fine-tuning on {data.get('train_rows')} {data.get('format')} rows "
            f"({data.get('train_tokens')} tokens, loss on {data.get('loss_on')}; {data.get('skipped_too_long', 0)} "
            "rows longer than the context left out)" if sft else
            f"continued pretraining on {data.get('train_blocks')} blocks of {data.get('block_size')} tokens")
    card_data = ModelCardData(
        language="en", license="apache-2.0", library_name="transformers", pipeline_tag="text-generation",
        tags=["tinyslm", "custom_code", "text-generation", "fine-tuned"] + (["lora"] if config.get("lora") else []),
        model_name=name,
    )
    files = (", ".join(Path(p).name for p in config.get("data", []))
             or "the chat demo (generated from the embedded corpus)")
    lines = [
        f"# {name}",
        "",
        f"A TinySLM ({metrics.get('parameters', 0) / 1e6:.2f}M parameters) fine-tuned with `tinyslm finetune` from "
        f"`{Path(str(metrics.get('base_model', ''))).name or metrics.get('base_model')}`.",
        "",
        "## Fine-tuning",
        "",
        f"- Data: {files}: {what}.",
        f"- Method: {method}; {metrics.get('steps')} steps of {config.get('batch_size')} "
        f"(grad accumulation {config.get('gradient_accumulation_steps')}), AdamW peak lr "
        f"{metrics.get('learning_rate', config.get('learning_rate'))}, warmup then cosine decay.",
        f"- Wall time: {metrics.get('train_seconds')} s.",
        "",
        "## Evaluation (held-out rows, same rows before and after)",
        "",
        "| metric | base model | fine-tuned |",
        "|---|---|---|",
        *[f"| {label} | {before:.4f} | {after:.4f} |" for label, before, after in rows
          if isinstance(before, (int, float)) and isinstance(after, (int, float))],
        "",
    ]
    if sft:
        lines += ["Prompts are rendered with the ChatML template in `tokenizer_config.json` / `chat_template.jinja`; "
                  "`tokenizer.apply_chat_template(messages, add_generation_prompt=True)` builds the same prompt.", ""]
    if has_plot:
        lines += ["![loss curve](loss_curve.png)", ""]
    lines += ["## Limits", "", "A model this small knows little beyond its training data and has no safety tuning. "
              "Evaluate it on your task before relying on it.", ""]
    card = ModelCard(f"---\n{card_data.to_yaml()}\n---\n\n" + "\n".join(lines))
    path = folder / "README.md"
    card.save(str(path))
    return path


__all__ = ["write_finetune_card", "write_model_card"]
