"""Where the TUI's data comes from: the state store (read-only) and the inventory."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moefleet.inventory import Inventory
from moefleet.probe import HostProbe
from moefleet.pulse import ServiceCheck
from moefleet.state import StateStore
from moefleet.tui.data import FleetRow, fleet_row, with_service

SPARK = "▁▂▃▄▅▆▇█"
HISTORY = 20


def sparkline(values: list[float]) -> str:
    """A one-line sparkline of ``values`` (oldest first)."""
    if not values:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    return "".join(SPARK[int((v - low) / span * (len(SPARK) - 1))] for v in values)


@dataclass(frozen=True)
class Snapshot:
    """One refresh: rows, the probes they came from, temperature history per host, and what
    is deployed per host (also on hosts without a stored probe)."""

    rows: tuple[FleetRow, ...]
    probes: dict[str, HostProbe]
    history: dict[str, str]
    services: dict[str, tuple[str, float | None]] = field(default_factory=dict)


class StateSource:
    """Reads the newest facts of the inventory's hosts (or of every host) from the state.

    Refreshes are incremental: only hosts with a newer probe are decoded and their rows
    rebuilt, and the temperature history is read inside SQLite, so a 500-host fleet costs
    little more per refresh than the hosts that changed."""

    def __init__(self, state_path: Path, inventory: Inventory | None = None) -> None:
        self.state_path = state_path
        self.inventory = inventory
        self._known: dict[str, tuple[int, HostProbe, FleetRow]] = {}
        self._history: dict[str, list[float]] | None = None

    def groups(self) -> dict[str, list[str]]:
        """Each inventory host's groups (none without an inventory)."""
        if self.inventory is None:
            return {}
        return {name: list(host.groups) for name, host in self.inventory.hosts.items()}

    def load(self) -> Snapshot:
        hosts = list(self.inventory.hosts) if self.inventory else None
        groups = self.groups()
        with StateStore(self.state_path) as state:
            ids = state.latest_probe_ids(hosts)
            stale = [i for h, i in ids.items() if h not in self._known or self._known[h][0] != i]
            records = state.probe_records(stale) if stale else {}
            first = self._history is None
            if first:
                self._history = state.temperature_history(HISTORY)
            services = _services(state.deployments(), state.latest_benchmarks())
        history = self._history or {}
        for host, record in records.items():
            probe = HostProbe.model_validate_json(record)
            self._known[host] = (ids[host], probe, fleet_row(probe, groups.get(host, ())))
            if not first and probe.facts and probe.facts.gpus:
                temps = [g.temperature_c for g in probe.facts.gpus if g.temperature_c is not None]
                if temps:
                    history[host] = [*history.get(host, []), max(temps)][-HISTORY:]
        for host in set(self._known) - set(ids):
            del self._known[host]
        rows = tuple(
            with_service(self._known[h][2], *services[h]) if h in services else self._known[h][2]
            for h in sorted(self._known)
        )
        probes = {h: entry[1] for h, entry in self._known.items()}
        spark = {h: sparkline(v) for h, v in history.items()}
        return Snapshot(rows, probes, spark, services)

    def service_checks(self) -> dict[str, tuple[ServiceCheck, ...]]:
        """Per host, the deployed servers whose ``/health`` the pulse asks."""
        with StateStore(self.state_path) as state:
            deployed = state.deployments()
        checks: dict[str, list[ServiceCheck]] = {}
        for d in deployed:
            if d.get("url"):
                checks.setdefault(d["host"], []).append(ServiceCheck(d["service"], str(d["url"])))
        return {host: tuple(found) for host, found in checks.items()}

    def plan(self) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        """The planner's proposal for the hosts with stored facts."""
        hosts = list(self.inventory.hosts) if self.inventory else None
        with StateStore(self.state_path) as state:
            probes = state.latest_probes(hosts)
            deployed = state.deployments()
        data, explained = plan_snapshot(probes, sorted(probes))
        current: dict[str, list[str]] = {}
        for d in deployed:
            current.setdefault(d["host"], []).append(f"{d.get('model')} {d.get('format')}")
        for entry in data["deployment"]:
            now = current.get(entry["hosts"][0], [])
            planned = f"{entry['model']} {entry['format']}"
            entry["change"] = "same" if planned in now else (f"from {now[0]}" if now else "new")
        return data, explained


def _services(
    deployments: list[dict[str, Any]], benchmarks: list[dict[str, Any]]
) -> dict[str, tuple[str, float | None]]:
    """Per host: "model format" of what is deployed, and the last measured decode tok/s."""
    measured = {
        (b["host"], b["service"]): (b.get("measured") or {}).get("decode_tps") for b in benchmarks
    }
    out: dict[str, tuple[str, float | None]] = {}
    for d in deployments:
        label = f"{d.get('model')} {d.get('format')}"
        previous = out.get(d["host"])
        tps = measured.get((d["host"], d["service"]))
        out[d["host"]] = (f"{previous[0]}, {label}" if previous else label, tps)
    return out


def plan_snapshot(
    probes: dict[str, HostProbe], hosts: list[str]
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The default plan (balanced) of ``hosts`` and each host's explanation, as data."""
    from moefleet import planning  # noqa: PLC0415 - the planner loads only when asked
    from moefleet.catalog.load import load_catalog  # noqa: PLC0415
    from moefleet.plan.demand import Demand  # noqa: PLC0415
    from moefleet.plan.report import explain_data, plan_data  # noqa: PLC0415

    catalog = load_catalog()
    demand = Demand()
    plan_input = planning.nodes_from_probes(hosts, probes, catalog)
    result = planning.make_plan(plan_input, catalog, demand)
    explained = {name: explain_data(r, demand) for name, r in result.results.items()}
    return plan_data(result), explained
