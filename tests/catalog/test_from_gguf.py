"""spec_from_gguf: a GGUF written here from a spec reads back as the same architecture."""

from __future__ import annotations

from pathlib import Path

import gguf
import pytest

from moefleet.catalog.from_gguf import spec_from_gguf
from moefleet.catalog.load import CatalogError
from moefleet.catalog.model import ModelSpec
from moefleet.plan.tensors import model_tensors, parameter_count
from tests.catalog.ggufs import tiny, write_gguf

ARCH_FIELDS = (
    "arch",
    "layers",
    "hidden",
    "heads",
    "kv_heads",
    "head_dim",
    "vocab",
    "ffn",
    "tied_embeddings",
    "max_context",
    "moe",
    "mla",
    "sliding_window",
    "linear_attention",
    "gated_attention",
)

TINY = {
    "llama": tiny("llama"),
    "qwen3moe": tiny("qwen3moe", ffn=None, moe={"experts": 4, "active": 2, "expert_ffn": 32}),
    "gpt-oss": tiny(
        "gpt-oss",
        ffn=None,
        moe={"experts": 4, "active": 2, "expert_ffn": 64},
        sliding_window={"window": 128, "swa_layers": 2},
        native_gguf="MXFP4_MOE",
    ),
    "gemma3": tiny(
        "gemma3", layers=6, tied_embeddings=True, sliding_window={"window": 32, "swa_layers": 5}
    ),
    "qwen35moe": tiny(
        "qwen35moe",
        ffn=None,
        gated_attention=True,
        moe={"experts": 8, "active": 2, "expert_ffn": 32, "shared_experts": 1, "shared_ffn": 32},
        linear_attention={
            "layers": 3,
            "key_heads": 2,
            "value_heads": 4,
            "key_head_dim": 16,
            "value_head_dim": 16,
        },
    ),
    "deepseek2": tiny(
        "deepseek2",
        layers=3,
        head_dim=24,
        kv_heads=4,
        moe={
            "experts": 4,
            "active": 2,
            "expert_ffn": 32,
            "shared_experts": 1,
            "shared_ffn": 32,
            "first_dense_layers": 1,
        },
        mla={
            "q_lora_rank": 32,
            "kv_lora_rank": 32,
            "qk_nope_head_dim": 16,
            "qk_rope_head_dim": 8,
            "v_head_dim": 16,
        },
    ),
}


def _arch(spec: ModelSpec) -> dict[str, object]:
    return {name: getattr(spec, name) for name in ARCH_FIELDS}


@pytest.mark.parametrize("arch", sorted(TINY))
def test_round_trip(tmp_path: Path, arch: str) -> None:
    spec = TINY[arch]
    path = write_gguf(tmp_path / f"{arch}.gguf", spec)
    read, tensors = spec_from_gguf(path)
    assert _arch(read) == _arch(spec)
    expected = model_tensors(spec)
    assert [t.name for t in tensors] == [t.name for t in expected]
    assert [t.shape for t in tensors] == [t.shape for t in expected]
    assert read.total_params_b * 1e9 == pytest.approx(parameter_count(expected), rel=1e-9)
    assert read.name == spec.name
    assert read.license == "MIT"


def test_tensor_table_has_types_and_bytes(tmp_path: Path) -> None:
    _, tensors = spec_from_gguf(write_gguf(tmp_path / "m.gguf", TINY["llama"]))
    by_name = {t.name: t for t in tensors}
    embd = by_name["token_embd.weight"]
    assert (embd.shape, embd.type, embd.nbytes) == ((64, 256), "F16", 64 * 256 * 2)
    assert by_name["blk.0.attn_norm.weight"].type == "F32"


def test_active_params_count_only_routed_experts_in_use(tmp_path: Path) -> None:
    spec = TINY["qwen3moe"]
    read, _ = spec_from_gguf(write_gguf(tmp_path / "moe.gguf", spec))
    experts = sum(t.elements for t in model_tensors(spec) if t.is_expert)
    assert experts > 0
    unused = (read.total_params_b - read.active_params_b) * 1e9
    assert unused == pytest.approx(experts / 2, rel=1e-9)  # 2 of 4 experts idle


def test_file_type_names_the_mix(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "g.gguf", TINY["gpt-oss"], gguf.LlamaFileType.MOSTLY_MXFP4_MOE)
    read, _ = spec_from_gguf(path, "my-oss")
    assert read.id == "my-oss"
    assert read.gguf_formats == ("MXFP4_MOE",)
    assert read.native_gguf == "MXFP4_MOE"
    path = write_gguf(tmp_path / "q.gguf", TINY["llama"], gguf.LlamaFileType.MOSTLY_Q4_K_M)
    assert spec_from_gguf(path)[0].gguf_formats == ("Q4_K_M",)


def test_id_is_slug_of_general_name(tmp_path: Path) -> None:
    read, _ = spec_from_gguf(write_gguf(tmp_path / "m.gguf", TINY["qwen3moe"]))
    assert read.id == "tiny-qwen3moe"


def test_not_a_gguf_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.gguf"
    path.write_bytes(b"definitely not gguf" * 10)
    with pytest.raises(CatalogError, match=r"junk\.gguf: not a readable GGUF file"):
        spec_from_gguf(path)
