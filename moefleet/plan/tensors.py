"""The weight tensors of a model, as llama.cpp names and shapes them, from its architecture.

Shapes are in ggml order (``ne0`` = row length first), names follow llama.cpp's GGUF tensor
names (``blk.N.ffn_down_exps.weight``...; source: llama.cpp ``src/llama-arch.cpp`` and the
``create_tensor`` calls in ``src/models/*.cpp``). Each tensor carries the weight class the
planner reasons about, so that expert offload and per-class quantization are exact. Biases and
other vectors are included as 1-D tensors (they stay F32, like norms).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from math import prod
from typing import Literal

from moefleet.catalog.model import ModelSpec

WeightClass = Literal[
    "embeddings",
    "output",
    "attention",
    "dense_ffn",
    "experts",
    "shared_experts",
    "router",
    "norm",
]
#: Architectures whose attention has per-head q/k RMS norms.
_QK_NORM_ARCHS = {"qwen3", "qwen3moe", "qwen35moe", "qwen3next", "gemma3", "olmoe"}


@dataclass(frozen=True)
class Tensor:
    """One weight tensor: GGUF name, ggml shape, layer (None outside blocks) and class."""

    name: str
    shape: tuple[int, ...]
    weight_class: WeightClass
    layer: int | None = None

    @cached_property
    def elements(self) -> int:
        return prod(self.shape)

    @property
    def is_expert(self) -> bool:
        return self.weight_class == "experts"


def _block(layer: int, name: str, shape: tuple[int, ...], cls: WeightClass) -> Tensor:
    return Tensor(f"blk.{layer}.{name}", shape, cls, layer)


def _gqa_attention(spec: ModelSpec, i: int) -> Iterator[Tensor]:
    q_width = spec.heads * spec.head_dim * (2 if spec.gated_attention else 1)
    kv_width = spec.kv_heads * spec.head_dim
    yield _block(i, "attn_q.weight", (spec.hidden, q_width), "attention")
    yield _block(i, "attn_k.weight", (spec.hidden, kv_width), "attention")
    yield _block(i, "attn_v.weight", (spec.hidden, kv_width), "attention")
    yield _block(i, "attn_output.weight", (spec.heads * spec.head_dim, spec.hidden), "attention")
    if spec.arch in _QK_NORM_ARCHS:
        yield _block(i, "attn_q_norm.weight", (spec.head_dim,), "norm")
        yield _block(i, "attn_k_norm.weight", (spec.head_dim,), "norm")
    if spec.arch == "gpt-oss":
        yield _block(i, "attn_sinks.weight", (spec.heads,), "norm")
        for name, width in (("q", q_width), ("k", kv_width), ("v", kv_width)):
            yield _block(i, f"attn_{name}.bias", (width,), "norm")
        yield _block(i, "attn_output.bias", (spec.hidden,), "norm")


def _mla_attention(spec: ModelSpec, i: int) -> Iterator[Tensor]:
    assert spec.mla is not None
    mla = spec.mla
    qk_head = mla.qk_nope_head_dim + mla.qk_rope_head_dim
    if mla.q_lora_rank:
        yield _block(i, "attn_q_a.weight", (spec.hidden, mla.q_lora_rank), "attention")
        yield _block(i, "attn_q_a_norm.weight", (mla.q_lora_rank,), "norm")
        yield _block(i, "attn_q_b.weight", (mla.q_lora_rank, spec.heads * qk_head), "attention")
    else:
        yield _block(i, "attn_q.weight", (spec.hidden, spec.heads * qk_head), "attention")
    kv_a = mla.kv_lora_rank + mla.qk_rope_head_dim
    yield _block(i, "attn_kv_a_mqa.weight", (spec.hidden, kv_a), "attention")
    yield _block(i, "attn_kv_a_norm.weight", (mla.kv_lora_rank,), "norm")
    yield _block(
        i, "attn_k_b.weight", (mla.qk_nope_head_dim, mla.kv_lora_rank, spec.heads), "attention"
    )
    yield _block(i, "attn_v_b.weight", (mla.kv_lora_rank, mla.v_head_dim, spec.heads), "attention")
    yield _block(i, "attn_output.weight", (spec.heads * mla.v_head_dim, spec.hidden), "attention")


def _linear_attention(spec: ModelSpec, i: int) -> Iterator[Tensor]:
    """Gated DeltaNet layer (qwen35moe / qwen3next names)."""
    assert spec.linear_attention is not None
    lin = spec.linear_attention
    key_dim = lin.key_heads * lin.key_head_dim
    value_dim = lin.value_heads * lin.value_head_dim
    conv_dim = 2 * key_dim + value_dim
    yield _block(i, "attn_qkv.weight", (spec.hidden, conv_dim), "attention")
    yield _block(i, "attn_gate.weight", (spec.hidden, value_dim), "attention")
    yield _block(i, "ssm_conv1d.weight", (lin.conv_kernel, conv_dim), "attention")
    yield _block(i, "ssm_beta.weight", (spec.hidden, lin.value_heads), "attention")
    yield _block(i, "ssm_alpha.weight", (spec.hidden, lin.value_heads), "attention")
    yield _block(i, "ssm_dt.bias", (lin.value_heads,), "norm")
    yield _block(i, "ssm_a", (lin.value_heads,), "norm")
    yield _block(i, "ssm_norm.weight", (lin.value_head_dim,), "norm")
    yield _block(i, "ssm_out.weight", (value_dim, spec.hidden), "attention")


def _dense_ffn(spec: ModelSpec, i: int) -> Iterator[Tensor]:
    assert spec.ffn is not None
    yield _block(i, "ffn_gate.weight", (spec.hidden, spec.ffn), "dense_ffn")
    yield _block(i, "ffn_up.weight", (spec.hidden, spec.ffn), "dense_ffn")
    yield _block(i, "ffn_down.weight", (spec.ffn, spec.hidden), "dense_ffn")


def _moe_ffn(spec: ModelSpec, i: int) -> Iterator[Tensor]:
    assert spec.moe is not None
    moe = spec.moe
    yield _block(i, "ffn_gate_inp.weight", (spec.hidden, moe.experts), "router")
    for name in ("ffn_gate_exps.weight", "ffn_up_exps.weight"):
        yield _block(i, name, (spec.hidden, moe.expert_ffn, moe.experts), "experts")
    yield _block(i, "ffn_down_exps.weight", (moe.expert_ffn, spec.hidden, moe.experts), "experts")
    if spec.arch == "gpt-oss":  # biases on the router and every expert (openai-moe.cpp)
        yield _block(i, "ffn_gate_inp.bias", (moe.experts,), "router")
        for name in ("ffn_gate_exps.bias", "ffn_up_exps.bias"):
            yield _block(i, name, (moe.expert_ffn, moe.experts), "experts")
        yield _block(i, "ffn_down_exps.bias", (spec.hidden, moe.experts), "experts")
    if moe.shared_experts and moe.shared_ffn:
        width = moe.shared_ffn * moe.shared_experts
        yield _block(i, "ffn_gate_shexp.weight", (spec.hidden, width), "shared_experts")
        yield _block(i, "ffn_up_shexp.weight", (spec.hidden, width), "shared_experts")
        yield _block(i, "ffn_down_shexp.weight", (width, spec.hidden), "shared_experts")


def has_kv(spec: ModelSpec, layer: int) -> bool:
    """Whether ``layer`` keeps a KV cache (hybrid models: every 4th layer, the last of each
    group of four, has full attention; the others are linear)."""
    lin = spec.linear_attention
    if lin is None or lin.layers == 0:
        return True
    interval = spec.layers // max(1, spec.layers - lin.layers)
    return layer % interval == interval - 1


def _layer(spec: ModelSpec, i: int) -> Iterator[Tensor]:
    yield _block(i, "attn_norm.weight", (spec.hidden,), "norm")
    if spec.mla is not None:
        yield from _mla_attention(spec, i)
    elif has_kv(spec, i):
        yield from _gqa_attention(spec, i)
    else:
        yield from _linear_attention(spec, i)
    if spec.arch == "gemma3":  # gemma3.cpp: norms after attention and after the FFN too
        yield _block(i, "post_attention_norm.weight", (spec.hidden,), "norm")
    # gpt-oss names its pre-FFN norm post_attention_norm (openai-moe.cpp)
    norm = "post_attention_norm.weight" if spec.arch == "gpt-oss" else "ffn_norm.weight"
    yield _block(i, norm, (spec.hidden,), "norm")
    dense = spec.moe is None or i < spec.moe.first_dense_layers
    yield from _dense_ffn(spec, i) if dense else _moe_ffn(spec, i)
    if spec.arch == "gemma3":
        yield _block(i, "post_ffw_norm.weight", (spec.hidden,), "norm")


@cache
def model_tensors(spec: ModelSpec) -> tuple[Tensor, ...]:
    """All weight tensors of ``spec`` in GGUF order (cached: specs are immutable)."""
    tensors = [Tensor("token_embd.weight", (spec.hidden, spec.vocab), "embeddings")]
    for i in range(spec.layers):
        tensors.extend(_layer(spec, i))
    tensors.append(Tensor("output_norm.weight", (spec.hidden,), "norm"))
    if not spec.tied_embeddings:
        tensors.append(Tensor("output.weight", (spec.hidden, spec.vocab), "output"))
    return tuple(tensors)


def parameter_count(tensors: Sequence[Tensor]) -> int:
    """Total weights (what llama.cpp prints as the model's parameter count)."""
    return sum(t.elements for t in tensors)


def classify(name: str) -> WeightClass:
    """The weight class of a GGUF tensor name (for tensors read from a real file)."""
    if name.startswith("token_embd"):
        return "embeddings"
    if name.startswith("output."):
        return "output"
    if "_exps" in name:
        return "experts"
    if "_shexp" in name:
        return "shared_experts"
    if "ffn_gate_inp" in name:
        return "router"
    if "norm" in name or name.endswith(".bias") or "sinks" in name:
        return "norm"
    if ".ffn_" in name:
        return "dense_ffn"
    return "attention"
