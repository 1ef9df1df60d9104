"""/proc/meminfo parsing: kB to bytes, MemAvailable estimated on old kernels."""

from __future__ import annotations

import pytest

from moefleet.errors import ParseError
from moefleet.facts.memory import parse_meminfo
from moefleet.facts.model import MemoryFacts
from tests.facts.system_helpers import assert_parses_or_raises_parse_error, fixture


def test_modern_kernel():
    assert parse_meminfo(fixture("meminfo_64g.txt")) == MemoryFacts(
        total_bytes=65536000 * 1024,
        available_bytes=40960000 * 1024,
        available_estimated=False,
        swap_total_bytes=8388604 * 1024,
        swap_free_bytes=8388000 * 1024,
    )


def test_old_kernel_estimates_available_from_free_buffers_cached():
    memory = parse_meminfo(fixture("meminfo_old_kernel.txt"))
    assert memory.available_bytes == (100000 + 20000 + 300000) * 1024
    assert memory.available_estimated
    assert (memory.swap_total_bytes, memory.swap_free_bytes) == (0, 0)


def test_estimate_includes_sreclaimable_when_present():
    text = "MemTotal: 1000 kB\nMemFree: 100 kB\nCached: 50 kB\nSReclaimable: 7 kB\n"
    memory = parse_meminfo(text)
    assert (memory.available_bytes, memory.available_estimated) == (157 * 1024, True)
    assert memory.swap_total_bytes is None


def test_only_memtotal_leaves_the_rest_unknown():
    assert parse_meminfo("MemTotal: 2048 kB") == MemoryFacts(total_bytes=2048 * 1024)


@pytest.mark.parametrize("text", ["", "MemFree: 10 kB\n", "MemTotal: lots\n", "garbage"])
def test_without_memtotal_raises(text):
    with pytest.raises(ParseError, match="MemTotal"):
        parse_meminfo(text)


@pytest.mark.parametrize("name", ["meminfo_64g.txt", "meminfo_old_kernel.txt"])
def test_fuzz_meminfo(name):
    assert_parses_or_raises_parse_error(parse_meminfo, fixture(name), MemoryFacts)
