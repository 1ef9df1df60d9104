"""GPU telemetry sampled from the host while a benchmark runs.

A background thread asks the host for ``nvidia-smi --query-gpu`` every ``interval`` seconds
over its own connection (the probe's parser reads the CSV), and keeps temperature, SM clock,
power, VRAM used and throttle reasons per sample. A run is flagged when any sample shows a
thermal or power slowdown: its numbers say more about the cooling than about the model.
"""

from __future__ import annotations

import shlex
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from moefleet.errors import MoefleetError, ParseError
from moefleet.facts.model import SLOWDOWN_REASONS
from moefleet.facts.nvsmi_csv import parse_nvsmi_csv
from moefleet.transport.base import Transport

FIELDS = (
    "index", "name", "temperature.gpu", "clocks.sm", "power.draw", "memory.used",
    "clocks_event_reasons.active",
)  # fmt: skip


@dataclass(frozen=True)
class Sample:
    """One GPU at one instant."""

    at: float
    gpu: int
    temperature_c: float | None
    sm_clock_mhz: float | None
    power_w: float | None
    memory_used_mib: float | None
    reasons: tuple[str, ...]

    @property
    def slowed(self) -> bool:
        return bool(SLOWDOWN_REASONS & set(self.reasons))


def query_command() -> str:
    fields = ",".join(FIELDS)
    return f"nvidia-smi --query-gpu={shlex.quote(fields)} --format=csv,noheader,nounits"


def parse_samples(text: str, at: float) -> list[Sample]:
    """Samples from one CSV answer (an unreadable answer gives none)."""
    try:
        report = parse_nvsmi_csv(text, FIELDS)
    except ParseError:
        return []
    return [
        Sample(
            at=at,
            gpu=gpu.index,
            temperature_c=gpu.temperature_c,
            sm_clock_mhz=gpu.clock_sm_mhz,
            power_w=gpu.power_draw_w,
            memory_used_mib=gpu.memory_used_mib,
            reasons=tuple(gpu.throttle_reasons),
        )
        for gpu in report.gpus
    ]


@dataclass
class TelemetrySampler:
    """Samples in a thread between ``start()`` and ``stop()`` (a context manager)."""

    open_transport: Callable[[], Transport]
    interval: float = 1.0
    samples: list[Sample] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _loop(self) -> None:
        try:
            transport = self.open_transport()
        except MoefleetError as exc:  # reported as data: the benchmark goes on
            self.errors.append(f"telemetry: cannot connect: {exc.message}")
            return
        try:
            while not self._stop.is_set():
                result = transport.run(query_command(), timeout=max(5.0, self.interval * 3))
                if result.exit_code == 0:
                    self.samples.extend(parse_samples(result.stdout, time.time()))
                else:
                    self.errors.append(f"telemetry: nvidia-smi exited {result.exit_code}")
                self._stop.wait(self.interval)
        finally:
            transport.close()

    def __enter__(self) -> TelemetrySampler:
        self._thread = threading.Thread(target=self._loop, name="telemetry", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10.0)

    @property
    def throttled(self) -> bool | None:
        """True if any sample was slowed, None when nothing could be sampled."""
        return any(s.slowed for s in self.samples) if self.samples else None
