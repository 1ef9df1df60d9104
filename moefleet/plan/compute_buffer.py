"""llama.cpp compute buffers: the scratch memory of the worst-case graph, per device.

llama.cpp reserves its compute graph for a full micro-batch (``n_ubatch`` tokens) against a
full KV stream, and ggml-alloc reuses memory between ops, so a device's buffer is the graph
inputs (alive throughout: the KQ masks, the batch's embeddings) plus the largest set of
tensors alive at one time, not the sum of all. Source: ``llama_context`` reserve in
``src/llama-context.cpp``; the constants were fitted to the real llama-server's buffers
(``perf/llama_memory.py`` prints the comparison, ``tests/llama`` checks it):

- attention without flash attention: the f32 ``KQ`` matrix (``n_head x n_kv x n_ubatch``)
  next to a few hidden-size tensors; with flash attention it never dominates;
- feed-forward: three FFN-width f32 activations (``k`` experts' worth for MoE) and four
  hidden-size ones;
- logits do not count: llama-server reserves one output per sequence, and the measured buffers
  do not change with the vocabulary size.

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
    """Live-tensor counts of the compute-buffer model, in units of ``n_ubatch x width x 4``
    bytes (fitted to the real server: ``perf/llama_memory.py``)."""

    attention_hidden: float = 6.0
    """hidden-size tensors alive next to the f32 KQ matrix (no flash attention)"""
    ffn_width: float = 3.0
    """FFN-width tensors alive in the feed-forward block (gate, up, their product)"""
    ffn_hidden: float = 4.0
    """hidden-size tensors alive in the feed-forward block (residual, norm, output)"""
    no_flash_hidden: float = 1.0
    """one more hidden-size tensor alive through the layer without flash attention (the
    attention output made contiguous)"""
    output_hidden: float = 2.0
    """hidden-size tensors alive next to the logits"""
    inputs_hidden: float = 1.0
    """graph inputs alive throughout: the batch's input embeddings"""


DEFAULT_PARAMS = ComputeParams()
#: Architectures whose layers keep one more hidden-size tensor alive without flash attention
#: (measured: Gemma 3's post-attention norm, gpt-oss's attention sinks).
NO_FLASH_EXTRA_HIDDEN = {"gemma3": 1.0, "gpt-oss": 1.0}


def _pad(n: int, multiple: int = 256) -> int:
    return -(-n // multiple) * multiple


def mask_bytes(n_kv: int, n_ubatch: int, flash_attn: bool) -> int:
    """The KQ mask, a graph input alive for the whole graph (f16 with flash attention)."""
    return _pad(n_kv) * _pad(n_ubatch, 64) * (F16 if flash_attn else F32)


def _unit(n_ubatch: int, width: int) -> int:
    return n_ubatch * width * F32


def ffn_width(model: ModelSpec) -> int:
    """The widest feed-forward activation per token (k experts' worth for MoE)."""
    widths = [model.ffn or 0]
    if model.moe:
        widths.append(model.moe.expert_ffn * model.moe.active)
        if model.moe.shared_ffn:
            widths.append(model.moe.shared_ffn * model.moe.shared_experts)
    return max(widths)


def compute_buffer(
    model: ModelSpec,
    n_kv: int,
    n_ubatch: int,
    flash_attn: bool,
    *,
    has_output: bool,
    has_layers: bool = True,
    offloaded_weight_copy: int = 0,
    n_kv_swa: int | None = None,
    params: ComputeParams = DEFAULT_PARAMS,
) -> int:
    """Compute buffer of one device: graph inputs plus the largest of its peaks.

    ``n_kv`` is the cells of one KV stream (per ``-np`` slot unless the cache is unified);
    ``n_kv_swa`` those of the sliding-window cache, which has a mask of its own."""
    hidden = _unit(n_ubatch, model.hidden)
    extra = 0.0 if flash_attn else NO_FLASH_EXTRA_HIDDEN.get(model.arch, 0.0)
    peaks = [0.0]
    if has_layers:
        if not flash_attn:
            kq = _pad(n_kv) * n_ubatch * model.heads * F32
            peaks.append(kq + (params.attention_hidden + extra) * hidden)
        ffn_hidden = params.ffn_hidden + extra + (0.0 if flash_attn else params.no_flash_hidden)
        ffn = params.ffn_width * _unit(n_ubatch, ffn_width(model)) + ffn_hidden * hidden
        peaks.append(int(ffn + offloaded_weight_copy))
    if has_output:
        peaks.append(params.output_hidden * hidden)
    inputs = mask_bytes(n_kv, n_ubatch, flash_attn) + params.inputs_hidden * hidden
    if n_kv_swa is not None:
        inputs += mask_bytes(n_kv_swa, n_ubatch, flash_attn)
    return int(inputs + max(peaks))


def host_compute_buffer(model: ModelSpec, n_ubatch: int) -> int:
    """The CPU-side buffer when every layer is on a GPU: the input embeddings of a batch."""
    return n_ubatch * model.hidden * F32 * 2
