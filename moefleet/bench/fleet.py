"""Benchmark what ``moefleet deploy`` put on the fleet, store the results, calibrate.

Each stored deployment is driven with the same sweep as ``moefleet bench --url``; while it
runs, the host's GPU telemetry is sampled over SSH. The record kept per deployment holds the
planner's prediction next to the measurement — decode tokens/s at the lightest level
(1 / median TPOT) and prefill tokens/s (input tokens / median TTFT) — which is what
``moefleet calibrate`` fits and ``moefleet report`` shows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any

from moefleet.bench.client import LoadSpec
from moefleet.bench.metrics import percentile
from moefleet.bench.sweep import BenchRun, LevelResult, run_sweep
from moefleet.bench.telemetry import TelemetrySampler
from moefleet.bench.workload import Workload
from moefleet.catalog.load import Catalog
from moefleet.facts.model import HostFacts
from moefleet.inventory import Host
from moefleet.plan.calibration import (
    Calibration,
    CalibrationKey,
    Correction,
    Observation,
    evaluate,
    fit,
)
from moefleet.plan.options import FULL_GPU_MODES
from moefleet.transport import ConnectOptions, connect


def measured_speed(run: BenchRun) -> tuple[float | None, float | None]:
    """(decode tok/s of one sequence, prefill tok/s) from the lightest level: the server's own
    per-request timings when it reports them (llama-server), else 1 / median TPOT and input
    tokens / median TTFT as seen by the client (streaming can batch chunks, so client-side
    TPOT overstates the speed of very fast servers)."""
    if not run.levels:
        return None, None
    level = run.levels[0]
    measured = [r for r in level.records if r.ok and not r.warmup]
    decode_server = [r.server_decode_tps for r in measured if r.server_decode_tps]
    prefill_server = [r.server_prefill_tps for r in measured if r.server_prefill_tps]
    metrics = level.metrics
    decode = (
        percentile(decode_server, 50)
        if decode_server
        else (1.0 / metrics.tpot.p50 if metrics.tpot.p50 else None)
    )
    prefill = (
        percentile(prefill_server, 50)
        if prefill_server
        else (run.workload.input_tokens / metrics.ttft.p50 if metrics.ttft.p50 else None)
    )
    return decode, prefill


def bench_deployment(
    deployment: Mapping[str, Any],
    host: Host | None,
    workload: Workload,
    levels: list[LoadSpec],
    api_key: str | None,
    slo: dict[str, float] | None,
    connect_options: ConnectOptions | None,
    on_level: Callable[[LevelResult], None] | None = None,
) -> tuple[BenchRun, dict[str, Any]]:
    """Run the sweep against one deployment (sampling telemetry) and build its record."""
    sampler = None
    if host is not None and connect_options is not None and deployment.get("gpus"):
        sampler = TelemetrySampler(lambda: connect(host, connect_options), interval=1.0)
    if sampler is not None:
        with sampler:
            run = run_sweep(deployment["url"], workload, levels, api_key, slo, on_level)
    else:
        run = run_sweep(deployment["url"], workload, levels, api_key, slo, on_level)
    throttled = sampler.throttled if sampler is not None else None
    decode, prefill = measured_speed(run)
    record = {
        key: deployment.get(key)
        for key in ("model", "format", "engine", "mode", "gpus", "flags", "predicted", "url")
    }
    record.update(
        summary=run.summary(),
        throttled=throttled,
        telemetry=[asdict(s) for s in (sampler.samples if sampler else [])][-120:],
        measured={"decode_tps": decode, "prefill_tps": prefill},
    )
    return run, record


def observation(
    record: Mapping[str, Any], facts: HostFacts | None, catalog: Catalog
) -> Observation | None:
    """The calibration input of one stored benchmark (None when it lacks a prediction)."""
    predicted = record.get("predicted") or {}
    measured = record.get("measured") or {}
    if not predicted.get("decode_tps") or not measured.get("decode_tps"):
        return None
    gpus = record.get("gpus") or []
    device = "cpu"
    if gpus and facts is not None and facts.gpus:
        device = facts.gpus[min(gpus[0], len(facts.gpus) - 1)].name
    model = catalog.models.get(record.get("model") or "")
    key = CalibrationKey(
        engine=record.get("engine") or "llama.cpp",
        device=device,
        moe=bool(model and model.is_moe),
        offload=record.get("mode") not in FULL_GPU_MODES and bool(gpus),
    )
    return Observation(
        key,
        float(predicted["decode_tps"]),
        float(measured["decode_tps"]),
        predicted.get("prefill_tps"),
        measured.get("prefill_tps"),
    )


def calibration_record(calibration: Calibration) -> dict[str, Any]:
    return {
        "corrections": [
            {**asdict(key), "decode": c.decode, "prefill": c.prefill, "runs": c.runs}
            for key, c in sorted(calibration.corrections.items())
        ]
    }


def calibration_from_record(record: Mapping[str, Any] | None) -> Calibration | None:
    if not record:
        return None
    corrections = {}
    for entry in record.get("corrections", []):
        key = CalibrationKey(entry["engine"], entry["device"], entry["moe"], entry["offload"])
        corrections[key] = Correction(entry["decode"], entry["prefill"], entry["runs"])
    return Calibration(corrections)


__all__ = ["bench_deployment", "calibration_from_record", "calibration_record", "evaluate",
           "fit", "observation"]  # fmt: skip
