"""Parsing llama.cpp's memory lines (real CPU logs and a CUDA-style log)."""

from __future__ import annotations

from pathlib import Path

import pytest

from moefleet.engines.llama_memory import MIB, BreakdownRow, parse_llama_memory

DATA = Path(__file__).parent / "data"


def load(name: str) -> str:
    return (DATA / name).read_text()


def test_cpu_log_with_repacked_weights_and_exit_table():
    report = parse_llama_memory(load("llama_server_cpu_qwen3moe_q4_0.log"))

    assert report.by_backend("model") == {
        "CPU_Mapped": round(3.86 * MIB),
        "CPU_REPACK": round(3.66 * MIB),
    }
    assert report.kv_bytes == 4 * MIB
    assert report.compute_bytes == round(6.52 * MIB)
    assert report.by_backend("output") == {"CPU": 0}
    assert report.rs_bytes == 0
    (kv,) = report.kv_caches
    assert (kv.cells, kv.streams, kv.layers, kv.seqs) == (1024, 2, 4, 2)
    assert kv.total_cells == 2048
    assert (kv.k_type, kv.v_type) == ("f16", "f16")
    # the startup projection (-fit on) is replaced by the table printed at exit
    assert report.breakdown == (
        BreakdownRow("Host", self_mib=14, model_mib=3, context_mib=4, compute_mib=6),
        BreakdownRow("CPU_REPACK", self_mib=3, model_mib=3, context_mib=0, compute_mib=0),
    )


def test_cpu_log_with_sliding_window_has_two_kv_caches():
    report = parse_llama_memory(load("llama_server_cpu_gemma3_swa.log"))

    assert [(c.cells, c.layers) for c in report.kv_caches] == [(4096, 1), (768, 5)]
    assert [c.k_type for c in report.kv_caches] == ["q8_0", "q8_0"]
    assert report.kv_bytes == round(1.53 * MIB) + round(1.44 * MIB)
    assert report.total("compute", "CPU") == round(45.05 * MIB)


def test_cuda_log_two_gpus():
    report = parse_llama_memory(load("llama_server_cuda_2gpu.log"))

    assert report.by_backend("model") == {
        "CPU_Mapped": round(166.92 * MIB),
        "CUDA0": round(8943.31 * MIB),
        "CUDA1": round(8412.10 * MIB),
    }
    assert report.by_backend("kv") == {"CUDA0": 1536 * MIB, "CUDA1": 1536 * MIB}
    assert report.by_backend("rs") == {"CUDA0": round(75.38 * MIB)}
    assert report.by_backend("compute") == {
        "CUDA0": round(304.75 * MIB),
        "CUDA1": round(320.02 * MIB),
        "CUDA_Host": round(72.01 * MIB),
    }
    assert report.by_backend("output") == {"CUDA_Host": round(1.16 * MIB)}
    assert report.total("kv", "CUDA2") == 0
    gpu0, gpu1, host = report.breakdown
    assert gpu0 == BreakdownRow(
        "CUDA0 (RTX 4090)",
        self_mib=10859,
        model_mib=8943,
        context_mib=1611,
        compute_mib=304,
        total_mib=24080,
        free_mib=12922,
        unaccounted_mib=299,
    )
    assert gpu1.device == "CUDA1 (RTX 4090)"
    assert host.total_mib is None
    assert host.model_mib == 166


def test_a_reload_keeps_only_the_last_load():
    log = """
    load_tensors:   CPU_Mapped model buffer size =   100.00 MiB
    llama_kv_cache:        CPU KV buffer size =    10.00 MiB
    sched_reserve:        CPU compute buffer size =     5.00 MiB
    load_tensors:        CUDA0 model buffer size =    90.00 MiB
    load_tensors:   CPU_Mapped model buffer size =    10.00 MiB
    llama_kv_cache:      CUDA0 KV buffer size =    20.00 MiB
    """
    report = parse_llama_memory(log)

    assert report.by_backend("model") == {"CUDA0": 90 * MIB, "CPU_Mapped": 10 * MIB}
    assert report.kv_bytes == 20 * MIB
    assert report.compute_bytes == 0


@pytest.mark.parametrize(
    "line",
    [
        "0.00.011.299 I load_tensors:        CUDA0 model buffer size =  1234.56 MiB",
        "load_tensors:        CUDA0 model buffer size =  1234.56 MiB",
        "llm_load_tensors:      CUDA0 model buffer size =  1234.56 MiB",
    ],
)
def test_prefixes_do_not_matter(line):
    assert parse_llama_memory([line]).by_backend("model") == {"CUDA0": round(1234.56 * MIB)}


def test_unknown_and_empty_input():
    assert parse_llama_memory("").buffers == ()
    noise = "print_info: file size = 14.03 MiB\n| memory breakdown [MiB] |\nnot a row\n"
    report = parse_llama_memory(noise)
    assert report.buffers == ()
    assert report.breakdown == ()
    assert report.model_bytes == 0
