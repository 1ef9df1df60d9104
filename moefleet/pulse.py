"""The pulse: a light, repeated look at many hosts — each host's live GPU sample and the health
of the servers deployed there, from ONE short command per host over a connection kept open
between pulses (no handshake after the first).

The command is ``nvidia-smi --query-gpu`` (the benchmark telemetry's fields plus utilisation
and total VRAM; the pre-535 name of the clock event reasons, which every driver accepts) and,
only where servers are deployed, a few lines of the host's python3 asking each server's
``/health`` on the host itself (servers listen on the host's loopback). ``parse_pulse`` is pure;
``Pulse.step`` fans out with the transport pool and turns every failure into data.
"""

from __future__ import annotations

import shlex
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from moefleet.errors import MoefleetError, ParseError, TransportError
from moefleet.facts.model import SLOWDOWN_REASONS
from moefleet.facts.nvsmi_csv import parse_nvsmi_csv
from moefleet.inventory.model import Host
from moefleet.transport import ConnectOptions, HostOutcome, Transport, connect, run_on_hosts

FIELDS = (
    "index", "name", "temperature.gpu", "clocks.sm", "power.draw", "memory.used",
    "memory.total", "utilization.gpu", "clocks_throttle_reasons.active",
)  # fmt: skip
MARK = "@@moefleet-pulse"
NO_SMI = "no nvidia-smi on the host"
#: Seconds nvidia-smi and each /health request may take on the host.
SMI_TIMEOUT = 3
HEALTH_TIMEOUT = 1.5

_HEALTH = """
import sys, urllib.error, urllib.request
mark, timeout = sys.argv[1], float(sys.argv[2])
for name, url in zip(sys.argv[3::2], sys.argv[4::2]):
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/health", timeout=timeout) as r:
            state = "ok %d" % r.status
    except urllib.error.HTTPError as e:
        state = ("loading %d" if e.code == 503 else "down HTTP %d") % e.code
    except Exception as e:
        state = "down " + type(e).__name__
    print(mark, "health", name, state)
"""


@dataclass(frozen=True)
class GpuSample:
    """One GPU at one pulse."""

    gpu: int
    name: str
    temperature_c: float | None
    sm_clock_mhz: float | None
    power_w: float | None
    memory_used_mib: float | None
    memory_total_mib: float | None
    utilization_percent: float | None
    reasons: tuple[str, ...]

    @property
    def slowed(self) -> bool:
        return bool(SLOWDOWN_REASONS & set(self.reasons))


@dataclass(frozen=True)
class ServiceCheck:
    """A deployed server to ask for ``/health``: its name and URL as the host sees it."""

    service: str
    url: str


@dataclass(frozen=True)
class HostPulse:
    """One host at one pulse: ``status`` "ok" when the command ran, else why not (a transport
    error kind); GPU samples (none, with ``gpu_error``, when nvidia-smi gave nothing usable);
    and per deployed service "ok", "loading" or "down ..."."""

    host: str
    at: float
    status: str
    gpus: tuple[GpuSample, ...] = ()
    health: Mapping[str, str] = field(default_factory=dict)
    gpu_error: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def pulse_command(services: Sequence[ServiceCheck] = (), python: str = "python3") -> str:
    """The one shell command of a host's pulse (every value quoted)."""
    fields = shlex.quote(",".join(FIELDS))
    smi = f"nvidia-smi --query-gpu={fields} --format=csv,noheader,nounits"
    parts = [
        f"echo {MARK} gpu",
        f"if command -v timeout >/dev/null 2>&1; then timeout -k 1 {SMI_TIMEOUT} {smi}; "
        f"else {smi}; fi 2>&1",
        f"echo {MARK} smi $?",
    ]
    if services:
        args = " ".join(shlex.quote(a) for s in services for a in (s.service, s.url))
        script = f"{shlex.quote(python)} -c {shlex.quote(_HEALTH)} {MARK} {HEALTH_TIMEOUT}"
        parts.append(f"{script} {args} 2>&1")
    return "; ".join(parts)


def _sample(text: str) -> tuple[tuple[GpuSample, ...], str | None]:
    try:
        report = parse_nvsmi_csv(text, FIELDS)
    except ParseError as exc:
        return (), exc.message
    return tuple(
        GpuSample(
            gpu=g.index,
            name=g.name,
            temperature_c=g.temperature_c,
            sm_clock_mhz=g.clock_sm_mhz,
            power_w=g.power_draw_w,
            memory_used_mib=g.memory_used_mib,
            memory_total_mib=g.memory_total_mib,
            utilization_percent=g.utilization_percent,
            reasons=tuple(g.throttle_reasons),
        )
        for g in report.gpus
    ), None


def parse_pulse(
    host: str, text: str, at: float, services: Sequence[ServiceCheck] = ()
) -> HostPulse:
    """A host's pulse from its command's output; garbage gives a pulse without samples."""
    sections: dict[str, list[str]] = {}
    smi_exit: str | None = None
    health: dict[str, str] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith(MARK + " "):
            words = line.split(maxsplit=4)
            if len(words) >= 3 and words[1] == "smi":
                smi_exit, current = words[2], None
            elif len(words) >= 4 and words[1] == "health":
                health[words[2]] = " ".join(words[3:])
            elif len(words) == 2 and words[1] == "gpu":
                current = sections.setdefault("gpu", [])
            continue
        if current is not None:
            current.append(line)
    gpus, problem = _sample("\n".join(sections.get("gpu", [])))
    if smi_exit is None:
        gpus, problem = (), "no answer from the pulse command"
    elif smi_exit == "127":
        gpus, problem = (), NO_SMI
    elif smi_exit != "0":
        detail = " ".join(sections.get("gpu", []))[:120].strip()
        gpus, problem = (), f"nvidia-smi exited {smi_exit}" + (f": {detail}" if detail else "")
    for check in services:  # a server the command could not ask (no python3?) is unknown
        health.setdefault(check.service, "unknown")
    return HostPulse(host, at, "ok", gpus, health, problem)


class Pulser(Protocol):
    """What the TUI's pulse worker drives: ``Pulse`` (a command per step) or ``PulseStream``
    (a loop per host, moefleet.pulse_stream)."""

    def step(self, services: Mapping[str, Sequence[ServiceCheck]] | None = None) -> list[HostPulse]:
        """The pulses since the last step ([] when none)."""
        ...

    def close(self) -> None:
        """Release every connection."""
        ...


@dataclass(eq=False)
class Pulse:
    """Pulses a set of hosts again and again over connections kept open between steps.

    A host that cannot be reached is retried after ``retry_s`` seconds (its pulse says why in
    the meantime), so dead hosts do not hold every step to the connect timeout."""

    hosts: Sequence[Host]
    options: ConnectOptions
    forks: int = 32
    timeout: float = 8.0
    retry_s: float = 10.0
    _open: dict[str, Transport] = field(default_factory=dict)
    _failed: dict[str, tuple[float, HostPulse]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _busy: threading.Lock = field(default_factory=threading.Lock)
    _closed: bool = False

    def step(self, services: Mapping[str, Sequence[ServiceCheck]] | None = None) -> list[HostPulse]:
        """One pulse of every host (in ``hosts`` order); [] when a step is already running."""
        if not self._busy.acquire(blocking=False):
            return []
        try:
            outcomes = run_on_hosts(
                self.hosts, lambda h: self._one(h, (services or {}).get(h.name, ())), self.forks
            )
        finally:
            self._busy.release()
        return [self._result(outcomes[h.name]) for h in self.hosts]

    def _one(self, host: Host, services: Sequence[ServiceCheck]) -> HostPulse:
        failed = self._failed.get(host.name)
        if failed is not None and time.monotonic() < failed[0]:
            return failed[1]
        with self._lock:
            transport = self._open.pop(host.name, None)
        if transport is None:
            transport = connect(host, self.options)
        try:
            command = pulse_command(services, host.python or "python3")
            result = transport.run(command, timeout=self.timeout)
        except BaseException:  # a dead or stuck connection is not kept
            transport.close()
            raise
        with self._lock:
            if self._closed:
                transport.close()
            else:
                self._open[host.name] = transport
        self._failed.pop(host.name, None)
        return parse_pulse(host.name, result.stdout, time.time(), services)

    def _result(self, outcome: HostOutcome[HostPulse]) -> HostPulse:
        if outcome.value is not None:
            return outcome.value
        error = outcome.error or MoefleetError("unknown failure")
        kind = error.kind if isinstance(error, TransportError) else "error"
        pulse = HostPulse(outcome.host, time.time(), kind, error=error.message)
        self._failed[outcome.host] = (time.monotonic() + self.retry_s, pulse)
        return pulse

    def close(self) -> None:
        """Close every kept connection."""
        with self._lock:
            self._closed = True
            transports, self._open = list(self._open.values()), {}
        for transport in transports:
            transport.close()


def pulse_hosts(hosts: Sequence[Host], options: ConnectOptions, forks: int = 32) -> Pulse:
    """A Pulse of ``hosts`` whose connections time out quickly (a pulse must not linger)."""
    return Pulse(list(hosts), quick_options(options), forks=forks)


def quick_options(options: ConnectOptions) -> ConnectOptions:
    """``options`` with a short connect timeout and no new host keys accepted."""
    return ConnectOptions(
        known_hosts=options.known_hosts,
        accept_new_host_keys=False,
        connect_timeout=min(options.connect_timeout, 5.0),
        keepalive=options.keepalive,
        allow_agent=options.allow_agent,
        look_for_keys=options.look_for_keys,
    )
