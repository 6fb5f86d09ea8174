"""Byte-level BPE tokenizer for TinySLM: trained with `tokenizers`, used as a transformers fast tokenizer.

Byte-level BPE with GPT-2's pre-tokenizer regex means every UTF-8 string round-trips and llama.cpp can reproduce the
tokenization (its "gpt-2" pre-tokenizer). Special tokens are ChatML-style so the chat template is the one most
tools already understand.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast

EOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|pad|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
# Order fixes the ids: <|endoftext|>=0, <|pad|>=1, <|im_start|>=2, <|im_end|>=3.
SPECIAL_TOKENS = [EOS_TOKEN, PAD_TOKEN, IM_START, IM_END]
MIN_VOCAB_SIZE = 256 + len(SPECIAL_TOKENS)  # every byte, plus the special tokens

# ChatML (a message's optional `name` as `<|im_start|>user name=alice`). `{% generation %}` marks the assistant text so `return_assistant_tokens_mask=True` (and TRL's
# assistant_only_loss) can train on answers only. Each assistant turn ends with <|im_end|>, which generation stops on.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] }}"
    "{% if message['name'] is defined and message['name'] %}{{ ' name=' + message['name'] }}{% endif %}"
    "{{ '\n' }}"
    "{% if message['role'] == 'assistant' %}"
    "{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\n' }}"
    "{% else %}"
    "{{ message['content'] + '<|im_end|>' + '\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def _iter_text_files(paths: Iterable[str | os.PathLike]) -> Iterator[str]:
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                yield line


def train_tokenizer(
    texts: Iterable[str] | None = None,
    *,
    files: Iterable[str | os.PathLike] | None = None,
    vocab_size: int = 8192,
    min_frequency: int = 2,
    model_max_length: int = 512,
    copy_friendly: bool = False,
) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on `texts` (an iterable of strings) or on UTF-8 text `files`.

    `copy_friendly=True` makes every space and every digit a token of its own. A byte-level BPE normally glues the
    space to the next word (" Walsh" vs "Walsh") and merges digit runs (" 218" vs "218"), so a name or number in
    a prompt and the same name or number in the answer are *different* tokens and a small model has to learn each
    pair. Tasks that copy from the prompt (the Excel task) learn far faster with the same token sequence on both
    sides, at the cost of ~30% longer sequences.

    Returns a transformers fast tokenizer with eos/bos `<|endoftext|>`, pad `<|pad|>`, ChatML role tokens and
    the chat template set; `save_pretrained` / `AutoTokenizer.from_pretrained` round-trip it.
    """
    if (texts is None) == (files is None):
        raise ValueError("pass exactly one of `texts` or `files`")
    if vocab_size < MIN_VOCAB_SIZE:
        raise ValueError(f"vocab_size must be at least {MIN_VOCAB_SIZE} (256 bytes + special tokens), got {vocab_size}")
    tokenizer = Tokenizer(models.BPE())
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    if copy_friendly:
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(r"\s"), behavior="isolated"),
            pre_tokenizers.Digits(individual_digits=True),
            byte_level,
        ])
    else:
        tokenizer.pre_tokenizer = byte_level
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    iterator = texts if texts is not None else _iter_text_files(files)
    tokenizer.train_from_iterator(iterator, trainer=trainer)
    return wrap_tokenizer(tokenizer, model_max_length=model_max_length)


def wrap_tokenizer(tokenizer: Tokenizer, model_max_length: int = 512) -> PreTrainedTokenizerFast:
    """Wrap a raw `tokenizers.Tokenizer` with TinySLM's special tokens, padding side and chat template."""
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=EOS_TOKEN,
        eos_token=EOS_TOKEN,
        unk_token=None,
        pad_token=PAD_TOKEN,
        additional_special_tokens=[IM_START, IM_END],
        padding_side="right",  # right padding for training; generation pipelines switch to left themselves
        model_max_length=model_max_length,
        clean_up_tokenization_spaces=False,
    )
    wrapped.chat_template = CHAT_TEMPLATE
    return wrapped


def load_tokenizer(path: str | os.PathLike, **kwargs) -> PreTrainedTokenizerBase:
    """Load a saved tokenizer folder (works for folders that also hold a TinySLM model)."""
    kwargs.setdefault("trust_remote_code", True)
    return AutoTokenizer.from_pretrained(str(path), **kwargs)


def stop_token_ids(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Token ids that end a generation: end-of-text, and the end of a chat turn."""
    ids = [tokenizer.eos_token_id]
    im_end = tokenizer.convert_tokens_to_ids(IM_END)
    if isinstance(im_end, int) and im_end != tokenizer.unk_token_id and im_end not in ids:
        ids.append(im_end)
    return [i for i in ids if i is not None]


def check_vocab_compatible(tokenizer: PreTrainedTokenizerBase, config) -> None:
    """Raise a clear error when the tokenizer can emit ids the model has no embedding for."""
    n_tokens = len(tokenizer)
    if n_tokens > config.vocab_size:
        raise ValueError(
            f"tokenizer has {n_tokens} tokens but the model's vocab_size is {config.vocab_size}: they do not belong "
            "together (train the model with this tokenizer, or call model.resize_token_embeddings(len(tokenizer)))"
        )


def save_tokenizer(tokenizer: PreTrainedTokenizerBase, path: str | os.PathLike) -> None:
    Path(path).mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(path))


__all__ = [
    "CHAT_TEMPLATE",
    "EOS_TOKEN",
    "IM_END",
    "IM_START",
    "PAD_TOKEN",
    "SPECIAL_TOKENS",
    "check_vocab_compatible",
    "load_tokenizer",
    "save_tokenizer",
    "stop_token_ids",
    "train_tokenizer",
    "wrap_tokenizer",
]
