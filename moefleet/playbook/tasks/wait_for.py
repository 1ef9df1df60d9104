"""``wait_for``: a TCP port accepts connections, or an HTTP URL answers 200, within a timeout.
Polls on the host (one remote command, python3 there), so it sees what the host sees."""

from __future__ import annotations

import json

from pydantic import model_validator

from moefleet.playbook.result import TaskResult, failed, ok, skipped
from moefleet.playbook.tasks.base import Args, TaskContext, quote

_POLL = r"""
import json, socket, sys, time, urllib.request, urllib.error
spec = json.loads(sys.argv[1])
deadline = time.monotonic() + spec["timeout"]
last = "never tried"
while True:
    try:
        if spec.get("url"):
            with urllib.request.urlopen(spec["url"], timeout=5) as r:
                if r.status == spec["status"]:
                    print("ready %s" % r.status); sys.exit(0)
                last = "HTTP %s" % r.status
        else:
            socket.create_connection((spec["host"], spec["port"]), timeout=2).close()
            print("ready"); sys.exit(0)
    except urllib.error.HTTPError as e:
        last = "HTTP %s" % e.code
    except OSError as e:
        last = str(e)
    if time.monotonic() > deadline:
        print("timeout: " + last); sys.exit(1)
    time.sleep(spec["interval"])
"""


class WaitForArgs(Args):
    """Arguments of ``wait_for`` (give ``port`` or ``url``)."""

    port: int | None = None
    """A TCP port that must accept connections."""
    host: str = "127.0.0.1"
    """Address of ``port``, as the host sees it."""
    url: str | None = None
    """An HTTP(S) URL that must answer ``status`` (e.g. llama-server's /health)."""
    status: int = 200
    """The status ``url`` must answer."""
    timeout: float = 60.0
    """Seconds to keep trying."""
    interval: float = 0.25
    """Seconds between tries."""

    @model_validator(mode="after")
    def _one_target(self) -> WaitForArgs:
        if (self.port is None) == (self.url is None):
            raise ValueError("give exactly one of port and url")
        return self


def run(ctx: TaskContext, args: WaitForArgs) -> TaskResult:
    """Poll until ready or the timeout passes (skipped in check mode: nothing was started)."""
    target = args.url or f"{args.host}:{args.port}"
    if ctx.check:
        return skipped(f"would wait for {target}")
    spec = json.dumps(args.model_dump())
    result = ctx.run(f"python3 - {quote(spec)}", args.timeout + 30, stdin=_POLL.encode())
    answer = result.stdout.strip() or result.stderr.strip()
    if result.exit_code != 0:
        return failed(f"{target} not ready after {args.timeout:.0f} s ({answer})")
    return ok(f"{target} is ready")
