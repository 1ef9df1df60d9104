"""The local transport: run commands on this machine, no SSH."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from moefleet.errors import TransportError
from moefleet.transport.base import CommandResult


class LocalTransport:
    """Runs each command with /bin/sh in its own process group, killed whole on timeout."""

    def run(self, command: str, timeout: float) -> CommandResult:
        started = time.monotonic()
        try:
            process = subprocess.Popen(
                ["/bin/sh", "-c", command],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            raise TransportError("error", f"cannot start /bin/sh: {exc}") from exc
        try:
            stdout, stderr = process.communicate(timeout=timeout)
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

    def close(self) -> None:
        """Nothing to release."""
