"""The per-expert audit catches one corrupted expert, and passes clean quantizations."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from moefleet.bench.audit import DEFAULT_THRESHOLD, AuditError, audit_gguf
from tests.llama.corrupt import corrupt_expert
from tests.llama.gguf_models import TINY_SPECS, quantize, tiny_gguf


@pytest.fixture(scope="module")
def models(llama_bins, tiny_model, tmp_path_factory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("audit")
    clean = tiny_model(TINY_SPECS["qwen3moe"], "F16")
    bad = corrupt_expert(clean, work / "bad-f16.gguf", layer=2, expert=5)
    mild = corrupt_expert(
        clean, work / "mild-f16.gguf", layer=1, expert=3, projection="ffn_up_exps", noise=0.8
    )
    out = {
        "f16": clean,
        "q8": tiny_model(TINY_SPECS["qwen3moe"], "Q8_0"),
        "q4": tiny_model(TINY_SPECS["qwen3moe"], "Q4_K_M"),
    }
    for key, source in (("bad", bad), ("mild", mild)):
        out[key] = work / f"{key}-q8.gguf"
        quantize(llama_bins.quantize, source, out[key], "Q8_0")
    return out


def test_clean_quantizations_pass(models) -> None:
    for key in ("q8", "q4"):
        scores = audit_gguf(models[key], models["f16"])
        assert not [s for s in scores if s.flagged(DEFAULT_THRESHOLD)], key
        assert scores[0].cosine > DEFAULT_THRESHOLD
    experts = [s for s in audit_gguf(models["q8"], models["f16"]) if s.expert is not None]
    assert len(experts) == 4 * 3 * 8  # layers x projections x experts, each scored


def test_one_scrambled_expert_is_caught_exactly(models) -> None:
    scores = audit_gguf(models["bad"], models["f16"])
    flagged = [s for s in scores if s.flagged(DEFAULT_THRESHOLD)]
    assert [(s.layer, s.part, s.expert) for s in flagged] == [(2, "ffn_down_exps", 5)]
    assert scores[0] is flagged[0] and scores[0].cosine < 0.5  # worst first


def test_noisy_expert_like_seed_002(models) -> None:
    flagged = [s for s in audit_gguf(models["mild"], models["f16"]) if s.flagged(DEFAULT_THRESHOLD)]
    assert [(s.layer, s.part, s.expert) for s in flagged] == [(1, "ffn_up_exps", 3)]
    assert 0.5 < flagged[0].cosine < 0.9


def test_mismatched_files_are_one_message(models, tmp_path: Path) -> None:
    other = Path(models["f16"]).with_name("missing.gguf")
    with pytest.raises(AuditError, match="cannot read GGUF"):
        audit_gguf(other, models["f16"])
    dense = tiny_gguf(TINY_SPECS["llama"], "F16")
    with pytest.raises(AuditError, match="not in"):
        audit_gguf(models["q8"], dense)


def test_audit_command_exit_codes_and_json(models) -> None:
    def audit(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "moefleet", "audit", *args],
                              capture_output=True, text=True, timeout=120, check=False)  # fmt: skip

    clean = audit(str(models["q8"]), str(models["f16"]))
    assert clean.returncode == 0 and "0 below 0.98" in clean.stdout
    bad = audit(str(models["bad"]), str(models["f16"]), "--json")
    assert bad.returncode == 2
    data = json.loads(bad.stdout)
    worst = data["scores"][0]
    assert data["flagged"] == 1 and (worst["layer"], worst["part"], worst["expert"]) == (
        2,
        "ffn_down_exps",
        5,
    )
