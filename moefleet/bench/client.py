"""An asyncio load generator for OpenAI-compatible servers (llama-server, vLLM), over httpx.

Two schedules: a fixed number of concurrent streams (each sends its next request when the
previous one ends) or Poisson arrivals at a given rate. Requests stream (SSE), ask for the
final ``usage`` (``stream_options.include_usage``), and record every chunk's arrival; the
first ``warmup`` requests are marked and left out of the metrics. A deadline stops sending
and cancels what is in flight. The API key travels in the Authorization header only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from moefleet.bench.records import RequestRecord
from moefleet.bench.workload import Workload


@dataclass(frozen=True)
class LoadSpec:
    """How hard to push: ``concurrency`` streams, or ``rate`` requests/s (Poisson)."""

    requests: int
    concurrency: int | None = None
    rate: float | None = None
    warmup: int = 0
    deadline_s: float | None = None
    seed: int = 0
    timeout_s: float = 120.0
    extra_body: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.concurrency is None) == (self.rate is None):
            raise ValueError("give exactly one of concurrency or rate")


def auth_headers(api_key: str | None) -> dict[str, str]:
    """The bearer header for ``api_key`` (none without a key)."""
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def _usage(payload: dict[str, Any], record: RequestRecord) -> None:
    usage = payload.get("usage") or {}
    timings = payload.get("timings") or {}
    prompt = usage.get("prompt_tokens", timings.get("prompt_n"))
    completion = usage.get("completion_tokens", timings.get("predicted_n"))
    if prompt is not None:
        record.prompt_tokens = int(prompt)
    if completion is not None:
        record.completion_tokens = int(completion)
    if timings.get("predicted_per_second"):
        record.server_decode_tps = float(timings["predicted_per_second"])
    if timings.get("prompt_per_second"):
        record.server_prefill_tps = float(timings["prompt_per_second"])


def _has_text(payload: dict[str, Any]) -> bool:
    for choice in payload.get("choices") or ():
        delta = choice.get("delta") or {}
        if choice.get("text") or delta.get("content") or delta.get("reasoning_content"):
            return True
    return False


async def send(
    client: httpx.AsyncClient, url: str, body: dict[str, Any], record: RequestRecord
) -> RequestRecord:
    """Stream one request into ``record`` (errors are recorded, never raised)."""
    record.start = time.perf_counter()
    try:
        async with client.stream("POST", url, json=body) as response:
            if response.status_code != 200:
                text = (await response.aread()).decode("utf-8", "replace")[:200]
                record.error = f"HTTP {response.status_code}: {text}"
                return record
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                now = time.perf_counter()
                payload = json.loads(data)
                if _has_text(payload):
                    record.chunk_times.append(now)
                    if record.first_token is None:
                        record.first_token = now
                _usage(payload, record)
    except (httpx.HTTPError, json.JSONDecodeError) as exc:
        record.error = f"{type(exc).__name__}: {exc}"
    finally:
        record.end = time.perf_counter()
    if record.completion_tokens is None and record.error is None:
        record.error = "the server sent no usage"
    return record


async def run_load(
    base_url: str,
    workload: Workload,
    load: LoadSpec,
    api_key: str | None = None,
    on_record: Callable[[RequestRecord], None] | None = None,
) -> list[RequestRecord]:
    """Run ``load.requests`` (+ warm-up) requests of ``workload`` against ``base_url``."""
    rng = random.Random(load.seed)  # noqa: S311 - a reproducible schedule, not a secret
    total = load.requests + load.warmup
    bodies = [{**workload.body(i, rng), **load.extra_body} for i in range(total)]
    url = f"{base_url.rstrip('/')}{workload.path}"
    streams = load.concurrency or min(total, 1024)
    limits = httpx.Limits(max_connections=streams, max_keepalive_connections=streams)
    timeout = httpx.Timeout(load.timeout_s, connect=10.0)
    records: list[RequestRecord] = []
    started = time.perf_counter()
    async with httpx.AsyncClient(
        headers=auth_headers(api_key), limits=limits, timeout=timeout
    ) as client:

        async def one(index: int, at: float) -> None:
            record = RequestRecord(index=index, scheduled=at, warmup=index < load.warmup)
            records.append(await send(client, url, bodies[index], record))
            if on_record is not None:
                on_record(record)

        work = (
            _closed_loop(one, total, load.concurrency)
            if load.concurrency
            else _poisson(one, total, load.rate or 1.0, rng, started)
        )
        with contextlib.suppress(TimeoutError):  # the deadline: finished requests are kept
            await asyncio.wait_for(work, timeout=load.deadline_s)
    return sorted(records, key=lambda r: r.index)


async def _closed_loop(one: Callable[[int, float], Any], total: int, concurrency: int) -> None:
    queue = iter(range(total))

    async def worker() -> None:
        for index in queue:
            await one(index, time.perf_counter())

    await asyncio.gather(*(worker() for _ in range(min(concurrency, total))))


async def _poisson(
    one: Callable[[int, float], Any], total: int, rate: float, rng: random.Random, t0: float
) -> None:
    tasks = []
    at = t0
    for index in range(total):
        at += rng.expovariate(rate)
        delay = at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(index, at)))
    await asyncio.gather(*tasks)
