"""A front door per model: an nginx upstream over its replicas (see README "Templates").

Two forms: a ``conf.d`` snippet for the distribution's nginx (``render_front_door``), or a
self-contained ``nginx.conf`` for an nginx of its own run by the process backend
(``render_front_door_process``: ``nginx -p PREFIX -c CONF -g 'daemon off;'``).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from moefleet.deploy.service import reject_control
from moefleet.render.environment import RenderedFile, render_template
from moefleet.render.filters import RenderError

NGINX_CONF_DIR = "/etc/nginx/conf.d"  # included inside http {} by Debian/Ubuntu/RHEL nginx


def _server(url: str) -> str:
    """``host:port`` of a replica URL (``http://10.0.0.5:8080``)."""
    reject_control(url, "replica URL")
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname or parts.path not in ("", "/"):
        raise RenderError(f"replica {url!r}: expected http://HOST:PORT")
    if parts.query or parts.fragment or parts.username:
        raise RenderError(f"replica {url!r}: no user, query or fragment allowed")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{host}:{parts.port or 80}"


def upstream_name(model_id: str) -> str:
    """A valid nginx upstream name for ``model_id``."""
    return "moefleet_" + re.sub(r"[^A-Za-z0-9_]+", "_", model_id).strip("_").lower()


def render_front_door(
    model_id: str,
    replicas: list[str],
    listen_port: int,
    listen_host: str = "0.0.0.0",  # noqa: S104
    generation: str | None = None,
) -> RenderedFile:
    """nginx: least-connections over ``replicas``, passive health checks (a replica that fails
    ``max_fails`` times is skipped for ``fail_timeout``), retries on connect errors and 502-504,
    streaming unbuffered. Each replica checks the client's API key itself.

    ``generation`` (hex) adds ``location = /moefleet-front-door/GENERATION`` answering 200:
    the deploy's health gate polls it to know the new configuration is the live one."""
    upstream = upstream_name(model_id)
    content = render_template(
        "nginx-front-door.conf.j2",
        **_context(model_id, replicas, listen_port, listen_host, generation),
    )
    return RenderedFile(path=f"{NGINX_CONF_DIR}/{upstream}.conf", content=content)


def render_front_door_process(
    model_id: str,
    replicas: list[str],
    listen_port: int,
    listen_host: str,
    prefix: str,
    generation: str | None = None,
) -> RenderedFile:
    """``PREFIX/nginx.conf``: a whole nginx (``events``, ``http``, ``pid``, ``error_log`` and
    temp paths under ``prefix``) holding the same upstream and server as ``render_front_door``;
    for hosts without root or systemd, run as ``nginx -p PREFIX -c PREFIX/nginx.conf``."""
    if not prefix.startswith("/"):
        raise RenderError(f"front door prefix must be an absolute path: {prefix!r}")
    content = render_template(
        "nginx-front-door-process.conf.j2",
        prefix=prefix.rstrip("/"),
        **_context(model_id, replicas, listen_port, listen_host, generation),
    )
    return RenderedFile(path=f"{prefix.rstrip('/')}/nginx.conf", content=content)


def _context(
    model_id: str, replicas: list[str], port: int, host: str, generation: str | None
) -> dict[str, object]:
    reject_control(model_id, "model id")
    if not replicas:
        raise RenderError(f"{model_id}: a front door needs at least one replica")
    if not 1 <= port <= 65535:
        raise RenderError(f"listen port {port} out of range")
    if generation is not None and not re.fullmatch(r"[0-9a-f]{1,64}", generation):
        raise RenderError(f"front door generation {generation!r}: expected hex digits")
    listen = f"[{host}]" if ":" in host else host
    return {
        "model_id": model_id,
        "upstream": upstream_name(model_id),
        "servers": [_server(url) for url in replicas],
        "listen": f"{listen}:{port}",
        "generation": generation,
    }
