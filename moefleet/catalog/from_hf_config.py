"""A ModelSpec from a Hugging Face ``config.json`` (transformers' field names).

Multimodal configs (Gemma 3, Qwen3.5) nest the language model under ``text_config``; its
fields win over the top level. The architecture is named as llama.cpp names it
(``general.architecture``), and parameter counts come from the llama.cpp tensor inventory
(``moefleet.plan.tensors``) of the resulting spec.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from moefleet.catalog.load import CatalogError
from moefleet.catalog.model import (
    LinearAttentionSpec,
    MlaSpec,
    ModelSpec,
    MoeSpec,
    SlidingWindowSpec,
)

#: HF model_type -> llama.cpp architecture (convert_hf_to_gguf.py model classes).
ARCH_BY_MODEL_TYPE = {
    "llama": "llama",
    "mistral": "llama",
    "mixtral": "llama",
    "qwen3": "qwen3",
    "qwen3_moe": "qwen3moe",
    "qwen3_next": "qwen3next",
    "qwen3_5_moe": "qwen35moe",
    "qwen3_5_moe_text": "qwen35moe",
    "deepseek_v3": "deepseek2",
    "deepseek_v2": "deepseek2",
    "glm4_moe": "glm4moe",
    "gpt_oss": "gpt-oss",
    "gemma3": "gemma3",
    "gemma3_text": "gemma3",
}
#: tie_word_embeddings when the config leaves it out (transformers' defaults).
_TIED_BY_DEFAULT = {"gemma3"}
#: HF quantization_config.quant_method -> vLLM format.
_VLLM_BY_QUANT_METHOD = {
    "fp8": "FP8",
    "awq": "AWQ",
    "gptq": "GPTQ",
    "mxfp4": "MXFP4",
    "modelopt": "NVFP4",
}
DEFAULT_GGUF_FORMATS = ("Q3_K_M", "IQ4_XS", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0", "BF16")


def _load(path: Path) -> tuple[Path, dict[str, Any]]:
    file = path / "config.json" if path.is_dir() else path
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CatalogError(f"{file}: no such file") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CatalogError(f"{file}: not a readable config.json: {exc}") from exc
    if not isinstance(data, dict):
        raise CatalogError(f"{file}: expected a JSON object")
    return file, data


def _flatten(config: dict[str, Any]) -> dict[str, Any]:
    text = config.get("text_config")
    return {**config, **text} if isinstance(text, dict) else dict(config)


def _moe(c: dict[str, Any]) -> MoeSpec | None:
    experts = c.get("num_experts") or c.get("num_local_experts") or c.get("n_routed_experts")
    if not experts or experts < 2:
        return None
    expert_ffn = c.get("moe_intermediate_size") or c["intermediate_size"]
    shared = c.get("n_shared_experts") or 0
    shared_ffn = expert_ffn if shared else None
    if c.get("shared_expert_intermediate_size"):  # Qwen3-Next / Qwen3.5: one shared expert
        shared, shared_ffn = 1, c["shared_expert_intermediate_size"]
    return MoeSpec(
        experts=experts,
        active=c.get("num_experts_per_tok") or c.get("experts_per_token") or 1,
        expert_ffn=expert_ffn,
        shared_experts=shared,
        shared_ffn=shared_ffn,
        first_dense_layers=c.get("first_k_dense_replace") or 0,
    )


def _mla(c: dict[str, Any]) -> MlaSpec | None:
    if not c.get("kv_lora_rank"):
        return None
    return MlaSpec(
        q_lora_rank=c.get("q_lora_rank"),
        kv_lora_rank=c["kv_lora_rank"],
        qk_nope_head_dim=c["qk_nope_head_dim"],
        qk_rope_head_dim=c["qk_rope_head_dim"],
        v_head_dim=c["v_head_dim"],
    )


def _layer_count(c: dict[str, Any], kind: str) -> int | None:
    types = c.get("layer_types")
    return sum(t == kind for t in types) if isinstance(types, list) else None


def _sliding(c: dict[str, Any], layers: int) -> SlidingWindowSpec | None:
    window = c.get("sliding_window")
    if not window or c.get("use_sliding_window") is False:
        return None
    swa = _layer_count(c, "sliding_attention")
    if swa is None:
        pattern = c.get("sliding_window_pattern")
        swa = layers - layers // pattern if pattern else layers
    return SlidingWindowSpec(window=window, swa_layers=swa) if swa else None


def _linear(c: dict[str, Any], layers: int) -> LinearAttentionSpec | None:
    if not c.get("linear_num_value_heads"):
        return None
    linear = _layer_count(c, "linear_attention")
    if linear is None:
        linear = layers - layers // (c.get("full_attention_interval") or 4)
    return LinearAttentionSpec(
        layers=linear,
        key_heads=c["linear_num_key_heads"],
        value_heads=c["linear_num_value_heads"],
        key_head_dim=c["linear_key_head_dim"],
        value_head_dim=c["linear_value_head_dim"],
        conv_kernel=c.get("linear_conv_kernel_dim") or 4,
    )


def _license(directory: Path) -> str:
    """The ``license:`` of a model card's front matter next to config.json, if any."""
    card = directory / "README.md"
    if card.is_file():
        match = re.search(r"^license:\s*(\S+)", card.read_text("utf-8", "replace"), re.M)
        if match:
            return match.group(1).strip("'\"")
    return "unknown"


def _params(spec: ModelSpec) -> tuple[float, float]:
    from moefleet.plan.tensors import model_tensors  # noqa: PLC0415

    tensors = model_tensors(spec)
    total = sum(t.elements for t in tensors)
    experts = sum(t.elements for t in tensors if t.is_expert)
    unused = experts * (1 - spec.moe.active / spec.moe.experts) if spec.moe else 0
    return total / 1e9, (total - unused) / 1e9


def _fields(c: dict[str, Any], arch: str) -> dict[str, Any]:
    layers = c["num_hidden_layers"]
    heads = c["num_attention_heads"]
    moe, mla = _moe(c), _mla(c)
    head_dim = c.get("head_dim") or c["hidden_size"] // heads
    if mla is not None:
        head_dim = mla.qk_nope_head_dim + mla.qk_rope_head_dim
    linear = _linear(c, layers)
    dense = moe is None or moe.first_dense_layers > 0
    quant = (c.get("quantization_config") or {}).get("quant_method")
    return {
        "arch": arch,
        "layers": layers,
        "hidden": c["hidden_size"],
        "heads": heads,
        "kv_heads": c.get("num_key_value_heads") or heads,
        "head_dim": head_dim,
        "vocab": c["vocab_size"],
        "ffn": c.get("intermediate_size") if dense else None,
        "tied_embeddings": bool(c.get("tie_word_embeddings", arch in _TIED_BY_DEFAULT)),
        "max_context": c.get("max_position_embeddings") or 4096,
        "moe": moe,
        "mla": mla,
        "sliding_window": _sliding(c, layers),
        "linear_attention": linear,
        "gated_attention": linear is not None,
        "gguf_formats": ("MXFP4_MOE",) if arch == "gpt-oss" else DEFAULT_GGUF_FORMATS,
        "native_gguf": "MXFP4_MOE" if arch == "gpt-oss" else "BF16",
        "vllm_formats": (_VLLM_BY_QUANT_METHOD.get(str(quant), "BF16") if quant else "BF16",),
    }


def spec_from_hf_config(path: Path | str, id: str | None = None) -> ModelSpec:
    """The ModelSpec of a HF ``config.json`` (or a directory holding one)."""
    file, config = _load(Path(path))
    c = _flatten(config)
    model_type = str(config.get("model_type") or c.get("model_type") or "")
    arch = ARCH_BY_MODEL_TYPE.get(model_type)
    if arch is None:
        known = ", ".join(sorted(ARCH_BY_MODEL_TYPE))
        raise CatalogError(f"{file}: model_type {model_type!r} is not supported", f"known: {known}")
    name = file.parent.name or "model"
    try:
        fields = _fields(c, arch)
        draft = ModelSpec(
            id=id or re.sub(r"[^a-z0-9.]+", "-", name.lower()).strip("-") or "model",
            name=name,
            license=_license(file.parent),
            source=f"config.json at {file.resolve()}",
            total_params_b=1.0,
            active_params_b=1.0,
            **fields,
        )
    except KeyError as exc:
        raise CatalogError(
            f"{file}: {exc.args[0]}: missing (needed for a {model_type} model)"
        ) from exc
    except (TypeError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        raise CatalogError(f"{file}: not a usable {model_type} config: {exc}") from exc
    total, active = _params(draft)
    return draft.model_copy(update={"total_params_b": total, "active_params_b": active})
