"""Telemetry sampling from a host's nvidia-smi (the lab's recorded GPUs, over real SSH)."""

from __future__ import annotations

import time

from moefleet.bench.telemetry import TelemetrySampler, parse_samples
from moefleet.inventory import load_inventory
from moefleet.transport import ConnectOptions, connect

CSV = """0, NVIDIA GeForce RTX 4090, 83, 1395, 349.50, 20100, 0x0000000000000020
1, NVIDIA GeForce RTX 4090, 41, 2520, 120.00, 512, 0x0000000000000000
"""


def test_parse_samples_flags_thermal_slowdown() -> None:
    first, second = parse_samples(CSV, 1.0)
    assert (first.gpu, first.temperature_c, first.sm_clock_mhz) == (0, 83, 1395)
    assert first.slowed and "sw_thermal_slowdown" in first.reasons
    assert not second.slowed and second.power_w == 120.0
    assert parse_samples("garbage", 1.0) == []


def test_sampler_over_ssh_sees_the_throttling_host(make_lab) -> None:
    lab = make_lab(["throttling", "rtx4090"])
    inventory = load_inventory(lab.inventory_path)
    options = ConnectOptions.from_settings(inventory.settings)
    seen = {}
    for name in ("throttling", "rtx4090"):
        host = inventory.hosts[name]
        with TelemetrySampler(lambda host=host: connect(host, options), interval=0.1) as sampler:
            time.sleep(0.5)
        assert sampler.samples and not sampler.errors
        seen[name] = sampler.throttled
    assert seen == {"throttling": True, "rtx4090": False}


def test_unreachable_host_is_an_error_not_an_exception(lab) -> None:
    inventory = load_inventory(lab.inventory_path)
    options = ConnectOptions.from_settings(inventory.settings)
    host = inventory.hosts["unreachable"]
    with TelemetrySampler(lambda: connect(host, options), interval=0.1) as sampler:
        time.sleep(0.2)
    assert sampler.throttled is None and sampler.errors
