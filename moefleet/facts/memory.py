"""System memory from ``/proc/meminfo`` (see proc(5)): sizes are printed in kB (KiB)."""

from __future__ import annotations

import re

from moefleet.errors import ParseError
from moefleet.facts.model import MemoryFacts

_LINE = re.compile(
    r"^\s*(?P<key>[A-Za-z0-9_()]+)\s*:\s*(?P<value>\d{1,18})(?:\s*(?P<unit>kB))?\s*$"
)
# Kernels before 3.14 lack MemAvailable; this is the usual estimate of reclaimable memory.
_AVAILABLE_ESTIMATE = ("MemFree", "Buffers", "Cached", "SReclaimable")


def parse_meminfo(text: str) -> MemoryFacts:
    """MemoryFacts in bytes; MemAvailable is estimated (and flagged) when the kernel lacks it."""
    values = _meminfo_values(text)
    total = values.get("MemTotal")
    if total is None:
        raise ParseError("not /proc/meminfo: expected a 'MemTotal:  <n> kB' line")
    available = values.get("MemAvailable")
    estimated = False
    if available is None and "MemFree" in values:
        available = sum(values.get(key, 0) for key in _AVAILABLE_ESTIMATE)
        estimated = True
    return MemoryFacts(
        total_bytes=total,
        available_bytes=available,
        available_estimated=estimated,
        swap_total_bytes=values.get("SwapTotal"),
        swap_free_bytes=values.get("SwapFree"),
    )


def _meminfo_values(text: str) -> dict[str, int]:
    """Every 'Key: N kB' line as bytes (the first of a repeated key wins)."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        match = _LINE.match(line)
        if match and match.group("key") not in values:
            factor = 1024 if match.group("unit") else 1
            values[match.group("key")] = int(match.group("value")) * factor
    return values
