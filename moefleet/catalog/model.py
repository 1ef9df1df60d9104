"""The catalog's schema: model architectures, quantization formats and GPU specs.

Everything here is data with a cited source; the maths that turns it into bytes and tokens/s
lives in ``moefleet.plan``. Fields mirror Hugging Face ``config.json`` names where one exists.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Engine = Literal["llama.cpp", "vllm"]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MoeSpec(_Spec):
    """Mixture-of-experts FFN: routed experts, optional shared experts, leading dense layers."""

    experts: int = Field(gt=1, description="routed experts per MoE layer (num_experts)")
    active: int = Field(gt=0, description="experts each token is routed to (num_experts_per_tok)")
    expert_ffn: int = Field(gt=0, description="intermediate size of one expert")
    shared_experts: int = Field(default=0, ge=0)
    shared_ffn: int | None = Field(default=None, description="intermediate size of a shared expert")
    first_dense_layers: int = Field(
        default=0, ge=0, description="leading layers with a dense FFN (first_k_dense_replace)"
    )

    @model_validator(mode="after")
    def _check(self) -> MoeSpec:
        if self.active > self.experts:
            raise ValueError("active experts cannot exceed experts")
        if self.shared_experts and not self.shared_ffn:
            raise ValueError("shared_ffn is required with shared_experts")
        return self


class MlaSpec(_Spec):
    """DeepSeek multi-head latent attention (the KV cache holds a compressed latent)."""

    q_lora_rank: int | None = None
    kv_lora_rank: int
    qk_nope_head_dim: int
    qk_rope_head_dim: int
    v_head_dim: int


class SlidingWindowSpec(_Spec):
    """Layers that attend only to the last ``window`` tokens (interleaved SWA)."""

    window: int = Field(gt=0)
    swa_layers: int = Field(ge=0, description="how many of the layers use the window")


class LinearAttentionSpec(_Spec):
    """Hybrid recurrent layers (Gated DeltaNet): a fixed-size state per sequence, no KV."""

    layers: int = Field(ge=0, description="layers with linear attention (the rest have KV)")
    key_heads: int
    value_heads: int
    key_head_dim: int
    value_head_dim: int
    conv_kernel: int = 4
    state_bytes_per_element: int = Field(default=4, description="recurrent state dtype (fp32)")


class ModelSpec(_Spec):
    """One model architecture with where its numbers come from."""

    id: str = Field(description="catalog key, e.g. 'qwen3-30b-a3b'")
    name: str = Field(description="display name, e.g. 'Qwen3-30B-A3B'")
    arch: str = Field(description="llama.cpp architecture name (general.architecture)")
    hf_repo: str | None = None
    license: str
    source: str
    total_params_b: float = Field(gt=0, description="declared total parameters (billions)")
    active_params_b: float = Field(gt=0, description="declared active parameters per token")
    layers: int = Field(gt=0)
    hidden: int = Field(gt=0)
    heads: int = Field(gt=0)
    kv_heads: int = Field(gt=0)
    head_dim: int = Field(gt=0)
    vocab: int = Field(gt=0)
    ffn: int | None = Field(default=None, description="dense FFN intermediate size")
    tied_embeddings: bool = False
    max_context: int = Field(gt=0)
    moe: MoeSpec | None = None
    mla: MlaSpec | None = None
    sliding_window: SlidingWindowSpec | None = None
    linear_attention: LinearAttentionSpec | None = None
    gated_attention: bool = Field(
        default=False, description="attention output gate doubles the q projection (Qwen3.5/Next)"
    )
    quality: float | None = Field(
        default=None,
        description="a quality score to use instead of the sqrt(total x active) proxy, if known",
    )
    gguf_formats: tuple[str, ...] = Field(
        default=(), description="llama-quantize mixes published or producible (e.g. Q4_K_M)"
    )
    vllm_formats: tuple[str, ...] = Field(
        default=(), description="vLLM checkpoint formats available (BF16, FP8, AWQ...)"
    )
    native_gguf: str = Field(
        default="BF16", description="the mix of the reference GGUF (MXFP4 for gpt-oss)"
    )
    trust_remote_code: bool = Field(
        default=False, description="vLLM needs --trust-remote-code (explicit opt-in)"
    )

    @property
    def is_moe(self) -> bool:
        return self.moe is not None

    @model_validator(mode="after")
    def _check(self) -> ModelSpec:
        if self.moe is None and self.ffn is None:
            raise ValueError("a dense model needs ffn (intermediate size)")
        if self.moe is not None and self.moe.first_dense_layers and self.ffn is None:
            raise ValueError("first_dense_layers needs ffn for the dense layers")
        if self.active_params_b > self.total_params_b:
            raise ValueError("active_params_b cannot exceed total_params_b")
        return self


class GpuSpec(_Spec):
    """A GPU product's throughput figures (matched to probed names by ``match``)."""

    name: str
    match: tuple[str, ...] = Field(description="lower-case substrings of nvidia-smi names")
    vram_gib: float
    memory_bandwidth_gbs: float = Field(gt=0)
    fp16_tflops: float = Field(gt=0, description="dense FP16/BF16 tensor TFLOPS")
    compute_capability: str
    pcie_gen: int | None = None
    tdp_w: float | None = None
    source: str


class GgufMix(_Spec):
    """A llama-quantize file type: its default tensor type and how risky it is."""

    name: str
    default_type: str = Field(description="GGML type most tensors get (Q4_K for Q4_K_M)")
    quality_rank: int = Field(description="higher keeps more quality (BF16 highest)")
    moe_risky: bool = Field(default=False, description="routing-collapse risk on MoE (seed 000)")


class VllmFormat(_Spec):
    """A vLLM weight format: bits per weight (scales included) and which GPUs run it."""

    name: str
    bits_per_weight: float
    min_compute_capability: float
    quantization_flag: str | None = Field(
        default=None, description="value for vLLM --quantization, None when auto-detected"
    )
    quality_rank: int
    source: str
