"""lscpu and /proc/cpuinfo parsing: topology, model and the SIMD features llama.cpp uses."""

from __future__ import annotations

import pytest

from moefleet.errors import ParseError
from moefleet.facts.cpu import parse_cpuinfo, parse_lscpu
from moefleet.facts.model import CpuFacts
from tests.facts.system_helpers import assert_parses_or_raises_parse_error, fixture


def test_sapphire_rapids_hierarchical_with_amx():
    cpu = parse_lscpu(fixture("lscpu_sapphire_rapids.txt"))
    assert cpu.model == "Intel(R) Xeon(R) Platinum 8480+"
    assert (cpu.vendor, cpu.architecture) == ("GenuineIntel", "x86_64")
    assert (cpu.sockets, cpu.cores, cpu.threads, cpu.numa_nodes) == (2, 112, 224, 2)
    assert cpu.max_mhz == 3800.0
    assert (cpu.avx2, cpu.avx512, cpu.amx) == (True, True, True)
    assert cpu.features == [
        "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
        "avx512_bf16", "avx512_fp16", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8",
    ]  # fmt: skip


def test_arm_neoverse_has_sve_and_asimd_but_no_x86_features():
    cpu = parse_lscpu(fixture("lscpu_arm_neoverse_v2.txt"))
    assert (cpu.model, cpu.vendor, cpu.architecture) == ("Neoverse-V2", "ARM", "aarch64")
    assert (cpu.sockets, cpu.cores, cpu.threads, cpu.numa_nodes) == (1, 72, 72, 1)
    assert (cpu.avx2, cpu.avx512, cpu.amx) == (False, False, False)
    assert cpu.features == ["sve", "asimd"]


def test_arm_big_little_clusters_and_wrapped_flags():
    cpu = parse_lscpu(fixture("lscpu_arm_cluster_wrapped.txt"))
    assert cpu.model == "Cortex-A55, Cortex-A76"
    assert cpu.sockets is None  # lscpu prints 'Socket(s): -'
    assert cpu.cores == 8  # 4 per cluster x 1 cluster, in each of the two blocks
    assert cpu.threads == 6  # the on-line list, not CPU(s)
    assert cpu.max_mhz == 2400.0
    assert cpu.features == ["asimd"]  # 'asi' + 'mdhp' rejoined into asimdhp, not 'asi'


def test_flat_layout_without_flags_leaves_simd_unknown():
    cpu = parse_lscpu(fixture("lscpu_flat_no_flags.txt"))
    assert cpu.model == "AMD Opteron(tm) Processor 6320"
    assert (cpu.sockets, cpu.cores, cpu.threads, cpu.numa_nodes) == (2, 8, 16, 2)
    assert (cpu.avx2, cpu.avx512, cpu.amx) == (None, None, None)
    assert cpu.features == []
    assert cpu.max_mhz is None


def test_numa_nodes_counted_from_node_lines_when_the_total_is_missing():
    cpu = parse_lscpu("CPU(s): 4\nNUMA node0 CPU(s): 0,1\nNUMA node1 CPU(s): 2,3\n")
    assert (cpu.threads, cpu.numa_nodes) == (4, 2)


def test_wrapped_flags_continue_at_the_value_column():
    text = (
        "CPU(s):        2\n"
        "Flags:         sse avx av\n"
        "               x2 avx512f\n"
        "                fma\n"
    )
    cpu = parse_lscpu(text)
    assert cpu.features == ["avx", "avx2", "fma", "avx512f"]


def test_wrapped_chunk_that_lost_its_trailing_space_gets_it_back():
    text = "Flags:    avx fma a\n          vx2 f16c\n          avx512f\n"
    assert parse_lscpu(text).features == ["avx", "avx2", "fma", "f16c", "avx512f"]


@pytest.mark.parametrize("text", ["", "\n\n", "hello world", "Flag soup without colons"])
def test_lscpu_unrecognisable_input_raises(text):
    with pytest.raises(ParseError, match="lscpu"):
        parse_lscpu(text)


def test_cpuinfo_x86_two_sockets():
    cpu = parse_cpuinfo(fixture("cpuinfo_x86_2s.txt"))
    assert cpu.model == "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz"
    assert (cpu.vendor, cpu.architecture) == ("GenuineIntel", "x86_64")
    assert (cpu.sockets, cpu.cores, cpu.threads) == (2, 4, 8)
    assert (cpu.avx2, cpu.avx512, cpu.amx) == (True, True, False)
    assert "avx512_vnni" in cpu.features


def test_cpuinfo_arm_features_and_part_names():
    cpu = parse_cpuinfo(fixture("cpuinfo_arm_n1.txt"))
    assert cpu == CpuFacts(
        model="Neoverse-N1",
        vendor="ARM",
        architecture="aarch64",
        threads=4,
        avx2=False,
        avx512=False,
        amx=False,
        features=["asimd"],
    )


@pytest.mark.parametrize("text", ["", "model name : x\n", "garbage"])
def test_cpuinfo_unrecognisable_input_raises(text):
    with pytest.raises(ParseError, match="cpuinfo"):
        parse_cpuinfo(text)


@pytest.mark.parametrize(
    "name",
    [
        "lscpu_sapphire_rapids.txt",
        "lscpu_arm_neoverse_v2.txt",
        "lscpu_arm_cluster_wrapped.txt",
        "lscpu_flat_no_flags.txt",
    ],
)
def test_fuzz_lscpu(name):
    assert_parses_or_raises_parse_error(parse_lscpu, fixture(name), CpuFacts)


@pytest.mark.parametrize("name", ["cpuinfo_x86_2s.txt", "cpuinfo_arm_n1.txt"])
def test_fuzz_cpuinfo(name):
    assert_parses_or_raises_parse_error(parse_cpuinfo, fixture(name), CpuFacts)
