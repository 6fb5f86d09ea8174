"""Text generation shared by the CLI, the OpenAI-compatible server and the Gradio app.

Everything goes through `model.generate` (sampling, repetition penalty, `stop_strings`, KV cache) and transformers'
`TextIteratorStreamer` for streaming; this module only adds what every front end needs on top: validated sampling
parameters, a context-length check with a clear message, OpenAI-style stop sequences (the stop text itself is not
returned, and is never half-streamed), token usage counts, and cancellation when a client goes away.

This file imports only torch, transformers and the standard library, so it can ship next to the Gradio Space `app.py`
in a Hub repo where `tinyslm_hf` is not installed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import torch
from transformers import (
    CompileConfig,
    LogitsProcessor,
    LogitsProcessorList,
    StoppingCriteria,
    StoppingCriteriaList,
    TextIteratorStreamer,
    set_seed,
)

DEFAULT_MAX_NEW_TOKENS = 128
MAX_STOP_SEQUENCES = 4
MAX_TOP_LOGPROBS = 20


def decode_compile_config(backend: str = "inductor", mode: str = "default", dynamic: bool | None = False,
                          ) -> CompileConfig:
    """The `compile_config` for `generate(cache_implementation="static", ...)`: transformers compiles the decode step
    with it, but only on CUDA-like devices unless told to compile on every device (CPUs included)."""
    config = CompileConfig(backend=backend, mode=mode, dynamic=dynamic)
    config._compile_all_devices = True
    return config


def renders_message_names(tokenizer) -> bool:
    """Whether the tokenizer's chat template puts a message's `name` into the prompt (templates saved before it
    did drop it). Checked by rendering, not by reading the template's text."""
    probe = "tinyslm_name_probe"
    text = tokenizer.apply_chat_template([{"role": "user", "content": "x", "name": probe}], tokenize=False)
    return probe in text


class PromptTooLongError(ValueError):
    """The prompt (plus the requested completion) does not fit in the model's context window."""


@dataclass
class SamplingParams:
    """Decoding settings; `validate()` raises ValueError naming the bad field.

    temperature 0 means greedy decoding; top_k 0 and top_p 1 switch those filters off; `max_new_tokens=None` means
    "as many as fit", capped at DEFAULT_MAX_NEW_TOKENS.
    """

    max_new_tokens: int | None = None
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    repetition_penalty: float = 1.0
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    logprobs: int | None = None  # report log-probabilities, with this many alternatives per token (0: none)

    def validate(self) -> "SamplingParams":
        def bad(name: str, why: str) -> ValueError:
            return ValueError(f"invalid {name}={getattr(self, name)!r}: {why}")

        if self.max_new_tokens is not None and (isinstance(self.max_new_tokens, bool) or
                                                not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 1):
            raise bad("max_new_tokens", "must be an integer >= 1")
        if not isinstance(self.temperature, (int, float)) or not 0.0 <= self.temperature <= 2.0:
            raise bad("temperature", "must be between 0 and 2")
        if not isinstance(self.top_p, (int, float)) or not 0.0 < self.top_p <= 1.0:
            raise bad("top_p", "must be in (0, 1]")
        if isinstance(self.top_k, bool) or not isinstance(self.top_k, int) or self.top_k < 0:
            raise bad("top_k", "must be an integer >= 0 (0 disables it)")
        if not isinstance(self.repetition_penalty, (int, float)) or not 0.0 < self.repetition_penalty <= 10.0:
            raise bad("repetition_penalty", "must be in (0, 10]")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int)
                                      or not 0 <= self.seed < 2**63):
            raise bad("seed", "must be a non-negative integer")
        for name in ("presence_penalty", "frequency_penalty"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not -2.0 <= value <= 2.0:
                raise bad(name, "must be between -2 and 2")
        if self.logprobs is not None and (isinstance(self.logprobs, bool) or not isinstance(self.logprobs, int)
                                          or not 0 <= self.logprobs <= MAX_TOP_LOGPROBS):
            raise bad("logprobs", f"must be an integer from 0 to {MAX_TOP_LOGPROBS}")
        if isinstance(self.stop, str):
            self.stop = [self.stop]
        if len(self.stop) > MAX_STOP_SEQUENCES:
            raise bad("stop", f"at most {MAX_STOP_SEQUENCES} stop sequences")
        if any(not isinstance(s, str) or not s for s in self.stop):
            raise bad("stop", "stop sequences must be non-empty strings")
        return self

    def generate_kwargs(self) -> dict[str, Any]:
        """The matching `model.generate` keyword arguments (greedy when temperature is 0)."""
        kwargs: dict[str, Any] = {"repetition_penalty": float(self.repetition_penalty)}
        if self.temperature == 0:
            kwargs["do_sample"] = False
        else:
            kwargs.update(do_sample=True, temperature=float(self.temperature), top_p=float(self.top_p),
                          top_k=int(self.top_k))
        if self.presence_penalty or self.frequency_penalty:
            kwargs["logits_processor"] = LogitsProcessorList([
                OpenAIPenalties(float(self.presence_penalty), float(self.frequency_penalty))])
        return kwargs

    def batch_key(self) -> tuple:
        """Requests with equal keys decode identically and may share a batch."""
        return (self.temperature, self.top_p, self.top_k, self.repetition_penalty, self.presence_penalty,
                self.frequency_penalty)


class OpenAIPenalties(LogitsProcessor):
    """OpenAI's presence and frequency penalties: each token's logit is lowered by `presence` once it has appeared in
    the completion and by `frequency` per appearance. transformers has only the multiplicative repetition penalty
    (which also counts the prompt), so this one is written here. The prompt width is read on the first call (the
    prefill), so only generated tokens count, row by row."""

    def __init__(self, presence: float, frequency: float):
        self.presence, self.frequency = presence, frequency
        self.prompt_width: int | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.prompt_width is None:
            self.prompt_width = input_ids.shape[1]
        generated = input_ids[:, self.prompt_width:]
        if generated.shape[1] == 0:
            return scores
        counts = torch.zeros_like(scores).scatter_add_(1, generated, torch.ones_like(generated, dtype=scores.dtype))
        return scores - self.frequency * counts - self.presence * (counts > 0).to(scores.dtype)


@dataclass
class GenerationResult:
    """A finished completion with OpenAI-style accounting."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" (end token or stop sequence) or "length"
    # With SamplingParams.logprobs: per returned token, (token text, log-probability, [(alternative, logprob)...]) of
    # the model's own distribution (before temperature, top-k/top-p and penalties).
    logprobs: list[tuple[str, float, list[tuple[str, float]]]] | None = None


class _CancelCriteria(StoppingCriteria):
    """Stops `generate` between two tokens once the event is set (client gone, server shutting down)."""

    def __init__(self, event: threading.Event):
        self.event = event

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)


def _find_stop(text: str, stops: Sequence[str]) -> int:
    """Index of the earliest stop sequence in `text`, or -1."""
    hits = [i for i in (text.find(s) for s in stops) if i >= 0]
    return min(hits) if hits else -1


def _held_back(text: str, stops: Sequence[str]) -> int:
    """How many trailing characters could be the start of a stop sequence (so they must not be streamed yet)."""
    keep = 0
    for stop in stops:
        for n in range(min(len(stop) - 1, len(text)), 0, -1):
            if text.endswith(stop[:n]):
                keep = max(keep, n)
                break
    return keep


class TextStream:
    """Iterator over text deltas of one running generation; `.result` is set once it is exhausted.

    `generate` runs in its own thread and feeds a `TextIteratorStreamer`; iterating this object blocks on that
    streamer, so callers on an event loop iterate it from a worker thread. Always call `close()` (or exhaust it):
    it cancels and joins the generation thread.
    """

    def __init__(self, generator: "Generator", prompt_ids: list[int], params: SamplingParams, max_new_tokens: int):
        self._gen = generator
        self._params = params
        self._prompt_len = len(prompt_ids)
        self._max_new = max_new_tokens
        self.cancel_event = threading.Event()
        self.result: GenerationResult | None = None
        self._error: BaseException | None = None
        self._output: torch.Tensor | None = None
        self._logits: tuple[torch.Tensor, ...] | None = None
        self._streamer = TextIteratorStreamer(generator.tokenizer, skip_prompt=True, skip_special_tokens=True,
                                              timeout=generator.stream_timeout)
        model = generator.model
        input_ids = torch.tensor([prompt_ids], dtype=torch.long, device=model.device)
        kwargs = dict(
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            max_new_tokens=max_new_tokens,
            streamer=self._streamer,
            stopping_criteria=StoppingCriteriaList([_CancelCriteria(self.cancel_event)]),
            pad_token_id=generator.pad_token_id,
            eos_token_id=generator.eos_token_ids,
            **params.generate_kwargs(),
            **generator.cache_kwargs,
        )
        if params.logprobs is not None:
            kwargs.update(output_logits=True, return_dict_in_generate=True)
        if params.stop:
            # transformers stops on the text (across token boundaries); we trim the stop text off below.
            kwargs.update(stop_strings=list(params.stop), tokenizer=generator.tokenizer)
        self._thread = threading.Thread(target=self._run, args=(kwargs, params.seed), daemon=True,
                                        name="tinyslm-generate")
        self._thread.start()

    def _run(self, kwargs: dict[str, Any], seed: int | None) -> None:
        try:
            if seed is not None:
                set_seed(seed)  # callers serialise generations, so the global RNG is ours for this request
            with torch.inference_mode():
                output = self._gen.model.generate(**kwargs)
            if hasattr(output, "sequences"):
                self._output, self._logits = output.sequences, output.logits
            else:
                self._output = output
        except BaseException as exc:  # surfaced to the consumer in __iter__
            self._error = exc
            self._streamer.end()

    def __iter__(self) -> Iterator[str]:
        stops = self._params.stop
        text = ""  # everything decoded so far
        sent = 0  # characters of `text` already yielded
        stopped_on_text = False
        try:
            for piece in self._streamer:
                text += piece
                if stops:
                    cut = _find_stop(text, stops)
                    if cut >= 0:
                        stopped_on_text = True
                        text = text[:cut]
                        self.cancel_event.set()
                        break
                    safe = len(text) - _held_back(text, stops)
                else:
                    safe = len(text)
                if safe > sent:
                    yield text[sent:safe]
                    sent = safe
        finally:
            self.close()
        if self._error is not None:
            raise RuntimeError(f"generation failed: {self._error}") from self._error
        if len(text) > sent:
            yield text[sent:]
        self.result = self._finish(text, stopped_on_text)

    def _finish(self, text: str, stopped_on_text: bool) -> GenerationResult:
        new_ids: list[int] = []
        if self._output is not None:
            new_ids = self._output[0, self._prompt_len:].tolist()
            pad = self._gen.pad_token_id
            while new_ids and pad is not None and new_ids[-1] == pad and pad not in self._gen.eos_token_ids:
                new_ids.pop()
        ended = bool(new_ids) and new_ids[-1] in self._gen.eos_token_ids
        if stopped_on_text or ended or len(new_ids) < self._max_new:
            reason = "stop"
        else:
            reason = "length"
        return GenerationResult(text=text, prompt_tokens=self._prompt_len, completion_tokens=len(new_ids),
                                finish_reason=reason, logprobs=self._token_logprobs(new_ids, text))

    def _token_logprobs(self, new_ids: list[int], text: str):
        """Log-probabilities of the returned tokens: those that make up `text` (a stop sequence's tokens and the
        end token are not part of the answer)."""
        if self._params.logprobs is None or self._logits is None:
            return None
        tokenizer, out = self._gen.tokenizer, []
        for step, token in enumerate(new_ids):
            if token in self._gen.eos_token_ids or len(tokenizer.decode(new_ids[:step], skip_special_tokens=True)) \
                    >= len(text):
                break
            logprobs = torch.log_softmax(self._logits[step][0].float(), dim=-1)
            top = torch.topk(logprobs, self._params.logprobs) if self._params.logprobs else None
            alternatives = ([(tokenizer.decode([int(i)]), float(v)) for v, i in zip(top.values, top.indices)]
                            if top is not None else [])
            out.append((tokenizer.decode([token]), float(logprobs[token]), alternatives))
        return out

    def close(self) -> None:
        """Cancel the generation (if still running) and wait for its thread."""
        self.cancel_event.set()
        self._thread.join()


class Generator:
    """A model + tokenizer pair ready for prompting; not thread-safe: run one generation at a time.

    `compile=True` decodes through a static KV cache and a `torch.compile`d decode step (transformers' own
    auto-compile). The cache is sized to the whole context window, so every prompt and completion length reuses one
    compiled graph: the first request pays the compile (seconds to a minute), later ones decode faster.
    """

    def __init__(self, model: Any, tokenizer: Any, stream_timeout: float | None = 600.0, compile: bool = False,
                 compile_backend: str = "inductor"):
        self.model = model
        self.tokenizer = tokenizer
        self.stream_timeout = stream_timeout
        self.context_length = int(model.config.max_position_embeddings)
        self.cache_kwargs: dict[str, Any] = {}
        if compile:
            self.cache_kwargs = dict(cache_implementation="static", max_cache_len=self.context_length,
                                     compile_config=decode_compile_config(compile_backend))
        eos = model.generation_config.eos_token_id if model.generation_config is not None else None
        if eos is None:
            eos = tokenizer.eos_token_id
        self.eos_token_ids: list[int] = [int(e) for e in (eos if isinstance(eos, (list, tuple)) else [eos])
                                         if e is not None]
        pad = tokenizer.pad_token_id
        self.pad_token_id: int | None = pad if pad is not None else (self.eos_token_ids or [None])[0]

    # -- prompts -------------------------------------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        """Token ids of a raw completion prompt (an empty prompt starts from the beginning-of-text token)."""
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        if not ids:
            bos = self.tokenizer.bos_token_id
            ids = [bos if bos is not None else self.eos_token_ids[0]]
        return list(ids)

    def encode_chat(self, messages: Sequence[dict[str, str]]) -> list[int]:
        """Token ids of a conversation rendered with the tokenizer's chat template, ready for the assistant turn."""
        if not messages:
            raise ValueError("messages must not be empty")
        template = getattr(self.tokenizer, "chat_template", None)
        if not template:
            raise ValueError("this tokenizer has no chat template; use a completion prompt instead")
        if any(m.get("name") for m in messages) and not renders_message_names(self.tokenizer):
            raise ValueError("this model's chat template has no place for a message 'name' (saved before names "
                             "were rendered); send the messages without it")
        text = self.tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def budget(self, prompt_ids: Sequence[int], params: SamplingParams) -> int:
        """Number of new tokens to ask for; raises PromptTooLongError when the request does not fit the context."""
        n = len(prompt_ids)
        room = self.context_length - n
        if room < 1:
            raise PromptTooLongError(
                f"the prompt is {n} tokens but this model's context length is {self.context_length} tokens; "
                "shorten the prompt")
        if params.max_new_tokens is None:
            return min(DEFAULT_MAX_NEW_TOKENS, room)
        if params.max_new_tokens > room:
            raise PromptTooLongError(
                f"this model's context length is {self.context_length} tokens, but {n + params.max_new_tokens} "
                f"were requested ({n} in the prompt, {params.max_new_tokens} for the completion); "
                "shorten the prompt or lower max_tokens")
        return params.max_new_tokens

    # -- generation ----------------------------------------------------------------------------------------------
    def stream_ids(self, prompt_ids: Sequence[int], params: SamplingParams) -> TextStream:
        """Start generating; iterate the returned TextStream for text deltas (validates first, raises ValueError)."""
        params.validate()
        max_new = self.budget(prompt_ids, params)
        return TextStream(self, list(prompt_ids), params, max_new)

    def stream(self, prompt: str, params: SamplingParams | None = None) -> TextStream:
        return self.stream_ids(self.encode(prompt), params or SamplingParams())

    def complete_ids(self, prompt_ids: Sequence[int], params: SamplingParams) -> GenerationResult:
        stream = self.stream_ids(prompt_ids, params)
        for _ in stream:
            pass
        assert stream.result is not None
        return stream.result

    def complete(self, prompt: str, params: SamplingParams | None = None) -> GenerationResult:
        """Generate a whole completion for a raw text prompt."""
        return self.complete_ids(self.encode(prompt), params or SamplingParams())

    def chat(self, messages: Sequence[dict[str, str]], params: SamplingParams | None = None) -> GenerationResult:
        """Generate the assistant's next turn for a conversation."""
        return self.complete_ids(self.encode_chat(messages), params or SamplingParams())


__all__ = [
    "DEFAULT_MAX_NEW_TOKENS",
    "decode_compile_config",
    "GenerationResult",
    "Generator",
    "PromptTooLongError",
    "SamplingParams",
    "TextStream",
]
