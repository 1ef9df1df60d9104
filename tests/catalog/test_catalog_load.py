"""The packaged catalog: loads, agrees with the planner's byte maths, finds GPUs by name;
user catalogs override by id and bad ones fail with one file/key message."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from moefleet.catalog.load import (
    CatalogError,
    load_catalog,
    packaged_catalog,
    user_catalog_path,
)
from moefleet.plan.quant_mix import DEFAULT_TYPE
from moefleet.plan.weights import model_weights

GIB = 1024**3


@pytest.fixture(autouse=True)
def _no_user_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOEFLEET_CATALOG", str(tmp_path / "absent.toml"))


def test_packaged_catalog_has_the_planner_models() -> None:
    catalog = load_catalog()
    assert catalog is packaged_catalog()  # cached: no user file, no extras
    for model_id in (
        "qwen3-30b-a3b",
        "qwen3.6-35b-a3b",
        "qwen3-235b-a22b",
        "qwen3-8b",
        "qwen3-14b",
        "qwen3-32b",
        "mixtral-8x7b",
        "mixtral-8x22b",
        "deepseek-v3",
        "glm-4-5-air",
        "gpt-oss-20b",
        "gpt-oss-120b",
        "llama-3-1-8b",
        "llama-3-3-70b",
        "gemma-3-27b",
        "qwen3-next-80b-a3b",
    ):
        spec = catalog.model(model_id)
        assert spec.source.startswith("https://huggingface.co/")
        assert spec.license and spec.gguf_formats and spec.vllm_formats


@pytest.mark.parametrize("model_id", sorted(packaged_catalog().models))
def test_bf16_weights_match_declared_params(model_id: str) -> None:
    spec = packaged_catalog().models[model_id]
    declared = spec.total_params_b * 1e9 * 2
    assert model_weights(spec, "BF16").total == pytest.approx(declared, rel=0.015)


@pytest.mark.parametrize(
    ("model_id", "mix", "gib", "rel"),
    [
        ("qwen3-30b-a3b", "BF16", 56.89, 0.0005),  # llama.cpp print_info
        ("qwen3-14b", "BF16", 27.5, 0.005),  # seed 002
        ("qwen3-30b-a3b", "Q4_K_M", 17.28, 0.001),  # llama-bench, planner_facts measurements
        ("gpt-oss-20b", "MXFP4_MOE", 11.27, 0.005),  # ggml-org GGUF (+biases not modelled)
    ],
)
def test_hand_checked_sizes(model_id: str, mix: str, gib: float, rel: float) -> None:
    spec = packaged_catalog().models[model_id]
    assert model_weights(spec, mix).total / GIB == pytest.approx(gib, rel=rel)


def test_gguf_mixes_agree_with_llama_quantize_rules() -> None:
    mixes = packaged_catalog().gguf_mixes
    assert set(mixes) == set(DEFAULT_TYPE) - {"F32"}
    for name, mix in mixes.items():
        assert mix.name == name
        assert mix.default_type == DEFAULT_TYPE[name]
    ranks = [m.quality_rank for m in mixes.values()]
    assert len(set(ranks)) == len(ranks)
    assert mixes["BF16"].quality_rank > mixes["Q8_0"].quality_rank > mixes["Q4_K_M"].quality_rank
    assert mixes["Q4_K_M"].quality_rank > mixes["Q3_K_M"].quality_rank > mixes["Q2_K"].quality_rank
    risky = {n for n, m in mixes.items() if m.moe_risky}
    assert {"Q2_K", "Q3_K_M", "Q3_K_S", "IQ3_XXS", "IQ2_XS", "IQ1_S"} <= risky
    assert not risky & {"Q4_K_M", "IQ4_XS", "Q5_K_M", "Q6_K", "Q8_0", "BF16", "MXFP4_MOE"}


def test_vllm_formats() -> None:
    formats = packaged_catalog().vllm_formats
    assert set(formats) == {"BF16", "FP8", "AWQ", "GPTQ", "MXFP4", "NVFP4"}
    assert formats["FP8"].min_compute_capability == 8.9
    assert formats["NVFP4"].min_compute_capability == 10.0
    assert formats["AWQ"].min_compute_capability == 7.5
    assert formats["MXFP4"].bits_per_weight == 4.25
    assert all(f.source for f in formats.values())


@pytest.mark.parametrize(
    ("name", "product"),
    [
        ("NVIDIA GeForce RTX 4090", "GeForce RTX 4090"),
        ("NVIDIA H100 80GB HBM3", "H100 SXM5"),
        ("NVIDIA H100 PCIe", "H100 PCIe"),
        ("NVIDIA RTX A6000", "RTX A6000"),
        ("NVIDIA GeForce RTX 4080 SUPER", "GeForce RTX 4080 SUPER"),
        ("Quadro RTX 5000", "Quadro RTX 5000"),
        ("NVIDIA H200", "H200"),
        ("NVIDIA GeForce RTX 3090", "GeForce RTX 3090"),
        ("NVIDIA GeForce RTX 5090", "GeForce RTX 5090"),
        ("NVIDIA A100-SXM4-80GB", "A100 80GB SXM4"),
        ("A100-SXM4-40GB", "A100 40GB SXM4"),
        ("NVIDIA A100-SXM...", "A100 40GB SXM4"),  # truncated table name: conservative
        ("NVIDIA A100 80GB PCIe", "A100 80GB PCIe"),
        ("NVIDIA L40S", "NVIDIA L40S"),
        ("NVIDIA L4", "NVIDIA L4"),
        ("Tesla T4", "Tesla T4"),
        ("Tesla V100-SXM2-32GB", "Tesla V100 SXM2"),
        ("NVIDIA RTX 6000 Ada Generation", "RTX 6000 Ada Generation"),
        ("NVIDIA RTX PRO 6000 Blackwell Workstation Edition", "RTX PRO 6000 Blackwell"),
        ("  nvidia   geforce rtx 4090 ", "GeForce RTX 4090"),
    ],
)
def test_find_gpu(name: str, product: str) -> None:
    gpu = packaged_catalog().find_gpu(name)
    assert gpu is not None and gpu.name == product


@pytest.mark.parametrize(
    "name",
    [
        "NVIDIA GeForce RTX 4080",  # not SUPER: a different product, not in the catalog
        "NVIDIA GeForce RTX 3090 Ti",
        "NVIDIA GeForce RTX 4090 Laptop GPU",
        "NVIDIA A10G",  # not "a10"
        "NVIDIA L40",  # not "l4"
        "NVIDIA GH200 480GB",  # not "h200"
        "Tesla V100S-PCIE-32GB",
        "AMD Instinct MI300X",
        "",
    ],
)
def test_find_gpu_refuses_near_misses(name: str) -> None:
    assert packaged_catalog().find_gpu(name) is None


def test_user_catalog_overrides_by_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    user = tmp_path / "user.toml"
    user.write_text(
        '[models.qwen3-8b]\nname = "Mine"\narch = "qwen3"\nlicense = "x"\nsource = "me"\n'
        "total_params_b = 8.2\nactive_params_b = 8.2\nlayers = 36\nhidden = 4096\n"
        "heads = 32\nkv_heads = 8\nhead_dim = 128\nvocab = 151936\nffn = 12288\n"
        'max_context = 8192\ngguf_formats = ["Q4_K_M"]\n'
        '[gpus.rtx-4090]\nname = "My 4090"\nmatch = ["rtx 4090"]\nvram_gib = 24\n'
        'memory_bandwidth_gbs = 900\nfp16_tflops = 150\ncompute_capability = "8.9"\n'
        'source = "measured"\n'
    )
    monkeypatch.setenv("MOEFLEET_CATALOG", str(user))
    assert user_catalog_path() == user
    catalog = load_catalog()
    assert catalog.model("qwen3-8b").name == "Mine"
    assert catalog.model("qwen3-8b").max_context == 8192
    assert catalog.model("qwen3-14b") == packaged_catalog().model("qwen3-14b")
    gpu = catalog.find_gpu("NVIDIA GeForce RTX 4090")
    assert gpu is not None and gpu.memory_bandwidth_gbs == 900
    assert catalog.files[-1] == str(user)
    assert packaged_catalog().model("qwen3-8b").name == "Qwen3-8B"  # cache untouched
    assert load_catalog(user=False) is packaged_catalog()


GOOD_MOE = (
    '[models.m]\nname = "M"\narch = "qwen3moe"\nlicense = "x"\nsource = "y"\n'
    "total_params_b = 1\nactive_params_b = 1\nlayers = 2\nhidden = 64\nheads = 4\n"
    "kv_heads = 2\nhead_dim = 16\nvocab = 100\nmax_context = 1024\n"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            GOOD_MOE + 'moe = { experts = "many", active = 2, expert_ffn = 32 }\n',
            r"models\.m\.moe\.experts: expected an integer \(got 'many'\)",
        ),
        (
            GOOD_MOE + "moe = { experts = 4, active = 8, expert_ffn = 32 }\n",
            r"models\.m\.moe: active experts cannot exceed experts",
        ),
        (GOOD_MOE.replace("layers = 2", "layerz = 2"), r"models\.m\.layerz: unknown key"),
        (GOOD_MOE.replace("[models.m]\n", '[models.m]\nid = "other"\n'), r"models\.m\.id: must"),
        (GOOD_MOE + "ffn = 64\ngguf_formats = ['Q4_K_Z']\n", r"models\.m\.gguf_formats\[0\]"),
        ("[models.m\n", r"invalid TOML"),
        ('[gpu.x]\nname = "x"\n', r": gpu: unknown key"),
    ],
)
def test_bad_user_catalog_is_one_message(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(CatalogError) as info:
        load_catalog([path])
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert "Traceback" not in message
    assert re.search(expected, message), message


def test_missing_explicit_catalog(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match=r"absent2\.toml: no such catalog file"):
        load_catalog([tmp_path / "absent2.toml"])


def test_unknown_model_lists_known_ids() -> None:
    with pytest.raises(CatalogError, match="unknown model 'nope'") as info:
        packaged_catalog().model("nope")
    assert info.value.hint is not None and "qwen3-30b-a3b" in info.value.hint
