"""OpenAI-compatible HTTP server for a TinySLM model folder (FastAPI + uvicorn).

Endpoints: `GET /health`, `GET /v1/models`, `GET /v1/models/{id}`, `POST /v1/completions`,
`POST /v1/chat/completions` (both with `stream: true` as server-sent events). Any OpenAI client works against it.

How requests are run, and why:
- One model, one generation at a time by default. An `asyncio.Lock` serialises generations, so concurrent requests
  can never mix outputs (each has its own streamer), and the per-request seed can use the global RNG. With
  `max_batch` > 1, `batching.Batcher` instead runs waiting requests together as one left-padded `generate`.
- Generation never runs on the event loop: `model.generate` runs in its own thread (`generation.TextStream`) and the
  blocking streamer is read through Starlette's threadpool, so `/health` and new requests stay responsive.
- Memory is bounded: at most `max_queue` requests are admitted (running + waiting); the next one gets 429 with
  `Retry-After`. `max_tokens` is capped by the context window. While shutting down, new requests get 503 and running
  generations are cancelled between two tokens. A client that disconnects mid-stream cancels its generation too.
- Errors use OpenAI's shape `{"error": {"message", "type", "param", "code"}}`: 400 bad parameters or over-long prompt,
  401 missing/wrong API key (when one is set), 404 unknown model or route, 429 queue full, 503 shutting down.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import secrets
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Literal

import anyio
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from starlette.background import BackgroundTask
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..generation import GenerationResult, Generator, PromptTooLongError, SamplingParams, TextStream
from ..sft_data import MESSAGE_NAME_PATTERN
from .batching import Batcher, Job

DEFAULT_MAX_QUEUE = 32
MAX_CHOICES = 8


# --------------------------------------------------------------------------------------------------------- errors
class APIError(Exception):
    """An error answered in OpenAI's error shape."""

    TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 404: "invalid_request_error",
             429: "rate_limit_error", 503: "service_unavailable"}

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.headers = status, message, param, code, headers

    def response(self) -> JSONResponse:
        body = {"error": {"message": self.message, "type": self.TYPES.get(self.status, "server_error"),
                          "param": self.param, "code": self.code}}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


# ------------------------------------------------------------------------------------------------- request models
class _Strict(BaseModel):
    # Unknown fields are rejected (400) rather than silently ignored, so a typo never changes behaviour unnoticed.
    model_config = ConfigDict(extra="forbid")


class StreamOptions(_Strict):
    include_usage: bool = False


class _SamplingRequest(_Strict):
    @model_validator(mode="before")
    @classmethod
    def _null_means_default(cls, data: Any) -> Any:
        # Many clients send `"temperature": null` etc. for "not set"; OpenAI treats that as the default.
        return {k: v for k, v in data.items() if v is not None} if isinstance(data, dict) else data

    model: str = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    top_k: int = Field(0, ge=0, description="extension: 0 disables top-k")
    repetition_penalty: float = Field(1.0, gt=0.0, le=10.0, description="extension: 1 disables it")
    seed: int | None = Field(None, ge=0, lt=2**63)
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = Field(1, ge=1, le=MAX_CHOICES, description="choices, generated one after another")
    presence_penalty: float = Field(0.0, ge=-2.0, le=2.0)
    frequency_penalty: float = Field(0.0, ge=-2.0, le=2.0)
    logit_bias: dict[str, float] | None = None
    user: str | None = None
    # Fields clients send by default. Their harmless values are accepted; a value that asks for something this
    # server cannot do is refused by name rather than ignored.
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    store: bool | None = None
    metadata: dict[str, str] | None = None
    service_tier: str | None = None

    @field_validator("stop")
    @classmethod
    def _stops(cls, value: str | list[str] | None) -> list[str]:
        stops = [value] if isinstance(value, str) else list(value or [])
        if len(stops) > 4:
            raise ValueError("at most 4 stop sequences are allowed")
        if any(not s for s in stops):
            raise ValueError("stop sequences must be non-empty strings")
        return stops

    @model_validator(mode="after")
    def _unsupported(self) -> "_SamplingRequest":
        if self.response_format is not None and self.response_format.get("type") != "text":
            raise ValueError(f"response_format {self.response_format.get('type')!r} is not supported (only 'text')")
        if self.tools:
            raise ValueError("tools are not supported: this model has no tool calling")
        if self.tool_choice not in (None, "none", "auto"):
            raise ValueError("tool_choice: only 'none' or 'auto' without tools is supported")
        if self.store:
            raise ValueError("store=true is not supported: this server keeps no completions")
        if self.logit_bias:
            raise ValueError("logit_bias is not supported")
        if self.stream_options is not None and not self.stream:
            raise ValueError("stream_options is only allowed with stream=true")
        return self

    def requested_logprobs(self) -> int | None:
        return None

    def sampling(self, max_tokens: int | None) -> SamplingParams:
        return SamplingParams(max_new_tokens=max_tokens, temperature=self.temperature, top_p=self.top_p,
                              top_k=self.top_k, repetition_penalty=self.repetition_penalty, seed=self.seed,
                              stop=list(self.stop or []), presence_penalty=self.presence_penalty,
                              frequency_penalty=self.frequency_penalty,
                              logprobs=self.requested_logprobs()).validate()


class CompletionRequest(_SamplingRequest):
    prompt: str | list[str]
    echo: bool = False
    best_of: int = Field(1, ge=1, le=1)
    suffix: str | None = None
    logprobs: int | None = Field(None, ge=0, le=5)

    @field_validator("prompt")
    @classmethod
    def _one_prompt(cls, value: str | list[str]) -> str:
        if isinstance(value, list):
            if len(value) != 1:
                raise ValueError("exactly one prompt per request is supported")
            value = value[0]
        return value

    @model_validator(mode="after")
    def _completion_unsupported(self) -> "CompletionRequest":
        if self.suffix:
            raise ValueError("suffix is not supported: this model only continues text")
        if self.logprobs is not None and self.stream:
            raise ValueError("logprobs is not supported with stream=true")
        return self

    def requested_logprobs(self) -> int | None:
        return self.logprobs


class TextPart(_Strict):
    type: Literal["text"]
    text: str


class ChatMessage(_Strict):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart]
    name: str | None = Field(None, pattern=MESSAGE_NAME_PATTERN)

    def as_template_message(self) -> dict[str, str]:
        text = self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)
        message = {"role": "system" if self.role == "developer" else self.role, "content": text}
        if self.name:
            message["name"] = self.name  # ChatML's `<|im_start|>user name=...`
        return message


class ChatCompletionRequest(_SamplingRequest):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0, le=20)

    @model_validator(mode="after")
    def _chat_unsupported(self) -> "ChatCompletionRequest":
        if self.top_logprobs is not None and not self.logprobs:
            raise ValueError("top_logprobs needs logprobs=true")
        if self.logprobs and self.stream:
            raise ValueError("logprobs is not supported with stream=true")
        return self

    def requested_logprobs(self) -> int | None:
        return (self.top_logprobs or 0) if self.logprobs else None


# ---------------------------------------------------------------------------------------------------------- engine
class Engine:
    """Owns the model: admission control (bounded queue) and one-at-a-time generation."""

    def __init__(self, generator: Generator, model_id: str, max_queue: int = DEFAULT_MAX_QUEUE, max_batch: int = 1):
        if max_queue < 1:
            raise ValueError(f"max_queue must be >= 1, got {max_queue}")
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self.batcher = Batcher(generator, max_batch) if max_batch > 1 else None
        self.jobs: set[Job] = set()
        self.generator = generator
        self.model_id = model_id
        self.max_queue = max_queue
        self.pending = 0  # admitted requests (running + waiting); only touched on the event loop
        self.closing = False
        self.active: set[TextStream] = set()
        self.lock = asyncio.Lock()
        self.created = int(time.time())

    def admit(self) -> "Slot":
        """Reserve a queue place (429 when full, 503 when closing); release it exactly once with `Slot.release`."""
        if self.closing:
            raise APIError(503, "the server is shutting down", code="shutting_down")
        if self.pending >= self.max_queue:
            raise APIError(429, f"the request queue is full ({self.max_queue} requests); retry shortly",
                           code="queue_full", headers={"Retry-After": "1"})
        self.pending += 1
        return Slot(self)

    def shutdown(self) -> None:
        self.closing = True
        for stream in list(self.active):
            stream.cancel_event.set()
        if self.batcher is not None:
            self.batcher.shutdown()
            for job in list(self.jobs):
                job.cancel.set()

    async def _batched(self, ids: list[int], params: SamplingParams) -> AsyncIterator[str | GenerationResult]:
        job = Job(ids, params, self.generator.budget(ids, params), asyncio.get_running_loop())
        self.jobs.add(job)
        try:
            async for item in self.batcher.stream(job):  # type: ignore[union-attr]
                if isinstance(item, GenerationResult) and self.closing:
                    return  # cut short by shutdown: not a real answer
                yield item
        finally:
            self.jobs.discard(job)

    def check_model(self, name: str) -> None:
        if name != self.model_id:
            raise APIError(404, f"the model '{name}' does not exist; this server serves '{self.model_id}'",
                           param="model", code="model_not_found")

    def prepare(self, ids: list[int], params: SamplingParams, param: str) -> None:
        try:
            self.generator.budget(ids, params)
        except PromptTooLongError as exc:
            raise APIError(400, str(exc), param=param, code="context_length_exceeded") from exc

    async def run(self, ids: list[int], params: SamplingParams) -> GenerationResult:
        """Whole completion, off the event loop, after the requests ahead of it."""
        if self.batcher is not None:
            result = None
            async for item in self._batched(ids, params):
                if isinstance(item, GenerationResult):
                    result = item
            if result is None:
                raise APIError(503, "the server is shutting down", code="shutting_down")
            return result
        async with self.lock:
            if self.closing:
                raise APIError(503, "the server is shutting down", code="shutting_down")
            stream = self.generator.stream_ids(ids, params)
            self.active.add(stream)
            try:
                await run_in_threadpool(_drain, stream)
            finally:
                self.active.discard(stream)
                with anyio.CancelScope(shield=True):
                    await run_in_threadpool(stream.close)
            if self.closing or stream.result is None:  # cut short by shutdown: not a real answer
                raise APIError(503, "the server is shutting down", code="shutting_down")
            return stream.result

    async def stream(self, ids: list[int], params: SamplingParams) -> AsyncIterator[str | GenerationResult]:
        """Text deltas, then the GenerationResult (nothing when cancelled by shutdown)."""
        if self.batcher is not None:
            async for item in self._batched(ids, params):
                yield item
            return
        async with self.lock:
            if self.closing:
                return
            stream = self.generator.stream_ids(ids, params)
            self.active.add(stream)
            try:
                async for delta in iterate_in_threadpool(iter(stream)):
                    yield delta
                if stream.result is not None and not (self.closing and stream.cancel_event.is_set()):
                    yield stream.result
            finally:
                self.active.discard(stream)
                with anyio.CancelScope(shield=True):  # a disconnect cancels us; still stop + join the thread
                    await run_in_threadpool(stream.close)


class Slot:
    """One admitted request's place in the queue."""

    def __init__(self, engine: Engine):
        self._engine = engine
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._engine.pending -= 1


def _drain(stream: TextStream) -> None:
    for _ in stream:
        pass


# ------------------------------------------------------------------------------------------------------ responses
def _usage(results: list[GenerationResult]) -> dict[str, int]:
    """The prompt once (all choices share it), the completions of every choice."""
    prompt, completion = results[0].prompt_tokens, sum(r.completion_tokens for r in results)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _chat_logprobs(result: GenerationResult) -> dict[str, Any] | None:
    if result.logprobs is None:
        return None
    entry = lambda token, logprob: {"token": token, "logprob": logprob,  # noqa: E731
                                    "bytes": list(token.encode("utf-8"))}
    return {"content": [{**entry(token, logprob), "top_logprobs": [entry(t, v) for t, v in top]}
                        for token, logprob, top in result.logprobs], "refusal": None}


def _completion_logprobs(result: GenerationResult, start: int) -> dict[str, Any] | None:
    """The legacy completions layout; `start` is where the completion begins in the returned text (after an
    echoed prompt)."""
    if result.logprobs is None:
        return None
    offsets, at = [], start
    for token, _, _ in result.logprobs:
        offsets.append(at)
        at += len(token)
    return {"tokens": [t for t, _, _ in result.logprobs], "token_logprobs": [v for _, v, _ in result.logprobs],
            "top_logprobs": [dict(top) for _, _, top in result.logprobs], "text_offset": offsets}


def _sse(payload: dict[str, Any] | str) -> str:
    data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return f"data: {data}\n\n"


@dataclass
class WireFormat:
    """OpenAI's response objects for one request: the full response, its stream chunks and the usage chunk."""

    chat: bool
    model_id: str
    include_usage: bool = False
    rid: str = ""
    created: int = 0

    def __post_init__(self):
        self.rid = ("chatcmpl-" if self.chat else "cmpl-") + uuid.uuid4().hex[:24]
        self.created = int(time.time())

    def _envelope(self, obj: str, choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {"id": self.rid, "object": obj, "created": self.created, "model": self.model_id, "choices": choices}

    def response(self, results: list[GenerationResult], echo: str = "") -> dict[str, Any]:
        choices = []
        for index, result in enumerate(results):
            choice: dict[str, Any] = {"index": index, "finish_reason": result.finish_reason}
            if self.chat:
                choice["message"] = {"role": "assistant", "content": result.text}
                choice["logprobs"] = _chat_logprobs(result)
            else:
                choice.update(text=echo + result.text, logprobs=_completion_logprobs(result, len(echo)))
            choices.append(choice)
        return {**self._envelope("chat.completion" if self.chat else "text_completion", choices),
                "usage": _usage(results)}

    @property
    def chunk_object(self) -> str:
        return "chat.completion.chunk" if self.chat else "text_completion"

    def chunk(self, delta: str | None, finish: str | None = None, role: bool = False,
              index: int = 0) -> dict[str, Any]:
        if self.chat:
            d: dict[str, Any] = {}
            if role:
                d["role"] = "assistant"
            if delta is not None:
                d["content"] = delta
            choice = {"index": index, "delta": d, "finish_reason": finish}
        else:
            choice = {"index": index, "text": delta or "", "finish_reason": finish, "logprobs": None}
        out = self._envelope(self.chunk_object, [choice])
        if self.include_usage:
            out["usage"] = None
        return out

    def usage_chunk(self, results: list[GenerationResult]) -> dict[str, Any]:
        return {**self._envelope(self.chunk_object, []), "usage": _usage(results)}


def _stream_error(message: str, kind: str, code: str | None = None) -> str:
    """An error sent in-band, OpenAI style: once streaming, the status line is already sent."""
    return _sse({"error": {"message": message, "type": kind, "param": None, "code": code}})


async def _events(engine: Engine, slot: Slot, wire: WireFormat, ids: list[int],
                  choices: list[SamplingParams], echo: str = "") -> AsyncIterator[str]:
    """Server-sent events for every choice in turn (each chunk names its choice's index)."""
    results: list[GenerationResult] = []
    try:
        for index, params in enumerate(choices):
            result: GenerationResult | None = None
            if wire.chat:
                yield _sse(wire.chunk("", role=True, index=index))
            elif echo:
                yield _sse(wire.chunk(echo, index=index))
            async for item in engine.stream(ids, params):
                if isinstance(item, GenerationResult):
                    result = item
                else:
                    yield _sse(wire.chunk(item, index=index))
            if result is None:  # cancelled by shutdown
                yield _stream_error("the server is shutting down", "service_unavailable", "shutting_down")
                return
            results.append(result)
            yield _sse(wire.chunk(None if wire.chat else "", finish=result.finish_reason, index=index))
    except Exception as exc:
        yield _stream_error(f"generation failed: {exc}", "server_error")
        return
    finally:
        slot.release()
    if wire.include_usage:
        yield _sse(wire.usage_chunk(results))
    yield _sse("[DONE]")


def _choice_params(params: SamplingParams, n: int) -> list[SamplingParams]:
    """One SamplingParams per choice: a seeded request gets seeds seed, seed+1, ... so its n choices differ and
    the whole response is reproducible."""
    if params.seed is None:
        return [params] * n
    return [dataclasses.replace(params, seed=(params.seed + i) % 2**63) for i in range(n)]


async def _respond(engine: Engine, req: _SamplingRequest, ids: list[int], max_tokens: int | None, chat: bool,
                   echo: str = ""):
    """Admit one request and answer it, whole or as server-sent events."""
    engine.check_model(req.model)
    try:
        params = req.sampling(max_tokens)
    except ValueError as exc:
        raise APIError(400, str(exc), code="invalid_value") from exc
    if params.logprobs is not None and engine.batcher is not None:
        raise APIError(400, "logprobs is not supported by a batching server (--max-batch > 1)", param="logprobs",
                       code="invalid_value")
    engine.prepare(ids, params, "messages" if chat else "prompt")
    slot = engine.admit()
    wire = WireFormat(chat, engine.model_id, bool(req.stream_options and req.stream_options.include_usage))
    choices = _choice_params(params, req.n)
    if not req.stream:
        try:
            return wire.response([await engine.run(ids, p) for p in choices], echo)
        finally:
            slot.release()
    # The background task also releases the slot if the client vanished before the body was ever iterated.
    return StreamingResponse(_events(engine, slot, wire, ids, choices, echo), media_type="text/event-stream",
                             background=BackgroundTask(slot.release),
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


# ---------------------------------------------------------------------------------------------------------- routes
def _engine(request: Request) -> Engine:
    return request.app.state.engine


async def require_key(request: Request) -> None:
    """`Authorization: Bearer <key>` on every /v1 route, when the app has a key."""
    api_key = request.app.state.api_key
    if api_key is None:
        return
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(token.strip().encode(), api_key.encode()):
        raise APIError(401, "missing or invalid API key (send 'Authorization: Bearer <key>')", code="invalid_api_key")


def _model_card(engine: Engine) -> dict[str, Any]:
    return {"id": engine.model_id, "object": "model", "created": engine.created, "owned_by": "tinyslm",
            "context_length": engine.generator.context_length}


router = APIRouter()
v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_key)])


@router.get("/health")
async def health(request: Request) -> dict[str, Any]:
    engine = _engine(request)
    return {"status": "shutting_down" if engine.closing else "ok", "model": engine.model_id,
            "queued": engine.pending, "max_queue": engine.max_queue}


@v1.get("/models")
async def list_models(request: Request) -> dict[str, Any]:
    return {"object": "list", "data": [_model_card(_engine(request))]}


@v1.get("/models/{name:path}")
async def get_model(request: Request, name: str) -> dict[str, Any]:
    engine = _engine(request)
    engine.check_model(name)
    return _model_card(engine)


@v1.post("/completions")
async def completions(request: Request, req: CompletionRequest):
    engine = _engine(request)
    ids = engine.generator.encode(req.prompt)  # type: ignore[arg-type]
    return await _respond(engine, req, ids, req.max_tokens, chat=False,
                          echo=req.prompt if req.echo else "")  # type: ignore[arg-type]


@v1.post("/chat/completions")
async def chat_completions(request: Request, req: ChatCompletionRequest):
    engine = _engine(request)
    try:
        ids = engine.generator.encode_chat([m.as_template_message() for m in req.messages])
    except ValueError as exc:
        raise APIError(400, str(exc), param="messages") from exc
    max_tokens = req.max_completion_tokens if req.max_completion_tokens is not None else req.max_tokens
    return await _respond(engine, req, ids, max_tokens, chat=True)


# ---------------------------------------------------------------------------------------------- error handlers
async def _api_error(request: Request, exc: APIError) -> JSONResponse:
    return exc.response()


async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0] if exc.errors() else {}
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    message = first.get("msg", "invalid request")
    if loc:
        message = f"{'.'.join(loc)}: {message}"
    return APIError(400, message, param=loc[0] if loc else None, code="invalid_value").response()


async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    return APIError(exc.status_code, str(exc.detail)).response()


async def _internal(request: Request, exc: Exception) -> JSONResponse:  # never leak a traceback
    return APIError(500, f"internal error: {type(exc).__name__}").response()


# ------------------------------------------------------------------------------------------------------------- app
def create_app(
    model_dir: str | Path | None = None,
    api_key: str | None = None,
    max_queue: int = DEFAULT_MAX_QUEUE,
    model_id: str | None = None,
    device: str | None = "cpu",
    generator: Generator | None = None,
    max_batch: int = 1,
    int8: bool = False,
) -> FastAPI:
    """Build the FastAPI app for one model folder (or an already loaded `Generator`).

    `model_id` is the name clients pass as `model` (default: the folder's name, or its run's for `.../final`); `api_key`, when set, is required as
    `Authorization: Bearer <key>` on every `/v1` route. `max_batch` > 1 runs up to that many concurrent requests
    as one batched `generate` (see `batching.py`). `int8` quantizes the folder's Linear layers to dynamic int8 after
    loading (CPU).
    """
    if generator is None:
        if model_dir is None:
            raise ValueError("create_app needs model_dir or generator")
        from ..modelio import load_model_and_tokenizer

        model, tokenizer = load_model_and_tokenizer(model_dir, device=device, int8=int8)
        generator = Generator(model, tokenizer)
    if model_id is None:
        from ..modelio import model_name

        model_id = model_name(model_dir) if model_dir is not None else "tinyslm"
    engine = Engine(generator, model_id, max_queue, max_batch)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        engine.shutdown()

    app = FastAPI(title="TinySLM OpenAI-compatible server", lifespan=lifespan)
    app.state.engine, app.state.api_key = engine, api_key
    for exc_class, handler in ((APIError, _api_error), (RequestValidationError, _invalid),
                               (StarletteHTTPException, _http), (Exception, _internal)):
        app.add_exception_handler(exc_class, handler)
    app.include_router(router)
    app.include_router(v1)
    return app


def serve(app: FastAPI, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info") -> None:
    """Run the app with uvicorn until Ctrl-C (uvicorn drains connections, then our lifespan cancels generations)."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=10)


__all__ = ["APIError", "ChatCompletionRequest", "CompletionRequest", "DEFAULT_MAX_QUEUE", "Engine", "Slot",
           "WireFormat", "create_app", "serve"]
