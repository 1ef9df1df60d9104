"""Shared fixtures for the nvidia-smi parser tests: hand-written samples, real captures, fuzzing.

The real captures in ``../shared/real-outputs`` (or ``$MOEFLEET_REAL_OUTPUTS``) are read in
place, never copied; tests that need them skip when the directory is absent.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from hypothesis import strategies as st

from tests.real_outputs import REAL_OUTPUTS

NVSMI_FIXTURES = Path(__file__).parent / "fixtures" / "nvsmi"
NVSMI_REAL_OUTPUTS = REAL_OUTPUTS

#: What gets injected into a sample: "no value" markers, odd units, unicode, overflow bait.
_MARKERS = (
    "[N/A]",
    "N/A",
    "[Not Supported]",
    "[Requested functionality has been deprecated]",
    "[Unknown Error]",
    "",
    " ",
    "ERR!",
    "-1",
    "0x",
    "Active",
    "9" * 400,
    "7" * 5000,
    "1e999",
    "ÿ\u200b猫🙂",
    "\x00",
    "|",
    ",",
    " : ",
    "<",
    "&amp;",
)
#: Where a marker replaces text: an XML element's text, a "Key : Value" value, a CSV cell, a token.
_SLOTS = (r"(?<=>)[^<>\n]+(?=<)", r"(?<= : ).+", r"[^,\n]+", r"\S+")


def _truncate(text: str, fraction: float) -> str:
    return text[: int(len(text) * fraction)]


def _replace_slot(text: str, slot: str, nth: int, marker: str) -> str:
    matches = list(re.finditer(slot, text))
    if not matches:
        return text
    found = matches[nth % len(matches)]
    return text[: found.start()] + marker + text[found.end() :]


def _splice(text: str, at: int, insert: str) -> str:
    position = at % (len(text) + 1)
    return text[:position] + insert + text[position:]


def _drop_line(text: str, nth: int) -> str:
    lines = text.splitlines(keepends=True)
    if not lines:
        return text
    del lines[nth % len(lines)]
    return "".join(lines)


def _ragged(text: str, nth: int, cut: int) -> str:
    """Shorten one line (a CSV row loses cells, a table row loses columns)."""
    lines = text.splitlines(keepends=True)
    if not lines:
        return text
    index = nth % len(lines)
    lines[index] = lines[index][: cut % (len(lines[index]) + 1)] + "\n"
    return "".join(lines)


def fuzz_texts(samples: Sequence[str]) -> st.SearchStrategy[str]:
    """Random text, and valid samples truncated, spliced, made ragged or given odd values."""
    sample = st.sampled_from(list(samples))
    index = st.integers(min_value=0, max_value=10**6)
    return st.one_of(
        st.just(""),
        st.text(max_size=400),
        st.builds(_truncate, sample, st.floats(min_value=0, max_value=1)),
        st.builds(_replace_slot, sample, st.sampled_from(_SLOTS), index, st.sampled_from(_MARKERS)),
        st.builds(_splice, sample, index, st.text(max_size=40)),
        st.builds(_drop_line, sample, index),
        st.builds(_ragged, sample, index, index),
    )


@pytest.fixture(scope="session")
def nvsmi_fixture() -> Callable[[str], str]:
    """Reads one of the hand-written samples in tests/facts/fixtures/nvsmi."""

    def read(name: str) -> str:
        return (NVSMI_FIXTURES / name).read_text(encoding="utf-8")

    return read


@pytest.fixture(scope="session")
def nvsmi_real() -> Callable[[str], str]:
    """Reads one real capture; skips the test when the captures are not on this machine."""
    if not NVSMI_REAL_OUTPUTS.is_dir():
        pytest.skip(f"real outputs not available at {NVSMI_REAL_OUTPUTS}")

    def read(name: str) -> str:
        path = NVSMI_REAL_OUTPUTS / name
        if not path.is_file():
            pytest.skip(f"real output {name} not available")
        return path.read_text(encoding="utf-8")

    return read


@pytest.fixture(scope="session")
def nvsmi_fuzz_texts() -> Callable[[Sequence[str]], st.SearchStrategy[str]]:
    """The fuzzing strategy builder (a fixture so that test modules need no shared import)."""
    return fuzz_texts
