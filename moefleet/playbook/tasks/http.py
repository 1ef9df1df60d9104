"""``http``: one request with an expected status and body text, from the host or the controller.

On the host, python3 gets the request as JSON on stdin and reads the API key from
``api_key_file`` itself: the key never travels through argv (``ps``), the controller, or the
task's output."""

from __future__ import annotations

import json
from typing import Any, Literal

import httpx
from pydantic import Field

from moefleet.playbook.result import TaskResult, failed, ok, skipped
from moefleet.playbook.tasks.base import Args, TaskContext, TaskFailed, quote

_REQUEST = r"""
import json, os, sys, urllib.request, urllib.error
spec = json.load(sys.stdin)
headers = dict(spec["headers"])
if spec.get("api_key_file"):
    with open(os.path.expanduser(spec["api_key_file"])) as f:
        headers["Authorization"] = "Bearer " + f.read().strip()
body = spec.get("body")
data = None if body is None else (body if isinstance(body, str) else json.dumps(body)).encode()
if data is not None and not isinstance(body, str):
    headers.setdefault("Content-Type", "application/json")
req = urllib.request.Request(spec["url"], data=data, headers=headers, method=spec["method"])
try:
    with urllib.request.urlopen(req, timeout=spec["timeout"]) as r:
        status, text = r.status, r.read(65536)
except urllib.error.HTTPError as e:
    status, text = e.code, e.read(65536)
print(json.dumps({"status": status, "body": text.decode("utf-8", "replace")}))
"""


class HttpArgs(Args):
    """Arguments of ``http``."""

    url: str
    """The URL to request."""
    method: str = "GET"
    """HTTP method."""
    body: str | dict[str, Any] | None = None
    """Request body: text, or a table sent as JSON."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Extra request headers (not for secrets: use ``api_key_file``)."""
    api_key_file: str | None = None
    """A file on the host holding an API key, sent as ``Authorization: Bearer`` (host only)."""
    status: int = 200
    """Expected response status."""
    contains: str | None = None
    """Text the response body must contain."""
    where: Literal["host", "controller"] = "host"
    """Send the request from the host (python3 there) or from the controller (httpx)."""
    timeout: float = 30.0
    """Seconds for the request."""


def run(ctx: TaskContext, args: HttpArgs) -> TaskResult:
    """Send it; fail on an unexpected status or a missing ``contains`` text."""
    if ctx.check:
        return skipped(f"would {args.method} {args.url}")
    status, body = _from_host(ctx, args) if args.where == "host" else _from_controller(args)
    data = {"status": status, "body": body[:4096]}
    if status != args.status:
        return failed(f"{args.method} {args.url}: HTTP {status}, expected {args.status}", **data)
    if args.contains is not None and args.contains not in body:
        return failed(f"{args.method} {args.url}: body lacks {args.contains!r}", **data)
    return ok(f"{args.method} {args.url}: HTTP {status}", **data)


def _from_host(ctx: TaskContext, args: HttpArgs) -> tuple[int, str]:
    spec = args.model_dump(include={"url", "method", "body", "headers", "api_key_file", "timeout"})
    result = ctx.run(f"python3 -c {quote(_REQUEST)}", args.timeout + 30, json.dumps(spec).encode())
    if result.exit_code != 0:
        tail = result.stderr.strip().splitlines()[-1:] or ["(no output)"]
        raise TaskFailed(f"{args.method} {args.url} from the host failed: {tail[0]}")
    answer = json.loads(result.stdout)
    return int(answer["status"]), str(answer["body"])


def _from_controller(args: HttpArgs) -> tuple[int, str]:
    if args.api_key_file:
        raise TaskFailed("api_key_file needs where = 'host' (the key stays on the host)")
    body = args.body
    try:
        response = httpx.request(
            args.method,
            args.url,
            headers=args.headers,
            content=body if isinstance(body, str) else None,
            json=body if isinstance(body, dict) else None,
            timeout=args.timeout,
        )
    except httpx.HTTPError as exc:
        raise TaskFailed(f"{args.method} {args.url}: {exc}") from exc
    return response.status_code, response.text
