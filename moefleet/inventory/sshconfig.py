"""Honour OpenSSH client config aliases (HostName, Port, User, IdentityFile, ProxyJump)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import paramiko

from moefleet.inventory.model import JumpHost


@dataclass(frozen=True)
class LookedUp:
    """What ~/.ssh/config says about an alias (address = the alias itself if unknown)."""

    address: str
    port: int | None = None
    user: str | None = None
    key_files: tuple[str, ...] = ()
    proxy_jump: str | None = None


class SshConfig:
    """A parsed OpenSSH client config, or an empty one."""

    def __init__(self, config: paramiko.SSHConfig | None) -> None:
        self._config = config

    @classmethod
    def load(cls, path: str) -> SshConfig:
        """Parse ``path`` if set and present; a missing default file is simply empty."""
        if not path:
            return cls(None)
        expanded = Path(path).expanduser()
        if not expanded.is_file():
            return cls(None)
        return cls(paramiko.SSHConfig.from_path(str(expanded)))

    def lookup(self, alias: str) -> LookedUp:
        """Resolve ``alias`` the way ``ssh alias`` would."""
        if self._config is None:
            return LookedUp(address=alias)
        found = self._config.lookup(alias)
        port = found.get("port")
        jump = found.get("proxyjump")
        return LookedUp(
            address=str(found.get("hostname", alias)),
            port=int(port) if port else None,
            user=found.get("user"),
            key_files=tuple(str(Path(k).expanduser()) for k in found.get("identityfile", [])),
            proxy_jump=None if jump in (None, "none") else str(jump),
        )


_HOP = re.compile(r"^(?:(?P<user>[^@\s]+)@)?(?P<host>\[[^\]]+\]|[^:@\s]+)(?::(?P<port>\d+))?$")

#: Resolves an inventory host name to (its target, its own ProxyJump spec), or None.
NamedHost = Callable[[str], tuple[JumpHost, str | None] | None]


def resolve_jumps(
    spec: str, named: NamedHost, ssh_config: SshConfig, seen: tuple[str, ...]
) -> tuple[JumpHost, ...]:
    """Turn a ProxyJump spec ("a,user@b:2222") into hops, first hop first.

    Each hop may be an inventory host, a ~/.ssh/config alias or a plain [user@]host[:port];
    a hop's own ProxyJump is followed. Raises ValueError for bad syntax or a loop.
    """
    hops: list[JumpHost] = []
    for raw in (part.strip() for part in spec.split(",")):
        match = _HOP.match(raw)
        if not match:
            raise ValueError(f"{raw!r} is not [user@]host[:port]")
        name = match.group("host").strip("[]")
        if name in seen:
            raise ValueError(f"ProxyJump loop through {name!r}")
        hop, inner = _hop_for(name, named, ssh_config)
        if inner:
            hops.extend(resolve_jumps(inner, named, ssh_config, (*seen, name)))
        port = match.group("port")
        hops.append(
            JumpHost(
                address=hop.address,
                port=int(port) if port else hop.port,
                user=match.group("user") or hop.user,
                key_files=hop.key_files,
            )
        )
    return tuple(hops)


def _hop_for(name: str, named: NamedHost, ssh_config: SshConfig) -> tuple[JumpHost, str | None]:
    known = named(name)
    if known is not None:
        return known
    looked = ssh_config.lookup(name)
    hop = JumpHost(
        address=looked.address, port=looked.port or 22, user=looked.user, key_files=looked.key_files
    )
    return hop, looked.proxy_jump
