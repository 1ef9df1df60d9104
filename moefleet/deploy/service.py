"""What one inference server instance on one host is: the contract between the plan, the
templates (``moefleet.render``) and the playbook tasks (``moefleet.playbook``).

Everything here is plain data, validated once: values that reach a unit file, an env file or
a shell are checked for control characters at construction (a newline in an inventory value
cannot start a new directive), and quoting is the renderer's per-sink filters' job.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Engine = Literal["llama.cpp", "vllm"]
Backend = Literal["systemd", "systemd-user", "process"]
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_UNIT_NAME = re.compile(r"^[A-Za-z0-9:_.@-]+$")


def reject_control(value: str, what: str) -> str:
    """``value`` unchanged, or a ValueError naming ``what`` if it holds a control character."""
    if _CONTROL.search(value):
        raise ValueError(f"{what} contains a control character (newline, tab...): {value!r}")
    return value


class ServiceSpec(BaseModel):
    """One inference server on one host (a replica of a plan deployment)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="unit / process name, e.g. moefleet-qwen3-30b-a3b-0")
    engine: Engine
    backend: Backend = Field(description="how it is supervised on the host")
    binary: str = Field(description="absolute path of llama-server, or of the vllm executable")
    model_path: str = Field(description="absolute path of the GGUF file or model directory")
    args: tuple[str, ...] = Field(description="engine flags (from the plan, plus host/port)")
    env: dict[str, str] = Field(default_factory=dict, description="environment variables")
    bind_host: str = Field(description="address the server listens on")
    port: int = Field(ge=1, le=65535)
    api_key_file: str | None = Field(
        default=None, description="file holding the API key (mode 0600), never the key itself"
    )
    workdir: str = Field(description="directory for the env file, pidfile and logs")
    user: str | None = Field(default=None, description="User= for a system unit")
    gpus: tuple[int, ...] = Field(default=(), description="CUDA_VISIBLE_DEVICES")

    @field_validator("name")
    @classmethod
    def _unit_name(cls, value: str) -> str:
        if not _UNIT_NAME.match(value):
            raise ValueError(
                f"service name {value!r}: use letters, digits, ':', '_', '.', '@', '-'"
            )
        return value

    @field_validator("binary", "model_path", "bind_host", "workdir", "api_key_file", "user")
    @classmethod
    def _no_control(cls, value: str | None) -> str | None:
        return None if value is None else reject_control(value, "value")

    @field_validator("args")
    @classmethod
    def _args(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for arg in value:
            reject_control(arg, "engine argument")
        return value

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        for key, item in value.items():
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
                raise ValueError(f"environment variable name {key!r} is not valid")
            reject_control(item, f"environment variable {key}")
        return value

    @property
    def exposed(self) -> bool:
        """Listening beyond loopback: an API key is then mandatory."""
        return self.bind_host not in ("127.0.0.1", "::1", "localhost")

    @property
    def url(self) -> str:
        wildcard = self.bind_host in ("0.0.0.0", "::")  # noqa: S104 - a comparison, not a bind
        host = "127.0.0.1" if wildcard else self.bind_host
        return f"http://{host}:{self.port}"
