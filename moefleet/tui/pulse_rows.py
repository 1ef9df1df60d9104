"""Fleet rows brought up to date by the pulse (pure): live temperature, power and VRAM when the
pulse is fresher than the stored probe, the health of what is deployed, and rows for inventory
hosts that were pulsed but never probed."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from moefleet.pulse import NO_SMI, GpuSample, HostPulse
from moefleet.tui.data import FleetRow


def pulse_health(pulse: HostPulse | None, deployed: bool) -> str:
    """Health of what is deployed: "ok", "down", "loading", "?" (not asked yet) or "stale"
    (the host did not answer the pulse); "—" without a deployment or without a pulse."""
    if pulse is None or not deployed:
        return "—"
    if not pulse.ok:
        return "stale"
    states = {value.split(maxsplit=1)[0] for value in pulse.health.values()}
    for state in ("down", "loading", "unknown"):
        if state in states:
            return "?" if state == "unknown" else state
    return "ok" if states else "?"


def _live(row: FleetRow, gpus: Sequence[GpuSample]) -> FleetRow:
    used = [g.memory_used_mib for g in gpus if g.memory_used_mib is not None]
    total = [g.memory_total_mib for g in gpus if g.memory_total_mib is not None]
    temps = tuple(float(g.temperature_c) for g in gpus if g.temperature_c is not None)
    power = [g.power_w for g in gpus if g.power_w is not None]
    return replace(
        row,
        vram_used_gib=sum(used) / 1024 if used else row.vram_used_gib,
        vram_total_gib=sum(total) / 1024 if total else row.vram_total_gib,
        temperature_c=max(temps) if temps else row.temperature_c,
        power_w=sum(power) if power else row.power_w,
        throttling=any(g.slowed for g in gpus),
        gpu_temps=temps or row.gpu_temps,
    )


def with_pulse(
    row: FleetRow, latest: HostPulse | None, good: HostPulse | None, probed_at: float | None
) -> FleetRow:
    """``row`` with the live values of ``good`` (the last pulse with samples) when it is newer
    than the probe (``probed_at``, epoch seconds), the pulse's failure as its status, and the
    health of what is deployed."""
    if latest is None:
        return row
    if good is not None and (probed_at is None or good.at > probed_at):
        row = _live(row, good.gpus)
    reached_status = row.status if row.reached else "ok"
    status = reached_status if latest.ok else latest.status
    return replace(row, status=status, health=pulse_health(latest, row.deployed != "—"))


def _gpu_names(gpus: Iterable[GpuSample]) -> str:
    names: dict[str, int] = {}
    for gpu in gpus:
        short = gpu.name.replace("NVIDIA ", "").replace("GeForce ", "")
        names[short] = names.get(short, 0) + 1
    return ", ".join(f"{n}x {name}" if n > 1 else name for name, n in names.items()) or "no GPU"


def pulse_row(
    latest: HostPulse, good: HostPulse | None, groups: Iterable[str] = (), deployed: str = "—"
) -> FleetRow:
    """A row for a host the pulse reached (or tried) but that has no stored probe."""
    gpus = "no GPU" if latest.gpu_error == NO_SMI else "—"
    row = FleetRow(
        host=latest.host,
        status=latest.status,
        groups=tuple(groups),
        gpus=_gpu_names(good.gpus) if good else gpus,
        vram_used_gib=None,
        vram_total_gib=None,
        temperature_c=None,
        power_w=None,
        link="—",
        throttling=False,
        blocks=0,
        warns=0,
        deployed=deployed,
        reached=False,
    )
    return with_pulse(row, latest, good, None)
