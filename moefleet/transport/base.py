"""What every transport offers, and the options that shape a connection."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from moefleet.inventory.model import Settings


@dataclass(frozen=True)
class CommandResult:
    """A finished command: its output, exit code and how long it took."""

    stdout: str
    stderr: str
    exit_code: int
    seconds: float


@dataclass(frozen=True)
class ConnectOptions:
    """How to connect: host-key policy, deadlines and authentication knobs."""

    known_hosts: Path
    accept_new_host_keys: bool = False
    connect_timeout: float = 10.0
    keepalive: int = 15
    allow_agent: bool = True
    look_for_keys: bool = True

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        accept_new_host_keys: bool = False,
        connect_timeout: float | None = None,
    ) -> ConnectOptions:
        """Options from the inventory's [settings], with command-line overrides."""
        return cls(
            known_hosts=Path(settings.known_hosts).expanduser(),
            accept_new_host_keys=accept_new_host_keys,
            connect_timeout=connect_timeout or settings.connect_timeout,
            keepalive=settings.keepalive,
            allow_agent=settings.allow_agent,
            look_for_keys=settings.look_for_keys,
        )


class Stream(Protocol):
    """A long-running command's output (stdout and stderr merged), read without blocking."""

    def fileno(self) -> int:
        """A descriptor that polls readable when output (or the end) is there."""
        ...

    def read(self) -> bytes | None:
        """What has arrived: None when nothing yet, b"" once the command has ended."""
        ...

    def close(self) -> None:
        """Stop reading; the command ends (SIGPIPE on its next write, or a signal)."""
        ...


class Transport(Protocol):
    """An open connection to one host."""

    def run(self, command: str, timeout: float, stdin: bytes | None = None) -> CommandResult:
        """Run a shell command line, feeding it ``stdin`` (then EOF) when given; raise
        TransportError(kind='timeout') past ``timeout``."""
        ...

    def put(self, local: Path, remote: str, offset: int = 0, timeout: float = 3600.0) -> int:
        """Copy ``local`` to ``remote`` from byte ``offset`` on, appending to what ``remote``
        holds (resume); returns the bytes sent. TransportError on failure or past ``timeout``."""
        ...

    def stream(self, command: str) -> Stream:
        """Start ``command`` and hand back its output as it comes (for a repeating sampler)."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...
