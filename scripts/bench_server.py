"""Throughput and latency of `tinyslm serve` for 1 and N concurrent streaming clients on loopback.

Starts the server in-process (uvicorn in a thread, 127.0.0.1, a free port), then for each concurrency level sends
`--requests` streamed completions with the official `openai` client (greedy, fixed max_tokens) and prints:
requests/s, generated tokens/s, time to first token (p50/p95) and end-to-end latency (p50/p95).

    python scripts/bench_server.py --model runs/default/final --concurrency 1 16 --requests 32 --max-tokens 32
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import threading
import time


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


async def _one(client, model: str, prompt: str, max_tokens: int) -> tuple[float, float, int]:
    start = time.perf_counter()
    first = None
    tokens = 0
    stream = await client.completions.create(model=model, prompt=prompt, max_tokens=max_tokens, temperature=0,
                                             stream=True, stream_options={"include_usage": True})
    async for chunk in stream:
        if first is None and chunk.choices and chunk.choices[0].text:
            first = time.perf_counter()
        if chunk.usage:
            tokens = chunk.usage.completion_tokens
    end = time.perf_counter()
    return (first or end) - start, end - start, tokens


async def _level(url: str, model: str, concurrency: int, requests: int, max_tokens: int) -> dict:
    import openai

    sem = asyncio.Semaphore(concurrency)
    async with openai.AsyncOpenAI(base_url=url + "/v1", api_key="bench", max_retries=0, timeout=600) as client:

        async def bounded(i: int):
            async with sem:
                return await _one(client, model, f"Request {i}: once upon a time", max_tokens)

        await _one(client, model, "warm up", 4)
        t0 = time.perf_counter()
        results = await asyncio.gather(*(bounded(i) for i in range(requests)))
        wall = time.perf_counter() - t0
    ttft = [r[0] for r in results]
    lat = [r[1] for r in results]
    toks = sum(r[2] for r in results)
    return {"concurrency": concurrency, "requests": requests, "wall_s": round(wall, 3),
            "req_per_s": round(requests / wall, 2), "tokens_per_s": round(toks / wall, 1),
            "ttft_p50_ms": round(1000 * statistics.median(ttft), 1), "ttft_p95_ms": round(1000 * _pct(ttft, 0.95), 1),
            "latency_p50_ms": round(1000 * statistics.median(lat), 1),
            "latency_p95_ms": round(1000 * _pct(lat, 0.95), 1), "generated_tokens": toks}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="model folder")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--max-batch", type=int, default=1, help="server --max-batch")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = parser.parse_args()

    import torch
    import uvicorn

    from tinyslm_hf.serving.server import create_app

    if args.threads:
        torch.set_num_threads(args.threads)
    app = create_app(args.model, model_id="bench", max_queue=max(args.concurrency) + 1,
                     max_batch=args.max_batch)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.02)
        for level in args.concurrency:
            print(json.dumps(asyncio.run(_level(url, "bench", level, args.requests, args.max_tokens))), flush=True)
    finally:
        server.should_exit = True
        thread.join(30)


if __name__ == "__main__":
    main()
