"""gather_facts: probe hosts in parallel, ONE SSH round trip each, one result per host."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, cast, get_args

from pydantic import BaseModel, ConfigDict

from moefleet.errors import MoefleetError, TransportError
from moefleet.facts.assemble import facts_from_document
from moefleet.facts.collect import collector_command, extract_document
from moefleet.facts.model import HostFacts
from moefleet.findings import Finding, check_host
from moefleet.inventory.model import Host
from moefleet.transport import ConnectOptions, HostOutcome, connect, run_on_hosts

DEFAULT_MODELS_DIR = "/var/lib/moefleet/models"

ProbeStatus = Literal[
    "ok",
    "degraded",
    "unreachable",
    "auth-failed",
    "host-key-mismatch",
    "host-key-unknown",
    "timeout",
    "error",
]
REACHED: tuple[ProbeStatus, ...] = ("ok", "degraded")


class HostProbe(BaseModel):
    """The outcome of probing one host: facts and findings, or why there are none."""

    model_config = ConfigDict(extra="forbid")

    host: str
    target: str
    status: ProbeStatus
    probed_at: datetime
    seconds: float
    facts: HostFacts | None = None
    findings: list[Finding] = []
    error: str | None = None
    hint: str | None = None

    @property
    def reached(self) -> bool:
        return self.status in REACHED


@dataclass(frozen=True)
class ProbeOptions:
    """How to probe: connection options, the per-host deadline, and whether to try NVML."""

    connect: ConnectOptions
    timeout: float = 60.0
    forks: int = 20
    nvml: bool = True


def _models_dirs(host: Host) -> list[str]:
    value = host.vars.get("models_dir", DEFAULT_MODELS_DIR)
    return [str(value)]


def collect_facts(host: Host, options: ProbeOptions) -> HostFacts:
    """Connect, run the collector once, and turn its document into HostFacts."""
    started = time.monotonic()
    transport = connect(host, options.connect)
    try:
        remaining = max(1.0, options.timeout - (time.monotonic() - started))
        per_command = max(1.0, min(30.0, remaining * 0.45))
        command = collector_command(host.python, per_command, _models_dirs(host), options.nvml)
        result = transport.run(command, timeout=remaining)
    finally:
        transport.close()
    document = extract_document(result.stdout)
    return facts_from_document(host.name, document, datetime.now(UTC))


def _to_probe(host: Host, outcome: HostOutcome[HostFacts]) -> HostProbe:
    now = datetime.now(UTC)
    if outcome.value is not None:
        facts = outcome.value
        return HostProbe(
            host=host.name,
            target=host.target,
            status="degraded" if facts.degraded else "ok",
            probed_at=now,
            seconds=round(outcome.seconds, 3),
            facts=facts,
            findings=check_host(facts),
        )
    error = outcome.error or MoefleetError("unknown failure")
    status: ProbeStatus = "error"
    if isinstance(error, TransportError) and error.kind in get_args(ProbeStatus):
        status = cast(ProbeStatus, error.kind)
    return HostProbe(
        host=host.name,
        target=host.target,
        status=status,
        probed_at=now,
        seconds=round(outcome.seconds, 3),
        error=error.message,
        hint=error.hint,
    )


def gather_facts(
    hosts: Sequence[Host], options: ProbeOptions, on_done: Callable[[HostProbe], None] | None = None
) -> list[HostProbe]:
    """Probe every host (``options.forks`` at a time); results in ``hosts`` order."""
    by_name = {host.name: host for host in hosts}
    probes: dict[str, HostProbe] = {}

    def report(outcome: HostOutcome[HostFacts]) -> None:
        probe = _to_probe(by_name[outcome.host], outcome)
        probes[outcome.host] = probe
        if on_done is not None:
            on_done(probe)

    run_on_hosts(hosts, lambda host: collect_facts(host, options), options.forks, report)
    return [probes[host.name] for host in hosts]
