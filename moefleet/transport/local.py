"""The local transport: run commands on this machine, no SSH."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from moefleet.errors import TransportError
from moefleet.transport.base import CommandResult

_CHUNK = 1 << 20


class LocalStream:
    """A local /bin/sh command's merged output, read without blocking."""

    def __init__(self, command: str) -> None:
        try:
            self._process = subprocess.Popen(
                ["/bin/sh", "-c", command],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise TransportError("error", f"cannot start /bin/sh: {exc}") from exc
        assert self._process.stdout is not None
        self._fd = self._process.stdout.fileno()
        os.set_blocking(self._fd, False)

    def fileno(self) -> int:
        return self._fd

    def read(self) -> bytes | None:
        try:
            return os.read(self._fd, _CHUNK)
        except BlockingIOError:
            return None
        except OSError:
            return b""

    def close(self) -> None:
        if self._process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGTERM)
        self._process.wait(timeout=10)
        assert self._process.stdout is not None
        self._process.stdout.close()


class LocalTransport:
    """Runs each command with /bin/sh in its own process group, killed whole on timeout."""

    def run(self, command: str, timeout: float, stdin: bytes | None = None) -> CommandResult:
        started = time.monotonic()
        try:
            process = subprocess.Popen(
                ["/bin/sh", "-c", command],
                stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            raise TransportError("error", f"cannot start /bin/sh: {exc}") from exc
        try:
            stdout, stderr = process.communicate(input=stdin, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise TransportError(
                "timeout", f"command did not finish within {timeout:.0f} s", "raise --timeout"
            ) from exc
        return CommandResult(
            stdout=stdout.decode("utf-8", "replace"),
            stderr=stderr.decode("utf-8", "replace"),
            exit_code=process.returncode,
            seconds=time.monotonic() - started,
        )

    def put(self, local: Path, remote: str, offset: int = 0, timeout: float = 3600.0) -> int:
        """Append ``local`` from ``offset`` on to ``remote`` (a plain local copy)."""
        deadline = time.monotonic() + timeout
        sent = 0
        try:
            with local.open("rb") as source, open(remote, "ab") as target:
                source.seek(offset)
                while chunk := source.read(_CHUNK):
                    if time.monotonic() > deadline:
                        raise TransportError("timeout", f"copy to {remote} timed out")
                    target.write(chunk)
                    sent += len(chunk)
        except OSError as exc:
            raise TransportError("error", f"cannot copy {local} to {remote}: {exc}") from exc
        return sent

    def stream(self, command: str) -> LocalStream:
        """Start ``command`` with /bin/sh in its own process group."""
        return LocalStream(command)

    def close(self) -> None:
        """Nothing to release."""
