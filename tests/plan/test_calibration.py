"""Calibration: corrections per group from predicted vs measured runs, applied by the planner."""

from __future__ import annotations

import pytest

from moefleet.plan.calibration import (
    Calibration,
    CalibrationKey,
    Correction,
    Observation,
    evaluate,
    fit,
)
from moefleet.plan.demand import Demand
from moefleet.plan.node_plan import plan_node
from tests.plan.helpers import catalog, node, plan

KEY = CalibrationKey("llama.cpp", "GeForce RTX 4090", moe=True, offload=False)
OTHER = CalibrationKey("llama.cpp", "cpu", moe=False, offload=False)


def test_fit_is_the_geometric_mean_ratio_per_group() -> None:
    obs = [
        Observation(KEY, 100.0, 50.0, 1000.0, 2000.0),
        Observation(KEY, 200.0, 200.0),
        Observation(OTHER, 10.0, 12.0),
    ]
    calibration = fit(obs)
    assert calibration.corrections[KEY].decode == pytest.approx((0.5 * 1.0) ** 0.5)
    assert calibration.corrections[KEY].prefill == pytest.approx(2.0)
    assert calibration.corrections[KEY].runs == 2
    assert calibration.corrections[OTHER].decode == pytest.approx(1.2)


def test_calibration_reduces_error_leave_one_out() -> None:
    # The model overestimates this group by ~2x, with run-to-run noise.
    obs = [Observation(KEY, 100.0, m) for m in (48.0, 52.0, 50.0, 47.0, 53.0)]
    error = evaluate(obs)
    assert error.before == pytest.approx(1.0, abs=0.05)
    assert error.after < 0.06 and error.method == "leave-one-out"


def test_planner_applies_the_correction_with_a_reason() -> None:
    base = plan("RTX 4090, 64GB", models=("qwen3-8b",), engines=("llama.cpp",)).chosen
    assert base is not None
    target = node("RTX 4090, 64GB")
    key = CalibrationKey("llama.cpp", target.gpus[0].name, moe=False, offload=False)
    cat = catalog()
    demand = Demand(models=("qwen3-8b",), engines=("llama.cpp",))
    calibration = Calibration({key: Correction(0.5, 2.0, 3)})
    corrected = plan_node(
        target, list(cat.models.values()), cat.vllm_formats, demand, calibration=calibration
    ).chosen
    assert corrected is not None
    assert corrected.speed.decode_tps == pytest.approx(base.speed.decode_tps * 0.5)
    assert corrected.speed.prefill_tps == pytest.approx(base.speed.prefill_tps * 2.0)
    assert any("calibrated from 3 benchmark" in r for r in corrected.reasons)
