"""The quality gate on real llama-servers: identical deployments measure the noise floor,
Q8_0 passes, one scrambled expert fails (both directions checked)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from moefleet.bench.quality import GateLimits, run_gate, truncated_kl
from tests.llama.corrupt import corrupt_expert, scale_tensor
from tests.llama.gguf_models import TINY_SPECS, quantize
from tests.llama.server import ServerOptions, llama_server

#: Limits for the tiny random-weight model, set from its measured spread: the noise floor is
#: exactly (1.0, 0.0), Q8_0 stays at 1.0 / ~0.01, one scrambled expert drops to ~0.89 / ~0.05.
TINY_LIMITS = GateLimits(warn_top1=0.98, fail_top1=0.95, warn_kl=0.02, fail_kl=0.03)
_RNG = random.Random(0)
PROMPTS = [[_RNG.randint(10, 200) for _ in range(12)] for _ in range(6)]
OPTIONS = ServerOptions(n_ctx=2048, n_parallel=1)


@pytest.fixture(scope="module")
def files(llama_bins, tiny_model, tmp_path_factory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("gate")
    # Random weights give flat next-token distributions; a sharper output layer makes the
    # model confident, like a trained one, so that damage shows.
    sharp = scale_tensor(
        tiny_model(TINY_SPECS["qwen3moe"], "F16"), work / "ref.gguf", "output.weight", 20.0
    )
    q8 = work / "q8.gguf"
    quantize(llama_bins.quantize, sharp, q8, "Q8_0")
    bad = corrupt_expert(sharp, work / "bad.gguf", layer=0, expert=5)
    return {"ref": sharp, "q8": q8, "bad": bad}


@pytest.fixture(scope="module")
def reference(llama_bins, files):
    with llama_server(llama_bins.server, files["ref"], OPTIONS) as server:
        yield server


def _gate(llama_bins, reference, path: Path, check_json: bool = False):
    with llama_server(llama_bins.server, path, OPTIONS) as candidate:
        return run_gate(reference.base_url, candidate.base_url, PROMPTS, n_predict=16,
                        limits=TINY_LIMITS, check_json=check_json)  # fmt: skip


def test_identical_deployments_are_the_noise_floor(llama_bins, reference, files) -> None:
    result = _gate(llama_bins, reference, files["ref"], check_json=True)
    assert result.steps >= 60
    assert (result.top1_agreement, result.mean_kl) == (1.0, 0.0)
    assert result.verdict == "pass" and result.json_valid is not None


def test_q8_0_passes(llama_bins, reference, files) -> None:
    result = _gate(llama_bins, reference, files["q8"])
    assert result.passed and result.top1_agreement >= 0.98 and result.mean_kl < 0.02


def test_one_scrambled_expert_fails(llama_bins, reference, files) -> None:
    result = _gate(llama_bins, reference, files["bad"])
    assert result.verdict == "fail" and not result.passed
    assert result.top1_agreement < 0.95 and "top-1 agreement" in result.reasons[0]


def test_truncated_kl_never_inflated_by_truncation() -> None:
    reference = {1: -0.1, 2: -2.5}
    assert truncated_kl(reference, dict(reference)) == pytest.approx(0.0, abs=1e-12)
    missing = truncated_kl(reference, {1: -0.1, 3: -2.0})  # token 2 missing: gets q(3)
    assert missing >= 0.0
    assert truncated_kl(reference, {1: -3.0, 2: -0.05}) > missing
