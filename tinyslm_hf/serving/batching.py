"""Opt-in request batching for the server (`tinyslm serve --max-batch N`).

With the default `max_batch=1` the server runs one `model.generate` per request. With N > 1 a single worker takes up
to N requests that are waiting at the same moment and runs them as ONE left-padded `model.generate` call (the model
derives position ids from the attention mask, so padded rows generate what they would alone). On a CPU the cost of
a decoding step barely grows with the batch, so concurrent clients share steps instead of queueing behind each other.

Rows are independent: each has its own token budget, stop sequences, end-of-text detection and cancellation; a
per-row `StoppingCriteria` finishes a row early while the others go on. Requests are only grouped when their
sampling settings match and the padded batch fits the context window; a request with a `seed` always runs alone,
so its sample is reproducible.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

import torch
from transformers import StoppingCriteria, StoppingCriteriaList
from transformers.generation.streamers import BaseStreamer

from ..generation import GenerationResult, Generator, SamplingParams, _find_stop, _held_back


@dataclass(eq=False)  # identity semantics: jobs live in sets
class Job:
    """One request inside the batcher; results arrive on `queue` (text deltas, then a GenerationResult)."""

    ids: list[int]
    params: SamplingParams
    max_new: int
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    cancel: threading.Event = field(default_factory=threading.Event)
    # state owned by the generation thread
    tokens: list[int] = field(default_factory=list)
    sent: int = 0
    done: bool = False

    def key(self) -> Any:
        if self.params.seed is not None:
            return ("seeded", id(self))  # never shares a batch
        return self.params.batch_key()

    def emit(self, item: Any) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, item)


class _RowsDone(StoppingCriteria):
    def __init__(self, jobs: list[Job]):
        self.jobs = jobs

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        flags = [job.done or job.cancel.is_set() for job in self.jobs]
        return torch.tensor(flags, dtype=torch.bool, device=input_ids.device)


class _BatchStreamer(BaseStreamer):
    """Routes each row's new tokens to its job as text deltas (stop sequences and UTF-8 boundaries respected)."""

    def __init__(self, generator: Generator, jobs: list[Job]):
        self.gen = generator
        self.jobs = jobs
        self.prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_seen:  # the first call carries the prompts
            self.prompt_seen = True
            return
        column = value.reshape(len(self.jobs), -1)[:, -1].tolist()
        for job, token in zip(self.jobs, column):
            if job.done:
                continue
            if job.cancel.is_set():
                self._finish(job, "stop")
                continue
            job.tokens.append(int(token))
            if token in self.gen.eos_token_ids:
                self._finish(job, "stop")
                continue
            self._flush(job, final=len(job.tokens) >= job.max_new)
            if not job.done and len(job.tokens) >= job.max_new:
                self._finish(job, "length")

    def _text(self, job: Job) -> str:
        return self.gen.tokenizer.decode(job.tokens, skip_special_tokens=True)

    def _flush(self, job: Job, final: bool) -> None:
        text = self._text(job)
        stops = job.params.stop
        if stops:
            cut = _find_stop(text, stops)
            if cut >= 0:
                if cut > job.sent:
                    job.emit(text[job.sent:cut])
                job.sent = cut
                self._finish(job, "stop", text=text[:cut])
                return
        safe = len(text)
        if not final:
            if text.endswith("\ufffd"):  # an incomplete UTF-8 sequence: wait for the next byte
                safe = len(text.rstrip("\ufffd"))
            if stops:
                safe = min(safe, len(text) - _held_back(text, stops))
        if safe > job.sent:
            job.emit(text[job.sent:safe])
            job.sent = safe

    def _finish(self, job: Job, reason: str, text: str | None = None) -> None:
        if job.done:
            return
        job.done = True
        if text is None:
            text = self._text(job)
            if len(text) > job.sent:
                job.emit(text[job.sent:])
        job.emit(GenerationResult(text=text, prompt_tokens=len(job.ids), completion_tokens=len(job.tokens),
                                  finish_reason=reason))

    def end(self) -> None:
        for job in self.jobs:
            self._finish(job, "stop" if len(job.tokens) < job.max_new else "length")


class Batcher:
    """Groups waiting jobs and runs each group as one `generate` call, one group at a time."""

    def __init__(self, generator: Generator, max_batch: int):
        self.generator = generator
        self.max_batch = max_batch
        self.waiting: deque[Job] = deque()
        self.wakeup = asyncio.Event()
        self.task: asyncio.Task | None = None
        self.closing = False
        self.largest_batch = 0  # for tests and stats

    def submit(self, job: Job) -> None:
        self.waiting.append(job)
        self.wakeup.set()
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._worker())

    def _take_batch(self) -> list[Job]:
        first = self.waiting.popleft()
        batch = [first]
        longest, budget = len(first.ids), first.max_new
        for job in list(self.waiting):
            if len(batch) >= self.max_batch:
                break
            fits = max(longest, len(job.ids)) + max(budget, job.max_new) <= self.generator.context_length
            if job.key() == first.key() and fits and not job.cancel.is_set():
                self.waiting.remove(job)
                batch.append(job)
                longest, budget = max(longest, len(job.ids)), max(budget, job.max_new)
        return batch

    async def _worker(self) -> None:
        from starlette.concurrency import run_in_threadpool

        while not self.closing:
            if not self.waiting:
                self.wakeup.clear()
                await self.wakeup.wait()
                continue
            batch = self._take_batch()
            batch = [job for job in batch if not job.cancel.is_set()] or []
            if batch:
                self.largest_batch = max(self.largest_batch, len(batch))
                await run_in_threadpool(self._generate, batch)

    def _generate(self, jobs: list[Job]) -> None:
        gen = self.generator
        pad = gen.pad_token_id if gen.pad_token_id is not None else gen.eos_token_ids[0]
        width = max(len(job.ids) for job in jobs)
        rows = [[pad] * (width - len(job.ids)) + job.ids for job in jobs]  # left padding
        mask = [[0] * (width - len(job.ids)) + [1] * len(job.ids) for job in jobs]
        device = gen.model.device
        params = jobs[0].params
        try:
            if params.seed is not None:
                from transformers import set_seed

                set_seed(params.seed)
            with torch.inference_mode():
                gen.model.generate(
                    input_ids=torch.tensor(rows, device=device), attention_mask=torch.tensor(mask, device=device),
                    max_new_tokens=max(job.max_new for job in jobs), streamer=_BatchStreamer(gen, jobs),
                    stopping_criteria=StoppingCriteriaList([_RowsDone(jobs)]), pad_token_id=pad,
                    eos_token_id=gen.eos_token_ids, **params.generate_kwargs())
        except Exception as exc:  # every still-open row learns about it
            for job in jobs:
                if not job.done:
                    job.done = True
                    job.emit(exc)

    def shutdown(self) -> None:
        self.closing = True
        self.wakeup.set()
        while self.waiting:
            job = self.waiting.popleft()
            job.cancel.set()
            job.emit(None)

    async def stream(self, job: Job) -> AsyncIterator[str | GenerationResult]:
        """Text deltas then the result; nothing more if the server shuts down first."""
        self.submit(job)
        try:
            while True:
                item = await job.queue.get()
                if item is None:
                    return
                if isinstance(item, Exception):
                    raise item
                yield item
                if isinstance(item, GenerationResult):
                    return
        finally:
            job.cancel.set()  # a disconnected client stops its row at the next step


__all__ = ["Batcher", "Job"]
