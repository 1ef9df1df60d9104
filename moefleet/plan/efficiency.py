"""The speed model's named, calibratable parameters.

Defaults are fitted by hand to published llama.cpp measurements (``../shared/reference``,
``measurements``): RTX PRO 6000 Blackwell, Qwen3-30B-A3B Q4_K_M, 251 tok/s decode, 7432 tok/s
prefill; RTX 5090, gpt-oss-20b MXFP4, 362.6 / 9898 tok/s; RTX 2080, Llama-3.1-8B Q4_K_M,
71.9 tok/s; Quadro RTX 5000 (PCIe 3.0 x16), Qwen3-30B-A3B Q4_K_M with --n-cpu-moe 16/24/40,
62.9/50.9/37.0 tok/s decode and 487/373/265 tok/s prefill. ``moefleet calibrate`` replaces
them with fits to the fleet's own benchmarks, per (engine, GPU class, dense/MoE, offload).
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Efficiency:
    """Fractions of peak that an engine reaches, and fixed per-step costs."""

    gpu_bandwidth: float = 0.85
    """share of GPU memory bandwidth a decode step achieves"""
    cpu_bandwidth: float = 0.72
    """share of RAM bandwidth the CPU expert kernels achieve"""
    pcie: float = 0.55
    """share of the PCIe link achieved copying CPU-resident weights for prefill"""
    layer_overhead_s: float = 50e-6
    """fixed cost per layer per decode step (kernel launches, routing, synchronisation)"""
    cpu_layer_overhead_s: float = 60e-6
    """extra cost per layer whose experts run on the CPU (GPU<->CPU hand-off)"""
    prefill_flops_moe: float = 0.12
    """share of dense FP16 tensor throughput reached by MoE prefill"""
    prefill_flops_dense: float = 0.30
    """share of dense FP16 tensor throughput reached by dense prefill"""
    cpu_gflops_per_thread: float = 40.0
    """prefill throughput of one CPU thread (AVX2, quantized matmul)"""

    def scaled(self, **changes: float) -> Efficiency:
        return replace(self, **changes)


LLAMA_CPP = Efficiency()
#: vLLM decode at batch 1 is bound the same way, with CUDA graphs hiding most launch cost.
VLLM = Efficiency(
    gpu_bandwidth=0.80, layer_overhead_s=20e-6, prefill_flops_moe=0.25, prefill_flops_dense=0.45
)


def for_engine(engine: str) -> Efficiency:
    return VLLM if engine == "vllm" else LLAMA_CPP
