"""Write small GGUF files (zero weights, real architecture metadata) for the catalog tests."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np

from moefleet.catalog.model import ModelSpec
from moefleet.plan.tensors import model_tensors


def _metadata(w: gguf.GGUFWriter, spec: ModelSpec) -> None:
    w.add_block_count(spec.layers)
    w.add_context_length(spec.max_context)
    w.add_embedding_length(spec.hidden)
    w.add_head_count(spec.heads)
    w.add_head_count_kv(spec.kv_heads)
    w.add_key_length(spec.head_dim)
    if spec.ffn:
        w.add_feed_forward_length(spec.ffn)
    if spec.moe:
        w.add_expert_count(spec.moe.experts)
        w.add_expert_used_count(spec.moe.active)
        w.add_expert_feed_forward_length(spec.moe.expert_ffn)
        if spec.moe.shared_experts:
            w.add_expert_shared_count(spec.moe.shared_experts)
        if spec.moe.first_dense_layers:
            w.add_leading_dense_block_count(spec.moe.first_dense_layers)
    if spec.mla:
        if spec.mla.q_lora_rank:
            w.add_q_lora_rank(spec.mla.q_lora_rank)
        w.add_kv_lora_rank(spec.mla.kv_lora_rank)
        w.add_rope_dimension_count(spec.mla.qk_rope_head_dim)
        w.add_value_length(spec.mla.v_head_dim)
    if spec.sliding_window:
        w.add_sliding_window(spec.sliding_window.window)
    lin = spec.linear_attention
    if lin:
        w.add_ssm_conv_kernel(lin.conv_kernel)
        w.add_ssm_state_size(lin.key_head_dim)
        w.add_ssm_group_count(lin.key_heads)
        w.add_ssm_time_step_rank(lin.value_heads)
        w.add_ssm_inner_size(lin.value_heads * lin.value_head_dim)


def write_gguf(path: Path, spec: ModelSpec, file_type: int = gguf.LlamaFileType.MOSTLY_F16) -> Path:
    """A GGUF holding ``spec``'s llama.cpp tensor inventory (F16 matrices, F32 vectors)."""
    w = gguf.GGUFWriter(path, spec.arch)
    w.add_name(spec.name)
    w.add_license(spec.license)
    w.add_file_type(int(file_type))
    _metadata(w, spec)
    for t in model_tensors(spec):
        dtype = np.float32 if len(t.shape) == 1 else np.float16
        w.add_tensor(t.name, np.zeros(tuple(reversed(t.shape)), dtype=dtype))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def tiny(arch: str, **fields: object) -> ModelSpec:
    """A few-layer model with n_embd 64 of ``arch`` (fields override)."""
    base: dict[str, object] = {
        "id": f"tiny-{arch}",
        "name": f"Tiny {arch}",
        "arch": arch,
        "license": "MIT",
        "source": "test",
        "total_params_b": 1.0,
        "active_params_b": 1.0,
        "layers": 4,
        "hidden": 64,
        "heads": 4,
        "kv_heads": 2,
        "head_dim": 16,
        "vocab": 256,
        "ffn": 128,
        "max_context": 2048,
    }
    base.update(fields)
    return ModelSpec.model_validate(base)
