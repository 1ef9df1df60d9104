"""A front door per model: an nginx upstream over its replicas (see README "Templates")."""

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
) -> RenderedFile:
    """nginx: least-connections over ``replicas``, passive health checks (a replica that fails
    ``max_fails`` times is skipped for ``fail_timeout``), retries on connect errors and 502-504,
    streaming unbuffered. Each replica checks the client's API key itself."""
    reject_control(model_id, "model id")
    if not replicas:
        raise RenderError(f"{model_id}: a front door needs at least one replica")
    if not 1 <= listen_port <= 65535:
        raise RenderError(f"listen port {listen_port} out of range")
    upstream = upstream_name(model_id)
    listen = f"[{listen_host}]" if ":" in listen_host else listen_host
    content = render_template(
        "nginx-front-door.conf.j2",
        model_id=model_id,
        upstream=upstream,
        servers=[_server(url) for url in replicas],
        listen=f"{listen}:{listen_port}",
    )
    return RenderedFile(path=f"{NGINX_CONF_DIR}/{upstream}.conf", content=content)
