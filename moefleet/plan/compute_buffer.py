"""llama.cpp compute buffers: the scratch memory of the worst-case graph, per device.

llama.cpp reserves its compute graph for a full micro-batch (``n_ubatch`` tokens, one output
per token) against a full KV cache, and ggml-alloc reuses memory between ops, so a device's
buffer is set by the largest set of tensors alive at one time, not by their sum. The model
below keeps the three peaks that dominate in practice (source: ``llama_context`` reserve in
``src/llama-context.cpp``; buffer sizes measured on the real server, see ``perf/``):

- attention: without flash attention the f32 ``KQ`` matrix (``n_head x n_kv x n_ubatch``) and
  its mask; with flash attention only the f16 mask and the output;
- feed-forward: the f32 activations of the widest FFN (``k`` experts' worth for MoE);
- logits: ``n_vocab x n_ubatch`` f32 on the device holding the output layer.

At partial offload the device that runs the big matrix products also needs room to copy in
the weights of one CPU-resident layer (llama.cpp offloads large-batch ops to the GPU).
"""

from __future__ import annotations

from dataclasses import dataclass

from moefleet.catalog.model import ModelSpec

MIB = 1024**2
F32 = 4
F16 = 2


@dataclass(frozen=True)
class ComputeParams:
    """Tunable constants of the compute-buffer model (fitted to the real server)."""

    ffn_live_tensors: float = 3.0
    hidden_live_tensors: float = 6.0
    base_bytes: int = 0


DEFAULT_PARAMS = ComputeParams()


def _pad(n: int, multiple: int = 256) -> int:
    return -(-n // multiple) * multiple


def attention_peak(
    model: ModelSpec, n_kv: int, n_ubatch: int, flash_attn: bool, n_seq: int = 1
) -> int:
    """Bytes alive at the attention step of one layer."""
    heads = model.heads
    mask = _pad(n_kv) * _pad(n_ubatch, 64) * (F16 if flash_attn else F32)
    if flash_attn:
        value_dim = model.mla.v_head_dim if model.mla else model.head_dim
        return mask + n_ubatch * heads * value_dim * F32 * 2
    return mask + n_kv * n_ubatch * heads * F32


def ffn_peak(model: ModelSpec, n_ubatch: int, params: ComputeParams = DEFAULT_PARAMS) -> int:
    """Bytes alive in the widest feed-forward block."""
    widths = [model.ffn or 0]
    if model.moe:
        widths.append(model.moe.expert_ffn * model.moe.active)
        if model.moe.shared_ffn:
            widths.append(model.moe.shared_ffn * model.moe.shared_experts)
    return int(n_ubatch * max(widths) * F32 * params.ffn_live_tensors)


def hidden_state(model: ModelSpec, n_ubatch: int, params: ComputeParams = DEFAULT_PARAMS) -> int:
    """Residual stream and norms that stay alive across a layer."""
    return int(n_ubatch * model.hidden * F32 * params.hidden_live_tensors)


def logits(model: ModelSpec, n_ubatch: int) -> int:
    return n_ubatch * model.vocab * F32


def compute_buffer(
    model: ModelSpec,
    n_kv: int,
    n_ubatch: int,
    flash_attn: bool,
    *,
    has_output: bool,
    has_layers: bool = True,
    offloaded_weight_copy: int = 0,
    params: ComputeParams = DEFAULT_PARAMS,
) -> int:
    """Compute buffer of one device: the largest of its peaks, plus the resident state."""
    peaks = [0]
    if has_layers:
        peaks.append(attention_peak(model, n_kv, n_ubatch, flash_attn))
        peaks.append(ffn_peak(model, n_ubatch, params) + offloaded_weight_copy)
    if has_output:
        peaks.append(logits(model, n_ubatch))
    return max(peaks) + hidden_state(model, n_ubatch, params) + params.base_bytes


def host_compute_buffer(model: ModelSpec, n_ubatch: int) -> int:
    """The CPU-side buffer when every layer is on a GPU: the input embeddings of a batch."""
    return n_ubatch * model.hidden * F32 * 2
