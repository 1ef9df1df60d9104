"""Shared helpers for the system-fact parser tests: fixtures, real outputs, fuzzing strategies."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moefleet.errors import ParseError

FIXTURES = Path(__file__).parent / "fixtures" / "system"
from tests.real_outputs import REAL_OUTPUTS  # noqa: E402

FUZZ_SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

_GARBAGE_LINES = (
    "[N/A]",
    "N/A",
    "[Not Supported]",
    "",
    "   ",
    ":",
    "::::",
    "=" * 40,
    "-" * 40,
    "\t\t:",
    "Key:",
    ": value",
    "(crit = ",
    "(high = +80.0°C, crit =",
    "Speed GT/s, Width x",
    "LnkSta:\tSpeed 99GT/s (ok), Width x999 (ok)",
    "00:00.0 3D controller: ",
    "ff:1f.7 VGA compatible controller [0300]: [zzzz:yyyy]",
    "GPU[99999]\t\t: Temperature (Sensor edge) (C): 1e999",
    "GPU[0] : VRAM Total Memory (B): 99999999999999999999999",
    "Flags: " + "avx2 " * 20,
    "CPU(s): -1",
    "Socket(s): 99999999999999999999999999999999",
    "On-line CPU(s) list: 9-3,a-b,,",
    "MemTotal: 99999999999999999999 kB",
    "processor\t: x",
    "Filesystem 1024-blocks Used Available Capacity Mounted on",
    "/dev/sda1 - - - - /",
    'PRETTY_NAME="unterminated',
    "NAME='single \\' quote",
    "version: 123 (",
    "Docker version , build",
    "fan1: RPM",
    "ünïcödé: ☃ °C ∞ W",
    "\x00\x01\x7f",
    "\u202e\u200b",
    "\U0001d7d9\U0001d7da kB",  # mathematical digits
    "MemTotal: \u0661\u0662\u0663 kB",  # Arabic-Indic digits match \\d
    "CPU(s): \u0664",
    "9" * 400,
    "0     " + "9" * 400 + "c  " + "9" * 400 + "Mhz",
    "GPU[0]\t\t: GPU use (%): " + "9" * 400,
    "temp1: +" + "9" * 400 + ".0 C",
)


def fixture(name: str) -> str:
    """A hand-written fixture from tests/facts/fixtures/system."""
    return (FIXTURES / name).read_text(encoding="utf-8")


def real_output(name: str) -> str:
    """A captured real output; skips the test when the collection is not on this machine."""
    path = REAL_OUTPUTS / name
    if not path.is_file():
        pytest.skip(f"real outputs not available ({path})")
    return path.read_text(encoding="utf-8")


def garbled(sample: str) -> st.SearchStrategy[str]:
    """Random text, empty input, truncations and line-level corruptions of ``sample``."""
    garbage = st.sampled_from(_GARBAGE_LINES) | st.text(max_size=80)
    line = st.sampled_from(sample.splitlines() or [""]) | garbage
    return st.one_of(
        st.just(""),
        st.text(max_size=400),
        st.integers(min_value=0, max_value=len(sample)).map(lambda cut: sample[:cut]),
        st.lists(line, max_size=60).map("\n".join),
        st.tuples(st.integers(0, len(sample)), garbage).map(
            lambda cut: sample[: cut[0]] + cut[1] + sample[cut[0] :]
        ),
    )


def assert_parses_or_raises_parse_error(
    parser: Callable[[str], object], sample: str, expected: type | tuple[type, ...]
) -> None:
    """Hypothesis check: ``parser`` returns ``expected`` or raises ParseError, nothing else."""

    @FUZZ_SETTINGS
    @given(garbled(sample))
    def check(text: str) -> None:
        try:
            result = parser(text)
        except ParseError:
            return
        assert isinstance(result, expected)

    check()
