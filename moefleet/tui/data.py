"""What the TUI shows, as plain rows built from the state store (pure: no I/O here).

Rows are computed from stored probes (and, as later stages land, deployments and benchmarks)
so that the screens only format them; sorting and filtering are pure functions too, tested
without a terminal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from moefleet.facts.model import SLOWDOWN_REASONS, GpuFacts
from moefleet.probe import HostProbe

MIB = 1024**2


@dataclass(frozen=True)
class FleetRow:
    """One host in the fleet table."""

    host: str
    status: str
    groups: tuple[str, ...]
    gpus: str
    vram_used_gib: float | None
    vram_total_gib: float | None
    temperature_c: float | None
    power_w: float | None
    link: str
    throttling: bool
    blocks: int
    warns: int
    deployed: str = "—"
    health: str = "—"
    tokens_per_s: float | None = None
    gpu_temps: tuple[float, ...] = field(default=())
    reached: bool = True

    @property
    def vram_fraction(self) -> float:
        if not self.vram_total_gib or self.vram_used_gib is None:
            return 0.0
        return min(1.0, self.vram_used_gib / self.vram_total_gib)

    def text(self) -> str:
        """Everything a filter matches against."""
        return " ".join(
            (self.host, self.status, self.gpus, self.link, self.deployed, self.health, *self.groups)
        ).lower()


def _gpu_summary(gpus: Sequence[GpuFacts]) -> str:
    if not gpus:
        return "no GPU"
    names: dict[str, int] = {}
    for gpu in gpus:
        short = gpu.name.replace("NVIDIA ", "").replace("GeForce ", "")
        names[short] = names.get(short, 0) + 1
    return ", ".join(f"{n}x {name}" if n > 1 else name for name, n in names.items())


def _link(gpus: Sequence[GpuFacts]) -> str:
    worst = None
    for gpu in gpus:
        link = gpu.pcie
        if link.width_current is None:
            continue
        text = f"Gen{link.gen_current or '?'} x{link.width_current}"
        if link.width_max and link.width_current < link.width_max:
            text += f"/x{link.width_max}"
        if worst is None or (link.width_current or 0) < worst[0]:
            worst = (link.width_current or 0, text)
    return worst[1] if worst else "—"


def fleet_row(probe: HostProbe, groups: Iterable[str] = ()) -> FleetRow:
    """A row from the newest probe of one host."""
    facts = probe.facts
    if facts is not None and facts.gpu_status not in ("ok", "none"):
        gpu_text = f"GPU facts: {facts.gpu_status}"
    else:
        gpu_text = _gpu_summary(facts.gpus) if facts else "—"
    gpus = facts.gpus if facts else []
    used = [g.memory_used_mib for g in gpus if g.memory_used_mib is not None]
    total = [g.memory_total_mib for g in gpus if g.memory_total_mib is not None]
    temps = tuple(float(g.temperature_c) for g in gpus if g.temperature_c is not None)
    power = [g.power_draw_w for g in gpus if g.power_draw_w is not None]
    return FleetRow(
        host=probe.host,
        status=probe.status,
        groups=tuple(groups),
        gpus=gpu_text,
        vram_used_gib=sum(used) / 1024 if used else None,
        vram_total_gib=sum(total) / 1024 if total else None,
        temperature_c=max(temps) if temps else None,
        power_w=sum(power) if power else None,
        link=_link(gpus),
        throttling=any(SLOWDOWN_REASONS & set(g.throttle_reasons) for g in gpus),
        blocks=sum(1 for f in probe.findings if f.level == "block"),
        warns=sum(1 for f in probe.findings if f.level == "warn"),
        reached=facts is not None,
        gpu_temps=temps,
    )


def with_service(row: FleetRow, deployed: str, tokens_per_s: float | None) -> FleetRow:
    """``row`` with what is deployed on the host and its last measured decode tokens/s."""
    return replace(row, deployed=deployed, tokens_per_s=tokens_per_s)


def fleet_rows(
    probes: Mapping[str, HostProbe], groups: Mapping[str, Sequence[str]] | None = None
) -> list[FleetRow]:
    """Rows for every host with a stored probe, in name order."""
    return [fleet_row(probes[h], (groups or {}).get(h, ())) for h in sorted(probes)]


SORT_KEYS = ("host", "status", "gpus", "vram", "temperature", "power", "findings", "tokens")


def sort_rows(rows: Sequence[FleetRow], key: str, reverse: bool = False) -> list[FleetRow]:
    """Rows sorted by a column; missing values last whichever the direction."""

    def value(row: FleetRow) -> tuple[bool, object]:
        chosen: object = {
            "host": row.host,
            "status": row.status,
            "gpus": row.gpus,
            "vram": row.vram_fraction,
            "temperature": row.temperature_c,
            "power": row.power_w,
            "findings": (row.blocks, row.warns),
            "tokens": row.tokens_per_s,
        }[key]
        return (chosen is None, chosen if chosen is not None else 0)

    present = [r for r in rows if value(r)[0] is False]
    missing = [r for r in rows if value(r)[0] is True]
    return sorted(present, key=lambda r: value(r)[1], reverse=reverse) + missing  # type: ignore[arg-type,return-value]


def filter_rows(rows: Sequence[FleetRow], query: str) -> list[FleetRow]:
    """Rows whose text contains every word of ``query`` (case-insensitive)."""
    words = query.lower().split()
    return [r for r in rows if all(w in r.text() for w in words)]


def group_rows(rows: Sequence[FleetRow]) -> dict[str, list[FleetRow]]:
    """Rows by inventory group (a host in several groups appears in each; "ungrouped")."""
    grouped: dict[str, list[FleetRow]] = {}
    for row in rows:
        for group in row.groups or ("ungrouped",):
            grouped.setdefault(group, []).append(row)
    return dict(sorted(grouped.items()))
