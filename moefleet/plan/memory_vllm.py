"""What vLLM needs per GPU: its ``--gpu-memory-utilization`` budget and what must fit inside.

vLLM (source: ``vllm/config/cache.py`` and its startup profile, see ``../shared/reference``):
each instance may use ``total x gpu_memory_utilization`` of every GPU; inside that budget go
the weights (split by tensor parallelism), non-torch memory (~0.3 GiB), the activation peak it
profiles for ``max_num_batched_tokens``, the CUDA graphs (0.2-0.5 GiB), and what is left is KV
cache, which must hold at least ``max_model_len`` tokens for each concurrent sequence planned.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from moefleet.catalog.model import ModelSpec
from moefleet.plan.kv import kv_bytes_per_token, recurrent_state
from moefleet.plan.tensors import model_tensors

GIB = 1024**3
GPU_MEMORY_UTILIZATION = 0.90
NON_TORCH_BYTES = int(0.3 * GIB)
CUDA_GRAPH_BYTES = int(0.4 * GIB)
MAX_NUM_BATCHED_TOKENS = 8192
#: Weights vLLM keeps in 16-bit whatever the checkpoint format (embeddings, output, norms,
#: routers): quantized checkpoints quantize the linear layers only.
_SIXTEEN_BIT = {"embeddings", "output", "norm", "router"}


@dataclass(frozen=True)
class VllmMemory:
    """Per-GPU memory of one vLLM instance."""

    weights: int
    activations: int
    fixed: int
    kv_needed: int
    budget: int

    @property
    def kv_available(self) -> int:
        return self.budget - self.weights - self.activations - self.fixed

    @property
    def fits(self) -> bool:
        return self.kv_available >= self.kv_needed

    @property
    def total(self) -> int:
        return self.weights + self.activations + self.fixed + self.kv_needed


@cache
def vllm_weight_bytes(model: ModelSpec, bits_per_weight: float) -> int:
    """Checkpoint weight bytes: linear layers at the format's bits, the rest in 16-bit."""
    total = 0.0
    for tensor in model_tensors(model):
        bits = (
            16.0
            if tensor.weight_class in _SIXTEEN_BIT or len(tensor.shape) == 1
            else bits_per_weight
        )
        total += tensor.elements * bits / 8
    return int(total)


@cache
def vllm_expert_bytes(model: ModelSpec, bits_per_weight: float) -> int:
    """Routed-expert bytes of the checkpoint (all at the format's bits)."""
    experts = sum(t.elements for t in model_tensors(model) if t.weight_class == "experts")
    return int(experts * bits_per_weight / 8)


def vllm_memory(
    model: ModelSpec,
    bits_per_weight: float,
    gpu_bytes: int,
    tensor_parallel: int,
    context: int,
    concurrency: int,
    pipeline_parallel: int = 1,
    utilization: float = GPU_MEMORY_UTILIZATION,
) -> VllmMemory:
    """Memory on each of the ``tensor_parallel x pipeline_parallel`` GPUs."""
    shards = tensor_parallel * pipeline_parallel
    weights = vllm_weight_bytes(model, bits_per_weight) // shards
    activations = MAX_NUM_BATCHED_TOKENS * (model.hidden * 4 * 4 + model.vocab * 4 // 8)
    activations //= tensor_parallel
    kv_token = kv_bytes_per_token(model, 2.0)
    if model.sliding_window is not None:
        window_layers = model.sliding_window.swa_layers
        per_layer = 2 * model.kv_heads * model.head_dim * 2.0
        kv_token += window_layers * per_layer * min(1.0, model.sliding_window.window / context)
    kv_needed = int(kv_token * context * concurrency) // shards
    if model.linear_attention is not None:
        kv_needed += recurrent_state(model, concurrency) // shards
    return VllmMemory(
        weights=weights,
        activations=activations,
        fixed=NON_TORCH_BYTES + CUDA_GRAPH_BYTES,
        kv_needed=kv_needed,
        budget=int(gpu_bytes * utilization),
    )
