"""Every threshold the pre-deployment checklist uses, in one place, each with its reason.

Where a value comes from the seed field notes (``../shared/seeds``, "PRE_DEPLOYMENT_CHECKLIST")
the field says so; the others are moefleet's own operating choices and say why.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Thresholds(BaseModel):
    """Limits that turn facts into findings (override any of them in code or tests)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_pcie_width: int = 16
    """Lanes a GPU should have (seed checklist: "PCIe Gen 4 16x bandwidth (not 8x riser)")."""
    min_pcie_gen: int = 4
    """PCIe generation a GPU should run at (seed checklist: Gen 4 x16)."""
    busy_utilization_percent: float = 10.0
    """Above this GPU utilization the link must be at full speed; below it, GPUs drop to
    Gen1 to save power, so a slow link at idle is normal and not reported."""
    min_flash_attention_cc: float = 8.0
    """Compute capability FlashAttention-2 needs (seed checklist: "Ampere+ GPU")."""
    min_ram_offload_gib: float = 64.0
    """Installed RAM for comfortable CPU expert offload (seed checklist: "RAM >= 64GB if CPU
    offload needed")."""
    memtotal_slack: float = 0.92
    """MemTotal is a few percent below installed RAM (firmware and kernel reservations: a
    64 GB machine shows about 62-63 GiB), so RAM counts as >= N GiB from 0.92 x N."""
    hot_gpu_c: float = 83.0
    """GPU temperature treated as hot: a sustained 80%+ load (seed checklist: "Cooling
    adequate") should stay below where consumer cards start lowering clocks."""
    slowdown_margin_c: float = 5.0
    """Also hot when within this many degrees of the GPU's own slowdown threshold."""
    low_disk_warn_gib: float = 100.0
    """Free space under the models directory below which a warning is raised: one 30B-A3B
    Q4_K_M GGUF is ~18 GiB, a 235B-A22B one ~133 GiB."""
    low_disk_block_gib: float = 20.0
    """Free space below which no model can be fetched at all (deployment is blocked)."""
    retired_pages_warn: int = 30
    """Retired GPU memory pages from which failing memory is suspected."""
    vram_in_use_fraction: float = Field(default=0.10, ge=0, le=1)
    """VRAM already used by other processes (fraction of total) worth reporting: plans then
    use the free amount, not the total."""
    power_limit_fraction: float = Field(default=0.9, ge=0, le=1)
    """A power limit below this fraction of the GPU's default limit is reported (someone
    lowered it): decode and prefill speed drop with it."""


DEFAULT_THRESHOLDS = Thresholds()
