"""spec_from_hf_config on config.json files written from the published configs' numbers
(the planner fact base's `models`): each must describe the packaged catalog's architecture."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from moefleet.catalog.from_hf_config import spec_from_hf_config
from moefleet.catalog.load import CatalogError, packaged_catalog
from tests.catalog.test_from_gguf import ARCH_FIELDS

QWEN3_30B = {
    "model_type": "qwen3_moe",
    "num_hidden_layers": 48,
    "hidden_size": 2048,
    "num_attention_heads": 32,
    "num_key_value_heads": 4,
    "head_dim": 128,
    "num_experts": 128,
    "num_experts_per_tok": 8,
    "moe_intermediate_size": 768,
    "intermediate_size": 6144,
    "vocab_size": 151936,
    "max_position_embeddings": 40960,
    "tie_word_embeddings": False,
    "sliding_window": None,
    "use_sliding_window": False,
}
CONFIGS: dict[str, dict[str, Any]] = {
    "qwen3-30b-a3b": QWEN3_30B,
    "qwen3-14b": {
        "model_type": "qwen3",
        "num_hidden_layers": 40,
        "hidden_size": 5120,
        "num_attention_heads": 40,
        "num_key_value_heads": 8,
        "head_dim": 128,
        "intermediate_size": 17408,
        "vocab_size": 151936,
        "max_position_embeddings": 40960,
        "tie_word_embeddings": False,
        "use_sliding_window": False,
        "sliding_window": None,
    },
    "mixtral-8x7b": {
        "model_type": "mixtral",
        "num_hidden_layers": 32,
        "hidden_size": 4096,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "num_local_experts": 8,
        "num_experts_per_tok": 2,
        "intermediate_size": 14336,
        "vocab_size": 32000,
        "max_position_embeddings": 32768,
        "sliding_window": None,
        "tie_word_embeddings": False,
    },
    "deepseek-v3": {
        "model_type": "deepseek_v3",
        "num_hidden_layers": 61,
        "hidden_size": 7168,
        "num_attention_heads": 128,
        "num_key_value_heads": 128,
        "q_lora_rank": 1536,
        "kv_lora_rank": 512,
        "qk_nope_head_dim": 128,
        "qk_rope_head_dim": 64,
        "v_head_dim": 128,
        "n_routed_experts": 256,
        "n_shared_experts": 1,
        "num_experts_per_tok": 8,
        "moe_intermediate_size": 2048,
        "intermediate_size": 18432,
        "first_k_dense_replace": 3,
        "vocab_size": 129280,
        "max_position_embeddings": 163840,
        "tie_word_embeddings": False,
        "quantization_config": {"quant_method": "fp8", "weight_block_size": [128, 128]},
    },
    "glm-4-5-air": {
        "model_type": "glm4_moe",
        "num_hidden_layers": 46,
        "hidden_size": 4096,
        "num_attention_heads": 96,
        "num_key_value_heads": 8,
        "head_dim": 128,
        "n_routed_experts": 128,
        "n_shared_experts": 1,
        "num_experts_per_tok": 8,
        "moe_intermediate_size": 1408,
        "intermediate_size": 10944,
        "first_k_dense_replace": 1,
        "vocab_size": 151552,
        "max_position_embeddings": 131072,
        "tie_word_embeddings": False,
    },
    "gpt-oss-20b": {
        "model_type": "gpt_oss",
        "num_hidden_layers": 24,
        "hidden_size": 2880,
        "num_attention_heads": 64,
        "num_key_value_heads": 8,
        "head_dim": 64,
        "num_local_experts": 32,
        "experts_per_token": 4,
        "num_experts_per_tok": 4,
        "intermediate_size": 2880,
        "vocab_size": 201088,
        "max_position_embeddings": 131072,
        "sliding_window": 128,
        "layer_types": ["sliding_attention", "full_attention"] * 12,
        "tie_word_embeddings": False,
        "quantization_config": {"quant_method": "mxfp4"},
    },
    "gemma-3-27b": {
        "model_type": "gemma3",
        "text_config": {
            "model_type": "gemma3_text",
            "num_hidden_layers": 62,
            "hidden_size": 5376,
            "num_attention_heads": 32,
            "num_key_value_heads": 16,
            "head_dim": 128,
            "intermediate_size": 21504,
            "vocab_size": 262208,
            "max_position_embeddings": 131072,
            "sliding_window": 1024,
            "sliding_window_pattern": 6,
        },
        "vision_config": {"model_type": "siglip_vision_model", "num_hidden_layers": 27},
    },
    "qwen3.6-35b-a3b": {
        "model_type": "qwen3_5_moe",
        "tie_word_embeddings": False,
        "text_config": {
            "model_type": "qwen3_5_moe_text",
            "num_hidden_layers": 40,
            "hidden_size": 2048,
            "num_attention_heads": 16,
            "num_key_value_heads": 2,
            "head_dim": 256,
            "num_experts": 256,
            "num_experts_per_tok": 8,
            "moe_intermediate_size": 512,
            "shared_expert_intermediate_size": 512,
            "vocab_size": 248320,
            "max_position_embeddings": 262144,
            "full_attention_interval": 4,
            "linear_num_key_heads": 16,
            "linear_num_value_heads": 32,
            "linear_key_head_dim": 128,
            "linear_value_head_dim": 128,
            "linear_conv_kernel_dim": 4,
        },
    },
    "qwen3-next-80b-a3b": {
        "model_type": "qwen3_next",
        "num_hidden_layers": 48,
        "hidden_size": 2048,
        "num_attention_heads": 16,
        "num_key_value_heads": 2,
        "head_dim": 256,
        "num_experts": 512,
        "num_experts_per_tok": 10,
        "moe_intermediate_size": 512,
        "shared_expert_intermediate_size": 512,
        "intermediate_size": 5120,
        "vocab_size": 151936,
        "max_position_embeddings": 262144,
        "full_attention_interval": 4,
        "linear_num_key_heads": 16,
        "linear_num_value_heads": 32,
        "linear_key_head_dim": 128,
        "linear_value_head_dim": 128,
        "linear_conv_kernel_dim": 4,
        "tie_word_embeddings": False,
    },
    "llama-3-1-8b": {
        "model_type": "llama",
        "num_hidden_layers": 32,
        "hidden_size": 4096,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "intermediate_size": 14336,
        "vocab_size": 128256,
        "max_position_embeddings": 131072,
        "tie_word_embeddings": False,
    },
}


def _write(directory: Path, config: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


@pytest.mark.parametrize("model_id", sorted(CONFIGS))
def test_config_matches_catalog_architecture(tmp_path: Path, model_id: str) -> None:
    expected = packaged_catalog().models[model_id]
    spec = spec_from_hf_config(_write(tmp_path / expected.name, CONFIGS[model_id]), model_id)
    assert {f: getattr(spec, f) for f in ARCH_FIELDS} == {
        f: getattr(expected, f) for f in ARCH_FIELDS
    }
    assert spec.total_params_b == pytest.approx(expected.total_params_b, rel=0.015)
    assert spec.active_params_b <= spec.total_params_b


def test_directory_id_name_and_license_from_model_card(tmp_path: Path) -> None:
    directory = tmp_path / "Qwen3-30B-A3B"
    _write(directory, QWEN3_30B)
    (directory / "README.md").write_text("---\nlicense: apache-2.0\n---\n# Qwen3\n")
    spec = spec_from_hf_config(directory)
    assert (spec.id, spec.name, spec.license) == ("qwen3-30b-a3b", "Qwen3-30B-A3B", "apache-2.0")
    assert spec.total_params_b == pytest.approx(30.532, abs=0.001)
    # 8 of 128 experts in use: 3.3B active (model card), within rounding
    assert spec.active_params_b == pytest.approx(3.3, rel=0.03)


def test_quantization_config_names_vllm_format(tmp_path: Path) -> None:
    oss = spec_from_hf_config(_write(tmp_path / "oss", CONFIGS["gpt-oss-20b"]))
    assert oss.vllm_formats == ("MXFP4",)
    assert oss.gguf_formats == ("MXFP4_MOE",)
    assert spec_from_hf_config(_write(tmp_path / "q", QWEN3_30B)).vllm_formats == ("BF16",)


def test_unknown_model_type(tmp_path: Path) -> None:
    path = _write(tmp_path / "m", {**QWEN3_30B, "model_type": "bert"})
    with pytest.raises(CatalogError, match=r"model_type 'bert' is not supported") as info:
        spec_from_hf_config(path)
    assert info.value.hint is not None and "qwen3_moe" in info.value.hint


def test_missing_field_names_it(tmp_path: Path) -> None:
    config = {k: v for k, v in QWEN3_30B.items() if k != "num_hidden_layers"}
    with pytest.raises(CatalogError, match=r"config\.json: num_hidden_layers: missing"):
        spec_from_hf_config(_write(tmp_path / "m", config))


def test_not_json(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text("{nope")
    with pytest.raises(CatalogError, match=r"not a readable config\.json"):
        spec_from_hf_config(path)
