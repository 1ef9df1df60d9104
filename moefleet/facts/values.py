"""Small pure helpers for reading values out of tool output: N/A markers, units, PCI addresses."""

from __future__ import annotations

import math
import re

_NOT_AVAILABLE = {
    "",
    "n/a",
    "[n/a]",
    "na",
    "[not supported]",
    "not supported",
    "[unknown error]",
    "unknown error",
    "[requested functionality has been deprecated]",
    "requested functionality has been deprecated",
    "[insufficient permissions]",
    "insufficient permissions",
    "[gpu is lost]",
    "unknown",
    "none",
    "-",
}

_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")
_BUS_ID = re.compile(
    r"^(?:(?P<domain>[0-9a-fA-F]{1,8}):)?(?P<bus>[0-9a-fA-F]{1,2}):(?P<dev>[0-9a-fA-F]{1,2})\.(?P<fn>[0-7])$"
)


def is_not_available(value: str | None) -> bool:
    """True for the many ways tools say 'no value' ([N/A], [Not Supported], N/A, empty...)."""
    return value is None or value.strip().lower() in _NOT_AVAILABLE


def parse_float(value: str | None) -> float | None:
    """The first number in ``value`` ('69.85 W' -> 69.85, '45 C' -> 45.0), or None."""
    if is_not_available(value):
        return None
    assert value is not None
    match = _NUMBER.search(value.replace(",", ""))
    if not match:
        return None
    number = float(match.group())
    return number if math.isfinite(number) else None


def parse_int(value: str | None) -> int | None:
    """The first number in ``value`` rounded to an int, or None."""
    number = parse_float(value)
    return round(number) if number is not None else None


_MIB_PER_UNIT = {
    "b": 1 / 2**20,
    "kib": 1 / 1024,
    "kb": 1 / 1024,
    "mib": 1.0,
    "mb": 1.0,
    "gib": 1024.0,
    "gb": 1024.0,
    "tib": 2**20,
    "tb": 2**20,
}


def parse_mib(value: str | None) -> int | None:
    """A memory size in MiB: '81559 MiB' -> 81559, '80 GiB' -> 81920, bare numbers are MiB."""
    if is_not_available(value):
        return None
    assert value is not None
    match = re.match(r"\s*([-+]?\d+(?:\.\d+)?)\s*([A-Za-z]*)", value)
    if not match:
        return None
    unit = match.group(2).lower() or "mib"
    factor = _MIB_PER_UNIT.get(unit)
    size = float(match.group(1)) * factor if factor is not None else math.nan
    return round(size) if math.isfinite(size) else None


def parse_bool(
    value: str | None, true: tuple[str, ...] = ("enabled", "yes", "on", "active", "true", "1")
) -> bool | None:
    """'Enabled'/'Disabled', 'Yes'/'No', 'Active'/'Not Active' and friends -> bool or None."""
    if is_not_available(value):
        return None
    assert value is not None
    return value.strip().lower() in true


def normalize_bus_id(value: str | None) -> str | None:
    """PCI address in one form: '00000000:01:00.0' and '01:00.0' -> '0000:01:00.0'."""
    if is_not_available(value):
        return None
    assert value is not None
    match = _BUS_ID.match(value.strip())
    if not match:
        return None
    domain = int(match.group("domain") or "0", 16)
    return (
        f"{domain:04x}:{int(match.group('bus'), 16):02x}:"
        f"{int(match.group('dev'), 16):02x}.{match.group('fn')}"
    )


_VERSION = re.compile(r"\d+(?:\.\d+)+")


def parse_version(value: str | None) -> str | None:
    """The first dotted version in ``value``: '610.57.04 [Deprecated; ...]' -> '610.57.04'."""
    if is_not_available(value):
        return None
    assert value is not None
    match = _VERSION.search(value)
    return match.group() if match else None


def sum_known(values: list[int | None]) -> int | None:
    """The sum of the known values, or None when none is known."""
    known = [value for value in values if value is not None]
    return sum(known) if known else None


def absolute_from_tlimit(
    temperature: float | None, margin: float | None, threshold: float | None
) -> float | None:
    """An absolute threshold (deg C) from T.Limit readings of newer drivers.

    Ada/Hopper-era drivers report ``GPU T.Limit Temp`` (headroom to T.Limit now) and the
    slowdown/shutdown thresholds as T.Limit offsets (e.g. -2 C, -7 C) instead of absolute
    temperatures. The threshold is crossed when the headroom falls to the offset, i.e. at
    ``temperature + margin - offset`` (an RTX 4090 at 40 C with 43 C headroom and a -7 C
    shutdown offset gives 90 C, its specified maximum).
    """
    if temperature is None or margin is None or threshold is None:
        return None
    return temperature + margin - threshold
