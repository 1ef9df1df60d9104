"""Planner memory predictions next to what the real llama-server allocates (CPU backend).

Shared by the test (``tests/llama/test_planner_memory.py``) and the table printer
(``perf/llama_memory.py``). Besides the harness's tiny models, two "held-out" shapes
whose widths differ from the ones the compute-buffer constants were fitted on (FFN 4x and 3x
hidden, vocab 8x and 5x hidden, 16 experts top-4) check that the model generalises.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from moefleet.catalog.model import ModelSpec, MoeSpec
from moefleet.engines.llama_memory import LlamaMemoryReport
from moefleet.plan.memory_llama import LlamaSettings, llama_memory
from moefleet.plan.weights import model_weights
from tests.llama.gguf_models import TINY_SPECS, _tiny
from tests.llama.server import ServerOptions, llama_server

MIB = 1024**2

HELD_OUT: dict[str, ModelSpec] = {
    "llama-wide": _tiny("llama-wide", "llama", layers=3, vocab=2048, ffn=1024),
    "qwen3moe-wide": _tiny(
        "qwen3moe-wide",
        "qwen3moe",
        vocab=1280,
        moe=MoeSpec(experts=16, active=4, expert_ffn=192),
    ),
}
SPECS: dict[str, ModelSpec] = {**TINY_SPECS, **HELD_OUT}


@dataclass(frozen=True)
class Case:
    """One server configuration to compare."""

    spec: str
    mix: str = "F16"
    n_ctx: int = 2048
    n_seq: int = 1
    flash_attn: bool = True
    kv_type: str = "f16"
    n_ubatch: int = 512

    @property
    def settings(self) -> LlamaSettings:
        return LlamaSettings(
            n_ctx=self.n_ctx,
            n_seq=self.n_seq,
            type_k=self.kv_type,
            type_v=self.kv_type,
            flash_attn=self.flash_attn,
            n_ubatch=self.n_ubatch,
        )

    @property
    def options(self) -> ServerOptions:
        return ServerOptions(
            n_ctx=self.n_ctx,
            n_parallel=self.n_seq,
            flash_attn="on" if self.flash_attn else "off",
            cache_type_k=self.kv_type,
            cache_type_v=self.kv_type,
            n_ubatch=self.n_ubatch,
            n_batch=max(2048, self.n_ubatch),
        )


@dataclass(frozen=True)
class Comparison:
    """Predicted and measured bytes by kind (model, kv, compute) and in total."""

    case: Case
    predicted: dict[str, int]
    measured: dict[str, int]

    def error(self, kind: str = "total") -> float:
        measured = self.measured[kind]
        return (self.predicted[kind] - measured) / measured if measured else 0.0


def predicted(case: Case) -> dict[str, int]:
    """The planner's CPU-only prediction (llama-server without a GPU: everything on CPU)."""
    weights = model_weights(SPECS[case.spec], case.mix)
    memory = llama_memory(weights, case.settings, gpu_layers=0, splits=())
    parts = {
        "model": sum(d.weights for d in memory.values()),
        "kv": sum(d.kv for d in memory.values()),
        "compute": sum(d.compute for d in memory.values()),
    }
    return {**parts, "total": sum(parts.values())}


def measured(report: LlamaMemoryReport) -> dict[str, int]:
    parts = {
        "model": report.model_bytes,
        "kv": report.kv_bytes + report.rs_bytes,
        "compute": report.compute_bytes,
    }
    return {**parts, "total": sum(parts.values()) + report.total("output")}


def compare(case: Case, server_bin: Path, model_path: Path) -> Comparison:
    """Start the real server for ``case`` and compare its buffers with the prediction."""
    with llama_server(server_bin, model_path, case.options) as server:
        report = server.memory()
    return Comparison(case, predicted(case), measured(report))


#: The configurations the test checks (planner-reachable: quantized KV only with flash
#: attention; F16 and Q8_0 weights, which this CPU backend does not repack).
TEST_CASES: tuple[Case, ...] = (
    Case("llama"),
    Case("llama", n_ctx=4096, n_seq=2, kv_type="q8_0"),
    Case("llama", n_ctx=1024, flash_attn=False),
    Case("qwen3moe", mix="Q8_0"),
    Case("qwen3moe", n_ctx=8192, n_seq=4, n_ubatch=256),
    Case("gemma3", n_ctx=4096),
    Case("gemma3", n_ctx=1024, flash_attn=False),
    Case("gpt-oss", n_ctx=4096, n_seq=2),
    Case("gpt-oss", n_ctx=1024, flash_attn=False),
    Case("llama-wide", n_ctx=4096),
    Case("llama-wide", n_ctx=2048, flash_attn=False),
    Case("qwen3moe-wide", n_ctx=4096, n_seq=2, kv_type="q8_0"),
    Case("qwen3moe-wide", n_ctx=1024, flash_attn=False, n_ubatch=256),
)
