"""KV cache and recurrent state sizes, the way llama.cpp and vLLM allocate them.

llama.cpp (source: ``src/llama-kv-cache.cpp``, ``src/llama-kv-cache-iswa.cpp``,
``src/llama-memory-recurrent.cpp``; validated against the real server in tests):

- ``-c`` is padded to 256 and, unless the cache is unified (``--kv-unified``), split into one
  stream per ``-np`` slot of ``pad(n_ctx / n_seq, 256)`` cells each (``llama_context``);
- each layer with attention stores K and V per cell: ``n_kv_heads x head_dim`` elements each,
  in the ``-ctk`` / ``-ctv`` types (quantized types pack 32 elements in 34 or 18 bytes);
- sliding-window layers only keep ``pad(min(cells, window x (n_seq if unified else 1) +
  n_ubatch), 256)`` cells per stream (``llama_kv_cache_iswa``);
- MLA (DeepSeek) keeps one compressed latent of ``kv_lora_rank + rope`` per layer, no V;
- linear-attention layers keep a fixed recurrent state per sequence, in f32.
"""

from __future__ import annotations

from dataclasses import dataclass

from moefleet.catalog.model import ModelSpec
from moefleet.plan.ggml_types import tensor_bytes
from moefleet.plan.tensors import has_kv

KV_TYPES = ("f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "iq4_nl", "f32")
PAD = 256


def _pad(cells: int, multiple: int = PAD) -> int:
    return -(-cells // multiple) * multiple


def _row_bytes(kv_type: str, elements: int) -> int:
    return tensor_bytes(kv_type.upper(), elements)


@dataclass(frozen=True)
class KvSize:
    """Bytes of attention cache and recurrent state, and how many layers hold them."""

    kv_bytes: int
    recurrent_bytes: int
    kv_layers: int

    @property
    def total(self) -> int:
        return self.kv_bytes + self.recurrent_bytes


def _swa_layer_ids(model: ModelSpec) -> set[int]:
    """Which layers use the sliding window: spread evenly (gpt-oss alternates, Gemma 3
    has five local layers for each global one, the global one last in its group)."""
    swa = model.sliding_window
    if swa is None or swa.swa_layers == 0:
        return set()
    full = model.layers - swa.swa_layers
    group = model.layers // full if full else model.layers
    return {i for i in range(model.layers) if full == 0 or i % group != group - 1}


def llama_kv(
    model: ModelSpec,
    n_ctx: int,
    n_seq: int = 1,
    type_k: str = "f16",
    type_v: str = "f16",
    n_ubatch: int = 512,
    swa_full: bool = False,
    unified: bool = False,
) -> KvSize:
    """KV cache + recurrent state llama.cpp allocates for ``-c n_ctx -np n_seq``."""
    per_stream, streams = stream_cells(n_ctx, n_seq, unified)
    window_cells = swa_cells(model, per_stream, n_seq, n_ubatch, unified)
    swa_size = per_stream if window_cells is None or swa_full else window_cells
    cells = per_stream
    swa_layers = _swa_layer_ids(model)
    kv = 0
    kv_layers = 0
    for layer in range(model.layers):
        if model.mla is None and not has_kv(model, layer):
            continue
        kv_layers += 1
        n = swa_size if layer in swa_layers else cells
        if model.mla is not None:
            kv += n * _row_bytes(type_k, model.mla.kv_lora_rank + model.mla.qk_rope_head_dim)
            continue
        width = model.kv_heads * model.head_dim
        kv += n * (_row_bytes(type_k, width) + _row_bytes(type_v, width))
    return KvSize(
        kv_bytes=kv * streams, recurrent_bytes=recurrent_state(model, n_seq), kv_layers=kv_layers
    )


def swa_cells(
    model: ModelSpec, per_stream: int, n_seq: int, n_ubatch: int, unified: bool = False
) -> int | None:
    """Cells per stream of the sliding-window cache, or None without sliding-window layers."""
    swa = model.sliding_window
    if swa is None or swa.swa_layers == 0:
        return None
    return _pad(min(per_stream, swa.window * (n_seq if unified else 1) + n_ubatch))


def stream_cells(n_ctx: int, n_seq: int, unified: bool = False) -> tuple[int, int]:
    """(cells per KV stream, number of streams) for ``-c n_ctx -np n_seq``."""
    total = _pad(n_ctx)
    if unified or n_seq <= 1:
        return total, 1
    return _pad(total // n_seq), n_seq


def recurrent_state(model: ModelSpec, n_seq: int) -> int:
    """Fixed per-sequence state of linear-attention layers (conv window + delta-rule matrix)."""
    lin = model.linear_attention
    if lin is None or lin.layers == 0:
        return 0
    conv_dim = 2 * lin.key_heads * lin.key_head_dim + lin.value_heads * lin.value_head_dim
    conv = (lin.conv_kernel - 1) * conv_dim
    ssm = lin.value_heads * lin.key_head_dim * lin.value_head_dim
    return lin.layers * (conv + ssm) * lin.state_bytes_per_element * n_seq


def kv_bytes_per_token(model: ModelSpec, bytes_per_element: float = 2.0) -> float:
    """KV bytes one token of context costs in full-attention layers (vLLM's view; sliding
    layers are capped separately by the caller)."""
    if model.mla is not None:
        width = model.mla.kv_lora_rank + model.mla.qk_rope_head_dim
        return model.layers * width * bytes_per_element
    kv_layers = sum(1 for layer in range(model.layers) if has_kv(model, layer))
    swa = model.sliding_window.swa_layers if model.sliding_window else 0
    return (kv_layers - swa) * 2 * model.kv_heads * model.head_dim * bytes_per_element
