"""Run the real ``llama-server`` on 127.0.0.1 for a test, and talk to it over HTTP.

``llama_server(binary, model, ...)`` starts it on a free port with the flags moefleet renders,
waits for ``/health`` to answer 200, yields a ``LlamaServer`` and stops it (SIGTERM, then
SIGKILL after a timeout). The full log (``-lv 4``: memory lines included) is kept in a file.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moefleet.engines.llama_memory import LlamaMemoryReport, parse_llama_memory


class LlamaServerError(RuntimeError):
    """The server did not come up (the message ends with the tail of its log)."""


@dataclass(frozen=True)
class ServerOptions:
    """llama-server flags (None: not passed, llama.cpp's default applies)."""

    n_ctx: int = 512
    n_parallel: int = 1
    n_gpu_layers: int | str | None = None
    n_cpu_moe: int | None = None
    flash_attn: str = "on"
    cache_type_k: str = "f16"
    cache_type_v: str = "f16"
    n_ubatch: int | None = None
    n_batch: int | None = None
    threads: int = 2
    fit: bool = False
    metrics: bool = False
    extra: tuple[str, ...] = ()

    def args(self) -> list[str]:
        """The command-line flags for these options."""
        out = ["-c", str(self.n_ctx), "-np", str(self.n_parallel), "-t", str(self.threads)]
        out += ["-fa", self.flash_attn, "-ctk", self.cache_type_k, "-ctv", self.cache_type_v]
        out += ["-fit", "on" if self.fit else "off", "-lv", "4"]
        optional = {
            "-ngl": self.n_gpu_layers,
            "--n-cpu-moe": self.n_cpu_moe,
            "-ub": self.n_ubatch,
            "-b": self.n_batch,
        }
        for flag, value in optional.items():
            if value is not None:
                out += [flag, str(value)]
        if self.metrics:
            out.append("--metrics")
        return out + list(self.extra)


@dataclass
class LlamaServer:
    """A running server: its URL, process and log file."""

    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    api_key: str | None = None
    _stopped: bool = field(default=False, repr=False)

    @property
    def log(self) -> str:
        """Everything the server printed so far."""
        return self.log_path.read_text(errors="replace")

    def memory(self) -> LlamaMemoryReport:
        """The memory report parsed from the log."""
        return parse_llama_memory(self.log)

    def request(self, path: str, body: Any = None, timeout: float = 60.0) -> Any:
        """GET (``body`` None) or POST JSON to ``path``; returns the decoded JSON answer."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path, data=data)
        req.add_header("Content-Type", "application/json")
        if self.api_key:
            req.add_header("Authorization", f"Bearer {self.api_key}")
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read() or b"null")

    def chat(self, prompt: str, max_tokens: int = 16, **params: Any) -> Any:
        """A deterministic ``/v1/chat/completions`` call (temperature 0, fixed seed)."""
        body = {
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": max_tokens,
            "temperature": 0,
            "seed": 1,
            "ignore_eos": True,
            **params,
        }
        return self.request("/v1/chat/completions", body)

    def stop(self, timeout: float = 10.0) -> str:
        """SIGTERM, wait, SIGKILL after ``timeout``; returns the full log."""
        if not self._stopped:
            self._stopped = True
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout)
        return self.log


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _health(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url + "/health", timeout=2) as resp:
            status: int = resp.status
            return status
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code
    except OSError:
        return None


def _wait_healthy(server: LlamaServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _health(server.base_url) == 200:
            return
        if server.process.poll() is not None:
            break
        time.sleep(0.02)
    server.stop()
    tail = "\n".join(server.log.splitlines()[-25:])
    raise LlamaServerError(f"llama-server did not become healthy:\n{tail}")


def _start(
    binary: Path, model: Path, options: ServerOptions, workdir: Path, api_key: str | None
) -> LlamaServer:
    port = free_port()
    cmd = [str(binary), "-m", str(model), "--host", "127.0.0.1", "--port", str(port)]
    if api_key:
        key_file = workdir / "api-key"
        key_file.write_text(api_key + "\n")
        cmd += ["--api-key-file", str(key_file)]
    log_path = workdir / f"llama-server-{port}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [*cmd, *options.args()],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "LLAMA_ARG_HOST": "127.0.0.1"},
        )
    return LlamaServer(f"http://127.0.0.1:{port}", proc, log_path, api_key)


@contextmanager
def llama_server(
    binary: Path,
    model: Path,
    options: ServerOptions | None = None,
    *,
    api_key: str | None = None,
    workdir: Path | None = None,
    startup_timeout: float = 60.0,
    extra: Sequence[str] = (),
) -> Iterator[LlamaServer]:
    """Start the real ``llama-server`` and yield it once ``/health`` answers 200."""
    opts = options or ServerOptions()
    if extra:
        opts = ServerOptions(**{**opts.__dict__, "extra": (*opts.extra, *extra)})
    with tempfile.TemporaryDirectory(prefix="moefleet-llama-") as tmp:
        for attempt in range(3):  # another process may take the free port before we bind it
            server = _start(binary, model, opts, workdir or Path(tmp), api_key)
            try:
                _wait_healthy(server, startup_timeout)
                break
            except LlamaServerError:
                if attempt == 2 or "bind" not in server.log:
                    raise
        try:
            yield server
        finally:
            server.stop()
