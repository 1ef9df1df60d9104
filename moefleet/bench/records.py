"""One benchmark request's raw timeline (kept as JSONL) — the input of every metric."""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class RequestRecord:
    """Timestamps are seconds on the controller's monotonic clock (``time.perf_counter``)."""

    index: int
    scheduled: float
    """when the load generator wanted to send it (Poisson/concurrency schedule)"""
    start: float = 0.0
    first_token: float | None = None
    end: float = 0.0
    chunk_times: list[float] = field(default_factory=list)
    """arrival of every streamed chunk that carried text"""
    prompt_tokens: int | None = None
    """from the server's ``usage`` / ``timings``, never from counting chunks"""
    completion_tokens: int | None = None
    server_decode_tps: float | None = None
    """the server's own decode speed for this request (llama-server ``timings``), if given"""
    server_prefill_tps: float | None = None
    error: str | None = None
    warmup: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and self.completion_tokens is not None

    @property
    def ttft(self) -> float | None:
        return None if self.first_token is None else self.first_token - self.start

    @property
    def e2e(self) -> float:
        return self.end - self.start

    @property
    def tpot(self) -> float | None:
        """(E2E - TTFT) / (n - 1): the standard time per output token after the first."""
        n = self.completion_tokens or 0
        if self.ttft is None or n < 2:
            return None
        return (self.e2e - self.ttft) / (n - 1)

    def inter_chunk(self) -> list[float]:
        times = self.chunk_times
        return [b - a for a, b in itertools.pairwise(times)]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
