"""A ModelSpec from a GGUF file's header (metadata and tensor table; the weights stay unread).

Keys are llama.cpp's (``gguf-py/gguf/constants.py`` ``Keys``): ``{arch}.block_count``,
``{arch}.embedding_length``, ``{arch}.attention.head_count`` ... Where llama.cpp hard-codes a
layout instead of writing a key (the sliding-window pattern of gemma3 and gpt-oss), the same
default is applied here. Parameter counts come from the tensor shapes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, NamedTuple

from moefleet.catalog.load import CatalogError
from moefleet.catalog.model import (
    LinearAttentionSpec,
    MlaSpec,
    ModelSpec,
    MoeSpec,
    SlidingWindowSpec,
)

#: llama.cpp ``set_swa_pattern`` defaults: one full-attention layer every N.
SWA_PATTERN = {"gemma3": 6, "gpt-oss": 2}


class GgufTensor(NamedTuple):
    """One tensor of the file: GGUF name, ggml shape (ne0 first), ggml type, bytes."""

    name: str
    shape: tuple[int, ...]
    type: str
    nbytes: int


class _Header:
    """Metadata values by key, with ``{arch}.`` keys reachable by their suffix."""

    def __init__(self, fields: dict[str, Any], arch: str) -> None:
        self.fields, self.arch = fields, arch

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(f"{self.arch}.{key}", self.fields.get(key, default))

    def int(self, key: str, default: int | None = None) -> int | None:
        value = self.get(key, default)
        if isinstance(value, list):  # per-layer arrays (e.g. head_count_kv): the largest
            value = max(value) if value else default
        return int(value) if value is not None else None


def _read(path: Path) -> tuple[dict[str, Any], list[GgufTensor]]:
    import gguf  # noqa: PLC0415 (NumPy-heavy; only `models add` needs it)

    try:
        reader = gguf.GGUFReader(path, "r")
    except (OSError, ValueError) as exc:
        raise CatalogError(f"{path}: not a readable GGUF file: {exc}") from exc
    fields = {
        name: field.contents()
        for name, field in reader.fields.items()
        if not name.startswith("tokenizer.ggml.")
    }
    fields["tokenizer.ggml.tokens.count"] = (
        len(reader.fields["tokenizer.ggml.tokens"].data)
        if "tokenizer.ggml.tokens" in reader.fields
        else None
    )
    tensors = [
        GgufTensor(t.name, tuple(int(n) for n in t.shape), t.tensor_type.name, int(t.n_bytes))
        for t in reader.tensors
    ]
    return fields, tensors


def _mix_name(file_type: int | None) -> str | None:
    """general.file_type -> llama-quantize mix name ('MOSTLY_Q4_K_M' -> 'Q4_K_M')."""
    import gguf  # noqa: PLC0415

    if file_type is None:
        return None
    try:
        name = gguf.LlamaFileType(file_type).name
    except ValueError:
        return None
    return re.sub(r"^(MOSTLY|ALL)_", "", name)


def _shape(tensors: dict[str, GgufTensor], name: str) -> tuple[int, ...] | None:
    tensor = tensors.get(name)
    return tensor.shape if tensor else None


def _moe(h: _Header, tensors: dict[str, GgufTensor], layers: int) -> MoeSpec | None:
    experts = h.int("expert_count")
    if not experts or experts < 2:
        return None
    first_dense = h.int("leading_dense_block_count", 0) or 0
    up = _shape(tensors, f"blk.{layers - 1}.ffn_up_exps.weight")
    expert_ffn = h.int("expert_feed_forward_length") or (up[1] if up else None)
    shexp = _shape(tensors, f"blk.{layers - 1}.ffn_up_shexp.weight")
    shared = (h.int("expert_shared_count") or 1) if shexp else 0
    shared_ffn = h.int("expert_shared_feed_forward_length") or (
        shexp[1] // shared if shexp else None
    )
    return MoeSpec(
        experts=experts,
        active=h.int("expert_used_count") or 1,
        expert_ffn=expert_ffn or 1,
        shared_experts=shared,
        shared_ffn=shared_ffn if shared else None,
        first_dense_layers=first_dense,
    )


def _mla(h: _Header) -> tuple[MlaSpec | None, int | None]:
    """MLA ranks and the q/k head size (DeepSeek: key_length_mla, else key_length)."""
    kv_lora = h.int("attention.kv_lora_rank")
    if not kv_lora:
        return None, None
    rope = h.int("rope.dimension_count") or 64
    qk_head = h.int("attention.key_length_mla") or h.int("attention.key_length") or rope
    v_head = h.int("attention.value_length_mla") or h.int("attention.value_length") or 128
    spec = MlaSpec(
        q_lora_rank=h.int("attention.q_lora_rank") or None,
        kv_lora_rank=kv_lora,
        qk_nope_head_dim=qk_head - rope,
        qk_rope_head_dim=rope,
        v_head_dim=v_head,
    )
    return spec, qk_head


def _sliding(h: _Header, layers: int) -> SlidingWindowSpec | None:
    window = h.int("attention.sliding_window")
    if not window:
        return None
    pattern = h.get("attention.sliding_window_pattern", SWA_PATTERN.get(h.arch))
    if isinstance(pattern, list):
        swa = sum(bool(x) for x in pattern[:layers])
    elif pattern:
        swa = layers - layers // int(pattern)
    else:
        swa = layers
    return SlidingWindowSpec(window=window, swa_layers=swa)


def _linear(h: _Header, tensors: dict[str, GgufTensor], layers: int) -> LinearAttentionSpec | None:
    linear = sum(f"blk.{i}.ssm_conv1d.weight" in tensors for i in range(layers))
    if not linear:
        return None
    key_heads = h.int("ssm.group_count") or 1
    value_heads = h.int("ssm.time_step_rank") or key_heads
    inner = h.int("ssm.inner_size") or value_heads * (h.int("ssm.state_size") or 128)
    return LinearAttentionSpec(
        layers=linear,
        key_heads=key_heads,
        value_heads=value_heads,
        key_head_dim=h.int("ssm.state_size") or 128,
        value_head_dim=inner // value_heads,
        conv_kernel=h.int("ssm.conv_kernel") or 4,
    )


def _params(tensors: list[GgufTensor], moe: MoeSpec | None) -> tuple[float, float]:
    """Total and active parameters (billions): all weights, less unused routed experts."""
    from moefleet.plan.tensors import classify  # noqa: PLC0415

    def elements(t: GgufTensor) -> int:
        n = 1
        for dim in t.shape:
            n *= dim
        return n

    total = sum(elements(t) for t in tensors)
    experts = sum(elements(t) for t in tensors if classify(t.name) == "experts")
    unused = experts * (1 - moe.active / moe.experts) if moe else 0
    return total / 1e9, (total - unused) / 1e9


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-") or "model"


def spec_from_gguf(
    path: Path | str, model_id: str | None = None
) -> tuple[ModelSpec, list[GgufTensor]]:
    """The ModelSpec a GGUF file describes, and its tensor table."""
    path = Path(path)
    fields, tensor_list = _read(path)
    arch = str(fields.get("general.architecture") or "")
    if not arch:
        raise CatalogError(f"{path}: general.architecture is missing: not a model GGUF")
    h = _Header(fields, arch)
    tensors = {t.name: t for t in tensor_list}
    layers = (h.int("block_count") or 0) - (h.int("nextn_predict_layers") or 0)
    hidden, heads = h.int("embedding_length") or 0, h.int("attention.head_count") or 1
    moe = _moe(h, tensors, layers)
    mla, mla_head = _mla(h)
    head_dim = mla_head or h.int("attention.key_length") or hidden // heads
    embd = _shape(tensors, "token_embd.weight")
    vocab = (
        h.int("vocab_size") or fields.get("tokenizer.ggml.tokens.count") or (embd[1] if embd else 0)
    )
    dense = moe is None or moe.first_dense_layers > 0
    total, active = _params(tensor_list, moe)
    name = str(fields.get("general.name") or path.stem)
    mix = _mix_name(fields.get("general.file_type"))
    linear = _linear(h, tensors, layers)
    try:
        spec = ModelSpec(
            id=model_id or _slug(name),
            name=name,
            arch=arch,
            license=str(fields.get("general.license") or "unknown"),
            source=f"GGUF header of {path.resolve()}",
            total_params_b=total,
            active_params_b=active,
            layers=layers,
            hidden=hidden,
            heads=heads,
            kv_heads=h.int("attention.head_count_kv") or heads,
            head_dim=head_dim,
            vocab=int(vocab),
            ffn=h.int("feed_forward_length") if dense else None,
            tied_embeddings="output.weight" not in tensors,
            max_context=h.int("context_length") or 4096,
            moe=moe,
            mla=mla,
            sliding_window=_sliding(h, layers),
            linear_attention=linear,
            gated_attention=_gated(tensors, heads, head_dim, layers, linear),
            gguf_formats=(mix,) if mix else (),
            native_gguf="MXFP4_MOE" if arch == "gpt-oss" else "BF16",
        )
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise CatalogError(f"{path}: the GGUF header does not describe a model: {exc}") from exc
    return spec, tensor_list


def _gated(
    tensors: dict[str, GgufTensor],
    heads: int,
    head_dim: int,
    layers: int,
    linear: LinearAttentionSpec | None,
) -> bool:
    """An output-gated attention writes q and the gate in one attn_q twice as wide."""
    for i in range(layers):
        q = _shape(tensors, f"blk.{i}.attn_q.weight")
        if q is not None:
            return len(q) > 1 and q[1] == 2 * heads * head_dim
    return linear is not None
