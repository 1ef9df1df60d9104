"""The inventory file's schema (pydantic, ``extra="forbid"``) and the resolved ``Inventory``.

The file is TOML, Ansible-shaped: hosts, groups with children, vars at every level, with the
precedence ``all < group < child group < host``. Field docstrings feed the README reference.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$"
RESERVED_GROUPS = ("all", "ungrouped")

Connection = Literal["ssh", "local"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConnectionSpec(_Strict):
    """Connection settings that a host, a group or ``[all]`` may set."""

    connection: Connection | None = None
    """How to reach the host: "ssh" (default) or "local" (run on this machine, no SSH)."""
    user: str | None = None
    """SSH login user (default: ~/.ssh/config, then the local user name)."""
    port: int | None = Field(default=None, ge=1, le=65535)
    """SSH port (default: ~/.ssh/config, then 22)."""
    key_file: str | None = None
    """Private key file for SSH authentication (``~`` is expanded)."""
    proxy_jump: str | None = None
    """Bastion to hop through, like OpenSSH's ProxyJump: "[user@]host[:port]" or an inventory
    host name; several hops separated by commas."""
    python: str | None = None
    """Python interpreter on the host for the fact collector (default "python3"; without one a
    POSIX sh collector is used)."""
    vars: dict[str, Any] = Field(default_factory=dict)
    """Free-form variables for plans and playbooks. ``models_dir`` is where models live (its
    free space is probed; default /var/lib/moefleet/models)."""

    @field_validator("user", "key_file", "proxy_jump", "python")
    @classmethod
    def _no_control_characters(cls, value: str | None) -> str | None:
        if value is not None and any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            raise ValueError("must not contain control characters")
        return value


class HostSpec(ConnectionSpec):
    """One ``[hosts.NAME]`` table."""

    address: str | None = None
    """IP address or DNS name; default: the host's name, resolved through ~/.ssh/config."""

    @field_validator("address")
    @classmethod
    def _plain_address(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or any(c.isspace() for c in value)):
            raise ValueError("must be a host name or IP address without spaces")
        return value


class GroupSpec(ConnectionSpec):
    """One ``[groups.NAME]`` table."""

    hosts: list[str] = Field(default_factory=list)
    """Names of hosts (defined under [hosts]) that belong to this group."""
    children: list[str] = Field(default_factory=list)
    """Names of groups nested in this one: their hosts are members too, their vars win."""


class Settings(_Strict):
    """The ``[settings]`` table: how moefleet connects, not what it connects to."""

    known_hosts: str = "~/.ssh/known_hosts"
    """known_hosts file used for strict host-key checking."""
    ssh_config: str = "~/.ssh/config"
    """OpenSSH client config whose Host aliases are honoured; "" disables it."""
    connect_timeout: float = Field(default=10.0, gt=0)
    """Seconds to wait for TCP connect, SSH banner and authentication."""
    keepalive: int = Field(default=15, ge=0)
    """Seconds between SSH keepalive packets (0 = off)."""
    forks: int = Field(default=20, ge=1, le=1000)
    """How many hosts are worked on at once (the -f option overrides it)."""
    allow_agent: bool = True
    """Offer keys from a running ssh-agent."""
    look_for_keys: bool = True
    """Offer ~/.ssh/id_* keys when no key_file is given."""


class InventoryFile(_Strict):
    """The whole inventory file."""

    settings: Settings = Field(default_factory=Settings)
    all: ConnectionSpec = Field(default_factory=ConnectionSpec)
    """Settings and vars for every host (the implicit group "all")."""
    hosts: dict[str, HostSpec] = Field(default_factory=dict)
    groups: dict[str, GroupSpec] = Field(default_factory=dict)


class JumpHost(BaseModel):
    """One hop of a ProxyJump chain, fully resolved."""

    model_config = ConfigDict(frozen=True)

    address: str
    port: int
    user: str | None = None
    key_files: tuple[str, ...] = ()


class Host(BaseModel):
    """A host with its connection settings and vars resolved by precedence."""

    model_config = ConfigDict(frozen=True)

    name: str
    connection: Connection
    address: str
    port: int
    user: str | None
    key_files: tuple[str, ...]
    proxy_jump: tuple[JumpHost, ...]
    python: str
    groups: tuple[str, ...]
    vars: dict[str, Any]

    @property
    def target(self) -> str:
        """user@address:port, for messages."""
        user = f"{self.user}@" if self.user else ""
        return "local" if self.connection == "local" else f"{user}{self.address}:{self.port}"


class Inventory(BaseModel):
    """The resolved inventory: hosts in file order, group membership, settings."""

    model_config = ConfigDict(frozen=True)

    source: str
    settings: Settings
    hosts: dict[str, Host]
    groups: dict[str, tuple[str, ...]]
    """Group name -> member host names (children included), "all" included."""
