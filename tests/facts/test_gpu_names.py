"""lookup_gpu: architecture and compute capability from the product names nvidia-smi prints."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moefleet.facts.gpu_names import lookup_gpu


@pytest.mark.parametrize(
    ("name", "architecture", "capability"),
    [
        ("GeForce GTX 680", "Kepler", "3.0"),
        ("GeForce GTX 770", "Kepler", "3.0"),
        ("GeForce GTX 780 Ti", "Kepler", "3.5"),
        ("Tesla K40m", "Kepler", "3.5"),
        ("Tesla K20Xm", "Kepler", "3.5"),
        ("Tesla K40", "Kepler", "3.5"),
        ("Tesla K80", "Kepler", "3.7"),
        ("GeForce GTX 750 Ti", "Maxwell", "5.0"),
        ("GeForce GTX 980 Ti", "Maxwell", "5.2"),
        ("GeForce GTX TITAN X", "Maxwell", "5.2"),
        ("Tesla M60", "Maxwell", "5.2"),
        ("Tesla P100-PCIE-16GB", "Pascal", "6.0"),
        ("Tesla P100-SXM2...", "Pascal", "6.0"),
        ("GeForce GTX 1080 Ti", "Pascal", "6.1"),
        ("NVIDIA TITAN Xp", "Pascal", "6.1"),
        ("Quadro P2000", "Pascal", "6.1"),
        ("Tesla P40", "Pascal", "6.1"),
        ("Tesla P4", "Pascal", "6.1"),
        ("Tesla V100-SXM2-32GB", "Volta", "7.0"),
        ("Tesla V100S-PCIE-32GB", "Volta", "7.0"),
        ("TITAN V", "Volta", "7.0"),
        ("NVIDIA GeForce RTX 2080 SUPER", "Turing", "7.5"),
        ("NVIDIA GeForce GTX 1660 Ti", "Turing", "7.5"),
        ("Tesla T4", "Turing", "7.5"),
        ("Quadro RTX 6000", "Turing", "7.5"),
        ("NVIDIA TITAN RTX", "Turing", "7.5"),
        ("A100-SXM4-40GB", "Ampere", "8.0"),
        ("NVIDIA A100 80GB PCIe", "Ampere", "8.0"),
        ("NVIDIA A100-SXM...", "Ampere", "8.0"),
        ("NVIDIA A30", "Ampere", "8.0"),
        ("NVIDIA GeForce RTX 3090", "Ampere", "8.6"),
        ("NVIDIA A10", "Ampere", "8.6"),
        ("NVIDIA A10G", "Ampere", "8.6"),
        ("NVIDIA A40", "Ampere", "8.6"),
        ("NVIDIA RTX A2000 12GB", "Ampere", "8.6"),
        ("NVIDIA RTX A6000", "Ampere", "8.6"),
        ("NVIDIA GeForce RTX 4090", "Ada Lovelace", "8.9"),
        ("NVIDIA GeForce RTX 4080 ...", "Ada Lovelace", "8.9"),
        ("NVIDIA L4", "Ada Lovelace", "8.9"),
        ("NVIDIA L40", "Ada Lovelace", "8.9"),
        ("NVIDIA L40S", "Ada Lovelace", "8.9"),
        ("NVIDIA RTX 6000 Ada Generation", "Ada Lovelace", "8.9"),
        ("NVIDIA RTX 4000 SFF Ada Generation", "Ada Lovelace", "8.9"),
        ("NVIDIA H100 80GB HBM3", "Hopper", "9.0"),
        ("NVIDIA H100 PCIe", "Hopper", "9.0"),
        ("NVIDIA H200", "Hopper", "9.0"),
        ("NVIDIA GH200 480GB", "Hopper", "9.0"),
        ("NVIDIA H800", "Hopper", "9.0"),
        ("NVIDIA B200", "Blackwell", "10.0"),
        ("NVIDIA GB200", "Blackwell", "10.0"),
        ("NVIDIA B100", "Blackwell", "10.0"),
        ("NVIDIA GeForce RTX 5090", "Blackwell", "12.0"),
        ("NVIDIA RTX PRO 6000 Blackwell Workstation Edition", "Blackwell", "12.0"),
    ],
)
def test_known_names(name: str, architecture: str | None, capability: str | None) -> None:
    assert lookup_gpu(name) == (architecture, capability)


@pytest.mark.parametrize(
    "name", ["Graphics Device", "NVIDIA GeForce ...", "", "NVIDIA Device 2330", "Radeon RX 7900"]
)
def test_unknown_names_are_not_guessed(name: str) -> None:
    assert lookup_gpu(name) == (None, None)


def test_lookup_is_case_insensitive() -> None:
    assert lookup_gpu("nvidia geforce rtx 3060") == ("Ampere", "8.6")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_any_text_gives_a_pair(name: str) -> None:
    architecture, capability = lookup_gpu(name)
    assert (architecture is None) == (capability is None)
