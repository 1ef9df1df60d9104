"""Between the deploy's playbook runs: which servers passed their gate, the front doors over
them, one merged report for the recap, and what the state store remembers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from moefleet.deploy.front_door import FrontDoor, front_door_var, healthy_urls
from moefleet.playbook.events import RunReport
from moefleet.playbook.result import HostStats
from moefleet.state import StateStore


@dataclass(frozen=True)
class DoorResult:
    """A front door this deploy rendered, over these replica URLs."""

    door: FrontDoor
    urls: tuple[str, ...]
    key_file: str | None = None


def healthy_hosts(report: RunReport, check: bool) -> set[str]:
    """Hosts whose servers passed the health gate (check mode: those that did not fail)."""
    return {
        host
        for host, stats in report.stats.items()
        if not (stats.failed or stats.unreachable or (stats.rescued and not check))
    }


def door_host_vars(
    doors: list[FrontDoor], healthy: set[str], api_key: str | None, problems: dict[str, str]
) -> tuple[dict[str, dict[str, Any]], list[DoorResult]]:
    """``front_doors`` per host over the healthy replicas; a door without one is a problem
    (its previous configuration, if any, is left as it is)."""
    host_vars: dict[str, dict[str, Any]] = {}
    results: list[DoorResult] = []
    for door in doors:
        urls = healthy_urls(door, healthy)
        if not urls:
            problems[f"front door {door.model}"] = "no replica passed its health gate"
            continue
        entry = front_door_var(door, urls, api_key)
        host_vars.setdefault(door.host, {"front_doors": []})["front_doors"].append(entry)
        results.append(DoorResult(door, tuple(urls), entry.get("api_key_file")))
    return host_vars, results


def merge_reports(reports: list[RunReport]) -> RunReport | None:
    """One report over several runs (the recap sums each host's counters)."""
    if not reports:
        return None
    main = next((r for r in reversed(reports) if r.run_id is not None), reports[-1])
    merged = RunReport(main.run_id, main.check)
    for report in reports:
        merged.records += report.records
        merged.aborted += report.aborted
        merged.not_run.update(report.not_run)
        merged.interrupted += report.interrupted
        merged.warnings += report.warnings
        for host, stats in report.stats.items():
            total = merged.stats.setdefault(host, HostStats())
            for key, count in vars(stats).items():
                setattr(total, key, getattr(total, key) + count)
    return merged


def record_front_doors(results: list[DoorResult], report: RunReport, state: StateStore) -> None:
    """Remember every front door that passed its gate (``report``: the front-door run), next
    to the deployments, so ``bench -i`` measures it too."""
    for result in results:
        door = result.door
        stats = report.stats.get(door.host)
        if stats is None or stats.failed or stats.unreachable or stats.rescued:
            continue
        state.save_deployment(
            door.host,
            door.name,
            {
                "run_id": report.run_id,
                "model": door.model,
                "format": "front door",  # reads "MODEL front door" where deployments are listed
                "engine": "nginx",
                "mode": "front_door",
                "gpus": [],
                "flags": [],
                "url": door.url,
                "api_key_file": result.key_file,
                "replicas": list(result.urls),
                "predicted": {},
            },
        )
