"""A reviewed plan file (``moefleet plan -o plan.toml``) read back for ``deploy --plan-file``.

The same data ``moefleet.plan.report.plan_data`` writes, validated so that a hand-edited file
fails with the file, the key path and what was expected — never a traceback.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from moefleet.errors import MoefleetError
from moefleet.inventory.errors import describe_validation_error


class PlanFileError(MoefleetError):
    """A plan file that cannot be read or does not validate."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PlanMeta(_Model):
    """The demand the plan was made for."""

    format_version: int = Field(description="plan file format (1)")
    objective: str
    context: int = Field(gt=0, description="context length per sequence")
    concurrency: int = Field(gt=0, description="parallel sequences per server")
    allow_risky_quants: bool = False
    trust_remote_code: bool = False
    replicas: dict[str, int] = Field(default_factory=dict)


class PlannedDeployment(_Model):
    """One server instance the plan asks for (a multi-node one lists several hosts)."""

    hosts: tuple[str, ...] = Field(min_length=1)
    model: str = Field(description="catalog model id")
    model_name: str
    format: str = Field(description="GGUF mix or vLLM format")
    engine: Literal["llama.cpp", "vllm"]
    mode: str
    gpus: tuple[int, ...] = ()
    flags: tuple[str, ...] = Field(description="engine flags chosen by the planner")
    hf_repo: str | None = None
    pipeline_parallel: int = 1
    predicted: dict[str, Any] = Field(default_factory=dict)
    reasons: tuple[str, ...] = ()
    alternatives: tuple[dict[str, Any], ...] = ()

    @property
    def host(self) -> str:
        return self.hosts[0]


class PlanFile(_Model):
    """A whole plan file."""

    plan: PlanMeta
    deployment: tuple[PlannedDeployment, ...] = ()
    shortfall: tuple[dict[str, Any], ...] = ()
    idle: dict[str, Any] = Field(default_factory=dict)
    notes: dict[str, Any] = Field(default_factory=dict)
    skipped: dict[str, str] = Field(default_factory=dict)


def parse_plan(data: dict[str, Any], source: str) -> PlanFile:
    """Validate plan data (from ``plan_data`` or a TOML file)."""
    try:
        return PlanFile.model_validate(data)
    except ValidationError as exc:
        raise PlanFileError(
            describe_validation_error(source, exc), "regenerate it with `moefleet plan -o FILE`"
        ) from exc


def read_plan(path: Path) -> PlanFile:
    """Read and validate ``path``."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PlanFileError(f"cannot read plan file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PlanFileError(f"{path}: not valid TOML: {exc}") from exc
    return parse_plan(data, str(path))
