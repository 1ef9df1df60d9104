"""Calibration: the planner's speed predictions corrected by the fleet's own benchmarks.

Every benchmark stores what the planner predicted next to what was measured. Grouped by
(engine, device class, dense/MoE, offload or not), the correction is the geometric mean of
measured / predicted — for decode and for prefill separately. Because the speed model is a sum
of terms that all scale with its efficiencies, scaling every efficiency by a factor scales the
predicted tokens/s by that factor, so applying the correction to the prediction is the same as
calibrating the efficiencies. Groups with no measurement keep the defaults.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from moefleet.plan.options import FULL_GPU_MODES, Option
from moefleet.plan.speed import Speed


@dataclass(frozen=True, order=True)
class CalibrationKey:
    """What a correction applies to."""

    engine: str
    device: str
    """the GPU product name (catalog), or "cpu" for CPU-only deployments"""
    moe: bool
    offload: bool

    def label(self) -> str:
        kind = "MoE" if self.moe else "dense"
        where = "offload" if self.offload else "in VRAM" if self.device != "cpu" else "CPU"
        return f"{self.engine} on {self.device}, {kind}, {where}"


@dataclass(frozen=True)
class Observation:
    """One benchmark's prediction and measurement (tokens/s at batch 1)."""

    key: CalibrationKey
    predicted_decode: float
    measured_decode: float
    predicted_prefill: float | None = None
    measured_prefill: float | None = None


@dataclass(frozen=True)
class Correction:
    """Multipliers for one group and how many runs they rest on."""

    decode: float
    prefill: float
    runs: int


@dataclass(frozen=True)
class Calibration:
    """Corrections by group (empty: the documented defaults)."""

    corrections: Mapping[CalibrationKey, Correction] = field(default_factory=dict)

    def apply(self, option: Option, key: CalibrationKey) -> Option:
        """``option`` with its speed corrected (and a reason saying so), if calibrated."""
        correction = self.corrections.get(key)
        if correction is None:
            return option
        speed = option.speed
        corrected = Speed(
            decode_tps=speed.decode_tps * correction.decode,
            prefill_tps=speed.prefill_tps * correction.prefill,
            batch=speed.batch,
            batch_decode_tps=speed.batch_decode_tps * correction.decode,
            notes=speed.notes,
        )
        reason = (
            f"speed calibrated from {correction.runs} benchmark run(s): decode x"
            f"{correction.decode:.2f}, prefill x{correction.prefill:.2f}"
        )
        return replace(option, speed=corrected, reasons=(*option.reasons, reason))


def key_for(option: Option, device: str) -> CalibrationKey:
    """The group an option belongs to (``device``: its GPU product, or "cpu")."""
    return CalibrationKey(
        engine=option.engine,
        device=device if option.gpus else "cpu",
        moe=option.model.is_moe,
        offload=option.mode not in FULL_GPU_MODES and bool(option.gpus),
    )


def _geometric_mean(ratios: Sequence[float]) -> float:
    return math.exp(sum(math.log(r) for r in ratios) / len(ratios))


def fit(observations: Iterable[Observation]) -> Calibration:
    """Corrections per group from every usable observation."""
    groups: dict[CalibrationKey, list[Observation]] = defaultdict(list)
    for obs in observations:
        if obs.predicted_decode > 0 and obs.measured_decode > 0:
            groups[obs.key].append(obs)
    corrections = {}
    for key, members in groups.items():
        decode = _geometric_mean([o.measured_decode / o.predicted_decode for o in members])
        prefill_ratios = [
            o.measured_prefill / o.predicted_prefill
            for o in members
            if o.measured_prefill and o.predicted_prefill
        ]
        prefill = _geometric_mean(prefill_ratios) if prefill_ratios else 1.0
        corrections[key] = Correction(decode, prefill, len(members))
    return Calibration(corrections)


@dataclass(frozen=True)
class CalibrationError:
    """Mean absolute relative decode error before and after calibration."""

    before: float
    after: float
    runs: int
    method: str


def evaluate(observations: Sequence[Observation]) -> CalibrationError:
    """Error before and after, leave-one-out where a group has several runs (a run never
    corrects itself), in-sample for single-run groups (said in ``method``)."""
    usable = [o for o in observations if o.predicted_decode > 0 and o.measured_decode > 0]
    if not usable:
        return CalibrationError(0.0, 0.0, 0, "no runs")
    before, after, in_sample = [], [], 0
    for i, obs in enumerate(usable):
        others = [o for j, o in enumerate(usable) if j != i and o.key == obs.key]
        if not others:
            others, in_sample = [obs], in_sample + 1
        factor = fit(others).corrections[obs.key].decode
        before.append(abs(obs.predicted_decode - obs.measured_decode) / obs.measured_decode)
        after.append(abs(obs.predicted_decode * factor - obs.measured_decode) / obs.measured_decode)
    method = "leave-one-out" if not in_sample else f"leave-one-out ({in_sample} in-sample)"
    return CalibrationError(sum(before) / len(before), sum(after) / len(after), len(usable), method)
