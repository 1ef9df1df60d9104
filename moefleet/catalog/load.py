"""Load the model catalog: the packaged TOMLs plus the user's, validated, frozen and cached.

A catalog file may hold four tables, each keyed by id: ``[models.ID]`` (ModelSpec),
``[gpus.ID]`` (GpuSpec), ``[gguf.MIX]`` (GgufMix) and ``[vllm.FORMAT]`` (VllmFormat). Later
files override earlier ones entry by entry: packaged data, then the user catalog
(``$MOEFLEET_CATALOG``, else ``models.toml`` in the user config dir), then explicit paths.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache, cached_property
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import platformdirs
from pydantic import BaseModel, ConfigDict, ValidationError

from moefleet.catalog.model import GgufMix, GpuSpec, ModelSpec, VllmFormat
from moefleet.errors import MoefleetError
from moefleet.inventory.errors import describe_validation_error

PACKAGED_FILES = ("models.toml", "gpus.toml", "quants.toml")
#: Words that make a different product when they follow a match key ("RTX 4080 SUPER").
GPU_VARIANT_WORDS = frozenset({"ti", "super", "laptop", "mobile"})


class CatalogError(MoefleetError):
    """A catalog file is missing, malformed or inconsistent, or a model/source is unknown."""


class CatalogFile(BaseModel):
    """The tables one catalog TOML file may contain."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    models: dict[str, ModelSpec] = {}
    gpus: dict[str, GpuSpec] = {}
    gguf: dict[str, GgufMix] = {}
    vllm: dict[str, VllmFormat] = {}


@dataclass(frozen=True)
class Catalog:
    """Models, GPUs and quantization formats by id, and the files they were read from."""

    models: Mapping[str, ModelSpec]
    gpus: Mapping[str, GpuSpec]
    gguf_mixes: Mapping[str, GgufMix]
    vllm_formats: Mapping[str, VllmFormat]
    files: tuple[str, ...] = field(default=())

    def model(self, model_id: str) -> ModelSpec:
        """The model ``model_id``, or a CatalogError listing the known ids."""
        try:
            return self.models[model_id]
        except KeyError:
            known = ", ".join(sorted(self.models))
            raise CatalogError(f"unknown model {model_id!r}", f"known models: {known}") from None

    @cached_property
    def _gpu_patterns(self) -> tuple[tuple[re.Pattern[str], int, GpuSpec], ...]:
        return tuple(
            (re.compile(rf"(?<![a-z0-9]){re.escape(key)}(?![a-z0-9])"), len(key), spec)
            for spec in self.gpus.values()
            for key in spec.match
        )

    def find_gpu(self, name: str) -> GpuSpec | None:
        """The GPU product an nvidia-smi/NVML name denotes, or None. Keys match at word
        boundaries, not when a variant word (Ti, SUPER, Laptop) follows, longest key first."""
        text = " ".join(name.lower().split())
        best: tuple[int, GpuSpec] | None = None
        for pattern, length, spec in self._gpu_patterns:
            for found in pattern.finditer(text):
                following = re.match(r"[\s_-]*([a-z0-9]+)", text[found.end() :])
                if following and following.group(1) in GPU_VARIANT_WORDS:
                    continue
                if best is None or length > best[0]:
                    best = (length, spec)
                break
        return best[1] if best else None


def user_catalog_path() -> Path:
    """$MOEFLEET_CATALOG, else ``models.toml`` in the per-user config directory."""
    override = os.environ.get("MOEFLEET_CATALOG")
    if override:
        return Path(override).expanduser()
    return platformdirs.user_config_path("moefleet") / "models.toml"


def parse_catalog_file(text: str, source: str) -> CatalogFile:
    """Validate one catalog TOML document; errors name ``source`` and the TOML key path."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{source}: invalid TOML: {exc}") from exc
    problems = _name_problems(data, source)
    if problems:
        raise CatalogError("\n".join(problems))
    try:
        return CatalogFile.model_validate(data)
    except ValidationError as exc:
        raise CatalogError(describe_validation_error(source, exc)) from exc


def _name_problems(data: dict[str, Any], source: str) -> list[str]:
    """Fill ``id``/``name`` from the table keys (in place); report keys that disagree."""
    problems = []
    for section, key in (("models", "id"), ("gguf", "name"), ("vllm", "name")):
        table = data.get(section)
        if not isinstance(table, dict):
            continue
        for entry_id, entry in table.items():
            if not isinstance(entry, dict):
                continue
            given = entry.setdefault(key, entry_id)
            if given != entry_id:
                problems.append(
                    f"{source}: {section}.{entry_id}.{key}: must equal the table name "
                    f"{entry_id!r} or be left out (got {given!r})"
                )
    return problems


def read_catalog_file(path: Path | str) -> CatalogFile:
    """Read and validate a catalog TOML file."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise CatalogError(f"{source}: no such catalog file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{source}: cannot read catalog: {exc}") from exc
    return parse_catalog_file(text, source)


def _merge(parts: Iterable[tuple[str, CatalogFile]]) -> Catalog:
    models: dict[str, ModelSpec] = {}
    origin: dict[str, str] = {}
    gpus: dict[str, GpuSpec] = {}
    gguf: dict[str, GgufMix] = {}
    vllm: dict[str, VllmFormat] = {}
    files = []
    for source, part in parts:
        files.append(source)
        models.update(part.models)
        origin.update(dict.fromkeys(part.models, source))
        gpus.update(part.gpus)
        gguf.update(part.gguf)
        vllm.update(part.vllm)
    _check_formats(models, origin, gguf, vllm)
    return Catalog(
        models=MappingProxyType(models),
        gpus=MappingProxyType(gpus),
        gguf_mixes=MappingProxyType(gguf),
        vllm_formats=MappingProxyType(vllm),
        files=tuple(files),
    )


def _check_formats(
    models: dict[str, ModelSpec],
    origin: dict[str, str],
    gguf: dict[str, GgufMix],
    vllm: dict[str, VllmFormat],
) -> None:
    """Every format a model names must be a known GGUF mix / vLLM format."""
    problems = []
    for model_id, spec in models.items():
        where = f"{origin[model_id]}: models.{model_id}"
        for i, mix in enumerate(spec.gguf_formats):
            if mix not in gguf:
                problems.append(f"{where}.gguf_formats[{i}]: unknown llama-quantize mix {mix!r}")
        if spec.native_gguf not in gguf:
            problems.append(f"{where}.native_gguf: unknown llama-quantize mix {spec.native_gguf!r}")
        for i, fmt in enumerate(spec.vllm_formats):
            if fmt not in vllm:
                problems.append(f"{where}.vllm_formats[{i}]: unknown vLLM format {fmt!r}")
    if problems:
        known = f"GGUF mixes: {', '.join(gguf)}; vLLM formats: {', '.join(vllm)}"
        raise CatalogError("\n".join(problems), known)


@cache
def _packaged_parts() -> tuple[tuple[str, CatalogFile], ...]:
    data = resources.files("moefleet.catalog") / "data"
    parts = []
    for name in PACKAGED_FILES:
        source = f"moefleet/catalog/data/{name}"
        parts.append((source, parse_catalog_file((data / name).read_text("utf-8"), source)))
    return tuple(parts)


@cache
def packaged_catalog() -> Catalog:
    """The catalog shipped with moefleet (parsed once per process)."""
    return _merge(_packaged_parts())


def load_catalog(extra_paths: Iterable[Path | str] = (), *, user: bool = True) -> Catalog:
    """The packaged catalog, overridden by the user catalog (if it exists and ``user``) and
    then by each of ``extra_paths``, in order."""
    paths = [Path(p) for p in extra_paths]
    default = user_catalog_path()
    if user and default.is_file():
        paths.insert(0, default)
    if not paths:
        return packaged_catalog()
    return _merge([*_packaged_parts(), *((str(p), read_catalog_file(p)) for p in paths)])
