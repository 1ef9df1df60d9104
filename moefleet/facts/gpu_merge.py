"""Combine what several GPU tools said about the same GPUs (for imported captures)."""

from __future__ import annotations

from typing import Any

from moefleet.facts.model import GpuFacts, GpuProcess, GpuReport

#: Richer sources first: the first report present sets the GPU list.
SOURCE_RANK = {
    "nvml": 0,
    "nvidia-smi-xml": 0,
    "nvidia-smi-q": 1,
    "nvidia-smi-csv": 2,
    "nvidia-smi-table": 3,
    "nvidia-smi-list": 4,
    "rocm-smi": 5,
}


def _fill(mine: Any, theirs: Any) -> Any:
    """Keep every value of ``mine``; take ``theirs`` where mine is unknown (None or empty)."""
    if isinstance(mine, dict) and isinstance(theirs, dict):
        return {key: _fill(value, theirs.get(key)) for key, value in mine.items()}
    if mine is None or mine == []:
        return theirs if theirs is not None else mine
    return mine


def _match(gpu: GpuFacts, others: list[GpuFacts]) -> GpuFacts | None:
    for key in ("bus_id", "uuid"):
        value = getattr(gpu, key)
        found = [o for o in others if value is not None and getattr(o, key) == value]
        if found:
            return found[0]
    same_index = [o for o in others if o.index == gpu.index]
    return same_index[0] if same_index else None


def _merge_gpu(gpu: GpuFacts, other: GpuFacts) -> GpuFacts:
    merged = _fill(gpu.model_dump(), other.model_dump())
    if gpu.name_truncated and not other.name_truncated:
        merged["name"], merged["name_truncated"] = other.name, False
    return GpuFacts.model_validate(merged)


def merge_reports(reports: list[GpuReport]) -> GpuReport:
    """One report: the richest source's GPUs, gaps filled from the others."""
    ordered = sorted(reports, key=lambda report: SOURCE_RANK.get(report.source, 9))
    primary = ordered[0].model_copy(deep=True)
    for other in ordered[1:]:
        primary.gpus = [
            _merge_gpu(gpu, match) if (match := _match(gpu, other.gpus)) else gpu
            for gpu in primary.gpus
        ]
        primary.driver_version = primary.driver_version or other.driver_version
        primary.cuda_version = primary.cuda_version or other.cuda_version
        primary.warnings += [w for w in other.warnings if w not in primary.warnings]
    return primary


def attach_processes(report: GpuReport, processes: list[tuple[str, GpuProcess]]) -> None:
    """Give each GPU the processes whose key (GPU UUID or bus id) names it."""
    for key, process in processes:
        for gpu in report.gpus:
            if key in (gpu.uuid, gpu.bus_id) and process not in gpu.processes:
                gpu.processes.append(process)
