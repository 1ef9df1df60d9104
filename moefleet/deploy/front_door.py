"""The nginx front door of a model: where it runs (inventory), which replicas it spreads over,
and the variables of the packaged ``playbooks/front-door.toml`` that deploys it.

Inventory variable (any level; a host's value says where the front door of the models it
serves runs)::

    front_door = { host = "gw1", port = 8000, bind = "0.0.0.0",
                   models = { "qwen3-30b-a3b" = { port = 8001 } } }

- ``host`` (required): an inventory host; it may serve replicas itself or only the front door;
- ``port`` (``8000``) and ``bind`` (``127.0.0.1``): where nginx listens; beyond loopback an API
  key is mandatory (the replicas check it: nginx passes ``Authorization`` through);
- ``backend``: ``systemd`` (the distribution's nginx: ``/etc/nginx/conf.d``, ``systemctl reload
  nginx``) or ``process`` (an nginx of its own under ``moefleet_dir/front-door/NAME``, for
  hosts without root or systemd); default ``systemd`` when the host's services are system
  units, else ``process``;
- ``nginx`` (``/usr/sbin/nginx``): the nginx binary on the front-door host;
- ``models``: per model overrides of the keys above (several models need several ports).

A replica is reached at its bind address; a wildcard bind (``0.0.0.0``) at its host's inventory
address; a loopback bind only from the same host (or when that address is itself loopback).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from moefleet.deploy.service import reject_control
from moefleet.deploy.targets import DeployError, DeployTarget, host_backend, service_slug
from moefleet.facts.model import HostFacts
from moefleet.inventory import Host
from moefleet.render.filters import RenderError
from moefleet.render.front_door import render_front_door, render_front_door_process

DEFAULT_PORT = 8000
DEFAULT_NGINX = "/usr/sbin/nginx"  # Debian/Ubuntu and RHEL packages install it there
_WILDCARD = ("0.0.0.0", "::")  # noqa: S104 - compared, not bound
_KEYS = {"host", "port", "bind", "backend", "nginx", "models"}


@dataclass(frozen=True)
class FrontDoor:
    """One model's front door on one host, over the replicas that serve the model."""

    model: str
    host: str
    port: int
    bind: str
    backend: Literal["systemd", "process"]
    nginx: str
    root: str
    replicas: tuple[tuple[DeployTarget, str], ...]
    """(replica, the URL the front door reaches it at)"""

    @property
    def name(self) -> str:
        return f"moefleet-front-door-{service_slug(self.model)}"

    @property
    def exposed(self) -> bool:
        return not _loopback(self.bind)

    @property
    def url(self) -> str:
        """Where clients reach it (the host's own view for a loopback or wildcard bind)."""
        host = "127.0.0.1" if self.bind in _WILDCARD else self.bind
        return f"http://{_bracket(host)}:{self.port}"


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _settings(host: Host, model: str) -> dict[str, Any] | None:
    """The host's ``front_door`` for ``model`` (model overrides merged), or None."""
    value = host.vars.get("front_door")
    if value is None:
        return None
    if not isinstance(value, Mapping) or not isinstance(value.get("models", {}), Mapping):
        raise DeployError(
            f"{host.name}: front_door must be a table",
            'e.g. front_door = { host = "gw1", port = 8000, bind = "0.0.0.0" }',
        )
    unknown = set(value) - _KEYS
    if unknown:
        raise DeployError(
            f"{host.name}: front_door.{sorted(unknown)[0]} is not a known key",
            f"known keys: {', '.join(sorted(_KEYS))}",
        )
    merged = {k: v for k, v in value.items() if k != "models"}
    override = value.get("models", {}).get(model, {})
    merged.update(override if isinstance(override, Mapping) else {})
    return merged


def replica_url(target: DeployTarget, host: Host, door_host: str) -> str:
    """How the front door on ``door_host`` reaches ``target`` (DeployError if it cannot)."""
    spec = target.service
    if spec.bind_host in _WILDCARD:
        address = host.address
    elif _loopback(spec.bind_host):
        if target.host != door_host and not _loopback(host.address):
            raise DeployError(
                f"{target.host}: {spec.name} listens on {spec.bind_host} only, so the front "
                f"door on {door_host} cannot reach it",
                f"set serve_bind (e.g. 0.0.0.0) on {target.host} and give --api-key-file",
            )
        address = spec.bind_host
    else:
        address = spec.bind_host
    return f"http://{_bracket(address)}:{spec.port}"


def _backend(settings: Mapping[str, Any], host: Host, facts: HostFacts | None) -> str:
    """The distribution's nginx where services are system units (root), else our own."""
    chosen = settings.get("backend")
    if chosen is None:
        chosen = "systemd" if host_backend(host, facts) == "systemd" else "process"
    if chosen not in ("systemd", "process"):
        raise DeployError(f"front_door.backend = {chosen!r}", "expected systemd or process")
    return str(chosen)


def _door(
    model: str,
    settings: Mapping[str, Any],
    hosts: Mapping[str, Host],
    facts: Mapping[str, HostFacts | None],
    replicas: list[DeployTarget],
    api_key: str | None,
) -> FrontDoor:
    name = settings.get("host")
    door_host = hosts.get(str(name)) if name else None
    if door_host is None:
        raise DeployError(
            f"front_door.host = {name!r} is not in the inventory",
            "name an inventory host (it may serve replicas too)",
        )
    root = str(door_host.vars.get("moefleet_dir", "/var/lib/moefleet"))
    if not root.startswith("/"):
        raise DeployError(f"{door_host.name}: moefleet_dir {root!r} is not absolute",
                          "nginx needs absolute paths")  # fmt: skip
    door = FrontDoor(
        model=model,
        host=door_host.name,
        port=int(settings.get("port", DEFAULT_PORT)),
        bind=str(settings.get("bind", "127.0.0.1")),
        backend=_backend(settings, door_host, facts.get(door_host.name)),  # type: ignore[arg-type]
        nginx=str(settings.get("nginx", DEFAULT_NGINX)),
        root=root,
        replicas=tuple((t, replica_url(t, hosts[t.host], door_host.name)) for t in replicas),
    )
    if not 1 <= door.port <= 65535:
        raise DeployError(f"front_door.port {door.port} out of range")
    if door.exposed and not api_key:
        raise DeployError(
            f"the front door of {model} on {door.host} listens on {door.bind} without an API key",
            "give --api-key-file (the replicas check it), or bind it to 127.0.0.1",
        )
    taken = {t.service.port for t in replicas if t.host == door.host}
    if door.port in taken:
        raise DeployError(f"front door port {door.port} on {door.host} is a server's port",
                          "set front_door.port to a free port")  # fmt: skip
    return door


def front_doors(
    targets: list[DeployTarget],
    hosts: Mapping[str, Host],
    facts: Mapping[str, HostFacts | None],
    api_key: str | None,
) -> tuple[list[FrontDoor], dict[str, str]]:
    """A front door per model whose replicas' hosts set ``front_door``; problems per model."""
    by_model: dict[str, list[DeployTarget]] = {}
    for target in targets:
        by_model.setdefault(target.deployment.model, []).append(target)
    doors: list[FrontDoor] = []
    problems: dict[str, str] = {}
    for model, replicas in by_model.items():
        try:
            chosen = {t.host: _settings(hosts[t.host], model) for t in replicas}
            fronted = [t for t in replicas if chosen[t.host] is not None]
            distinct = {json.dumps(chosen[t.host], sort_keys=True) for t in fronted}
            if len(distinct) > 1:
                raise DeployError(
                    f"the replicas of {model} name different front doors",
                    "set front_door once, where it covers all of them (e.g. group vars)",
                )
            if fronted:
                settings = chosen[fronted[0].host] or {}
                door = _door(model, settings, hosts, facts, fronted, api_key)
                front_door_var(door, [url for _, url in door.replicas], None)  # fails now, if ever
                doors.append(door)
        except (DeployError, RenderError, ValueError, TypeError) as exc:
            problems[model] = str(exc)
    seen: dict[tuple[str, int], str] = {}
    for door in list(doors):
        other = seen.setdefault((door.host, door.port), door.model)
        if other != door.model:
            doors.remove(door)
            problems[door.model] = (
                f"front door port {door.port} on {door.host} is also {other}'s: set "
                f'front_door.models."{door.model}".port'
            )
    return doors, problems


def generation(door: FrontDoor, urls: list[str]) -> str:
    """A short hash of what the configuration says (it names the configuration's stamp)."""
    data = json.dumps([door.model, door.host, door.port, door.bind, door.backend, urls])
    return hashlib.sha256(data.encode()).hexdigest()[:16]


def _launcher(argv: list[str]) -> str:
    """``run.sh`` for the process backend. nginx runs as the shell's child, not exec'd: nginx
    writes its process title over its own environment area (src/os/unix/ngx_setproctitle.c),
    where the process backend looks for its ``MOEFLEET_SERVICE`` mark."""
    line = " ".join(shlex.quote(reject_control(a, "nginx argument")) for a in argv)
    return f"#!/bin/sh\n# rendered by moefleet: the front door's nginx\n{line}\n"


def _found(nginx: str) -> str:
    """Shell: fail with the fix when there is no nginx at ``nginx``."""
    message = f"no nginx at {nginx}: install it (apt-get install nginx) or set front_door.nginx"
    return f"{{ [ -x {shlex.quote(nginx)} ] || {{ echo {shlex.quote(message)} >&2; exit 127; }}; }}"


def front_door_var(door: FrontDoor, urls: list[str], api_key: str | None) -> dict[str, Any]:
    """One entry of ``front_doors`` for ``playbooks/front-door.toml`` over the replica URLs."""
    gen = generation(door, urls)
    state = f"{door.root}/front-door/{door.name}"
    files: list[dict[str, Any]] = []
    if door.backend == "process":
        conf = render_front_door_process(door.model, urls, door.port, door.bind, state, gen)
        flags = ["-p", state, "-c", conf.path, "-e", f"{state}/logs/error.log"]
        launcher = _launcher([door.nginx, *flags, "-g", "daemon off;"])
        files.append({"path": f"{state}/run.sh", "content": launcher, "mode": "0755"})
        service = {
            "name": door.name,
            "command": ["/bin/sh", f"{state}/run.sh"],
            "pidfile": f"{state}/run.pid",
            "log": f"{state}/logs/stdout.log",
        }
        test = [door.nginx, "-t", "-q", *flags]
        # nginx -s reload signals the master through its own pid file (nginx.org/en/docs/
        # switches.html, control.html: HUP = re-read the configuration)
        reload = [door.nginx, "-s", "reload", *flags]
    else:
        conf = render_front_door(door.model, urls, door.port, door.bind, gen)
        service = {"name": "nginx"}
        test = [door.nginx, "-t", "-q"]
        reload = ["systemctl", "reload", "nginx"]
    files.insert(0, {"path": conf.path, "content": conf.content, "mode": "0644"})
    q = shlex.quote
    entry: dict[str, Any] = {
        "name": door.name,
        "backend": door.backend,
        "dirs": [state, f"{state}/logs", f"{state}/temp"],
        "stamp": f"{state}/applied-{gen}",
        # the stamp names the configuration nginx runs: once a new one passes nginx -t, the
        # older stamps go (it is about to be made live)
        "validate": f"{_found(door.nginx)} && "
        + " ".join(q(a) for a in test)
        + f" && rm -f -- {q(state)}/applied-*",
        "reload": reload,
        "service": service,
        "live": f"{door.url}/moefleet-front-door/{gen}",
        "check": {
            "url": f"{door.url}/v1/chat/completions",
            "body": {"messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 4},
            "contains": "choices",
        },
    }
    if api_key is not None:
        key_file = f"{door.root}/secrets/{door.name}.key"
        files.append({"path": key_file, "content": api_key + "\n", "mode": "0600", "secret": True})
        entry["api_key_file"] = key_file
    entry["files"] = [{"secret": False, **f, "door": door.name} for f in files]
    return entry


def healthy_urls(door: FrontDoor, healthy_hosts: set[str]) -> list[str]:
    """The URLs of the door's replicas on hosts that passed their health gate."""
    return [url for target, url in door.replicas if target.host in healthy_hosts]
