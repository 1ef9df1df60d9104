"""A model's weights at one quantization: bytes per tensor, per class and per layer.

Built once per (model, format) and reused for every node of a fleet, so that placing 1,000
hosts costs arithmetic, not tensor enumeration.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from itertools import accumulate

from moefleet.catalog.model import ModelSpec
from moefleet.plan.ggml_types import tensor_bytes
from moefleet.plan.quant_mix import MixContext, assign_types
from moefleet.plan.tensors import Tensor, WeightClass, model_tensors


@dataclass(frozen=True)
class PlacedTensor:
    """A tensor with the type it is stored in and its size."""

    tensor: Tensor
    type: str
    bytes: int


@dataclass(frozen=True)
class ModelWeights:
    """Everything the memory and speed models need to know about a model's weights."""

    model: ModelSpec
    mix: str
    sources: tuple[Tensor, ...]
    types: tuple[str, ...]
    by_class: dict[WeightClass, int] = field(default_factory=dict)
    layer_bytes: tuple[int, ...] = ()
    layer_expert_bytes: tuple[int, ...] = ()

    @cached_property
    def tensors(self) -> tuple[PlacedTensor, ...]:
        """Every tensor with its type and size (built on demand: planning needs only sums)."""
        return tuple(
            PlacedTensor(t, ty, tensor_bytes(ty, t.elements))
            for t, ty in zip(self.sources, self.types, strict=True)
        )

    @property
    def total(self) -> int:
        return sum(self.by_class.values())

    @cached_property
    def memo(self) -> dict[object, object]:
        """Per-instance memo for evaluations of these weights (placements are tried many
        times while planning a fleet)."""
        return {}

    @cached_property
    def layer_prefix(self) -> tuple[int, ...]:
        """Running sums of ``layer_bytes`` (index i: bytes of layers before i)."""
        return (0, *accumulate(self.layer_bytes))

    @cached_property
    def expert_prefix(self) -> tuple[int, ...]:
        """Running sums of ``layer_expert_bytes``."""
        return (0, *accumulate(self.layer_expert_bytes))

    @property
    def expert_bytes(self) -> int:
        return self.by_class.get("experts", 0)

    @property
    def non_layer_bytes(self) -> int:
        """Embeddings, output and final norm: the tensors outside the repeating blocks."""
        return self.total - sum(self.layer_bytes)

    def active_bytes_per_token(self) -> float:
        """Weight bytes one decoded token reads: all but the unused experts (k of E per MoE
        layer) and the embedding table (one row is read)."""
        moe = self.model.moe
        experts = self.expert_bytes * (moe.active / moe.experts if moe else 0.0)
        return self.total - self.expert_bytes - self.by_class.get("embeddings", 0) + experts


def _mix_context(model: ModelSpec) -> MixContext:
    return MixContext(
        n_layer=model.layers,
        n_expert=model.moe.experts if model.moe else 0,
        n_gqa=max(1, model.heads // model.kv_heads),
        tied_embeddings=model.tied_embeddings,
        is_70b=model.arch == "llama" and model.layers == 80,
    )


def weights_from_types(
    model: ModelSpec, mix: str, tensors: Sequence[Tensor], types: list[str]
) -> ModelWeights:
    """Aggregate per-tensor types (computed, or read from a GGUF header) into ModelWeights."""
    if len(tensors) != len(types):
        raise ValueError(f"{len(tensors)} tensors but {len(types)} types")
    by_class: dict[WeightClass, int] = defaultdict(int)
    layers = [0] * model.layers
    experts = [0] * model.layers
    n_layer = model.layers
    for tensor, kind in zip(tensors, types, strict=True):
        size = tensor_bytes(kind, tensor.elements)
        by_class[tensor.weight_class] += size
        layer = tensor.layer
        if layer is not None and layer < n_layer:
            layers[layer] += size
            if tensor.weight_class == "experts":
                experts[layer] += size
    return ModelWeights(
        model, mix, tuple(tensors), tuple(types), dict(by_class), tuple(layers), tuple(experts)
    )


@cache
def model_weights(model: ModelSpec, mix: str) -> ModelWeights:
    """The weights of ``model`` quantized with llama-quantize ``mix`` (or BF16/F16)."""
    tensors = model_tensors(model)
    types = assign_types(tensors, mix, _mix_context(model))
    return weights_from_types(model, mix, tensors, types)
