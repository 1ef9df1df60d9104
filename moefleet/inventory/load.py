"""Load an inventory file and resolve every host's connection settings and vars."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from moefleet.errors import InventoryError
from moefleet.inventory.errors import describe_validation_error
from moefleet.inventory.groups import group_depths, group_members
from moefleet.inventory.model import (
    NAME_PATTERN,
    RESERVED_GROUPS,
    ConnectionSpec,
    Host,
    Inventory,
    InventoryFile,
    JumpHost,
    Settings,
)
from moefleet.inventory.sshconfig import SshConfig, resolve_jumps

DEFAULT_SOURCE = "<embedded default: this machine over a local connection>"
_CONNECTION_KEYS = ("connection", "user", "port", "key_file", "proxy_jump", "python")


def default_inventory() -> Inventory:
    """The inventory used when none is given: this machine, no SSH."""
    # This interpreter runs the collector, so `pip install moefleet[nvml]` enables NVML here.
    local = {"connection": "local", "python": sys.executable}
    return resolve(InventoryFile.model_validate({"hosts": {"localhost": local}}), DEFAULT_SOURCE)


def load_inventory(path: str | Path) -> Inventory:
    """Read, validate and resolve an inventory TOML file; errors name file and key path."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InventoryError(
            f"{source}: no such inventory file", "pass -i PATH, or omit -i to use this machine"
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InventoryError(f"{source}: cannot read inventory: {exc}") from exc
    return parse_inventory(text, source)


def parse_inventory(text: str, source: str) -> Inventory:
    """Validate and resolve inventory TOML text (``source`` names it in messages)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InventoryError(f"{source}: invalid TOML: {exc}") from exc
    try:
        spec = InventoryFile.model_validate(data)
    except ValidationError as exc:
        raise InventoryError(describe_validation_error(source, exc)) from exc
    _check_names(spec, source)
    return resolve(spec, source)


def _check_names(spec: InventoryFile, source: str) -> None:
    problems = [
        f"{source}: hosts.{name}: host names may use letters, digits, '_', '.', '-'"
        for name in spec.hosts
        if not re.match(NAME_PATTERN, name)
    ]
    problems += [
        f"{source}: groups.{name}: group names may use letters, digits, '_', '.', '-'"
        for name in spec.groups
        if not re.match(NAME_PATTERN, name)
    ]
    problems += [
        f"{source}: groups.{name}: '{name}' is reserved (it is implicit)"
        for name in spec.groups
        if name in RESERVED_GROUPS
    ]
    problems += [
        f"{source}: groups.{name}: a host has the same name; --limit would be ambiguous"
        for name in spec.groups
        if name in spec.hosts
    ]
    for name, group in spec.groups.items():
        problems += [
            f"{source}: groups.{name}.hosts[{i}]: unknown host {host!r} "
            f"(define it under [hosts.{host}])"
            for i, host in enumerate(group.hosts)
            if host not in spec.hosts
        ]
        problems += [
            f"{source}: groups.{name}.children[{i}]: unknown group {child!r}"
            for i, child in enumerate(group.children)
            if child not in spec.groups
        ]
    if problems:
        raise InventoryError("\n".join(problems))


def resolve(spec: InventoryFile, source: str) -> Inventory:
    """Apply precedence (all < group < child group < host) and ~/.ssh/config to every host."""
    try:
        depths = group_depths(spec.groups)
    except ValueError as exc:
        raise InventoryError(f"{source}: groups: {exc}") from exc
    members = group_members(spec.groups)
    ssh_config = SshConfig.load(spec.settings.ssh_config)
    ordered_groups = sorted(spec.groups, key=lambda g: (depths[g], g))
    merged: dict[str, tuple[dict[str, Any], dict[str, Any], tuple[str, ...]]] = {}
    for name, host_spec in spec.hosts.items():
        in_groups = tuple(g for g in ordered_groups if name in members[g])
        layers: list[ConnectionSpec] = [spec.all, *(spec.groups[g] for g in in_groups), host_spec]
        conn, variables = _merged(layers)
        merged[name] = (conn, variables, ("all", *in_groups))

    def named(name: str) -> tuple[JumpHost, str | None] | None:
        if name not in merged:
            return None
        conn = merged[name][0]
        return _target(name, spec.hosts[name].address, conn, ssh_config)

    hosts: dict[str, Host] = {}
    for name, (conn, variables, groups) in merged.items():
        common = {
            "name": name,
            "python": conn.get("python", "python3"),
            "groups": groups,
            "vars": variables,
        }
        if conn.get("connection", "ssh") == "local":
            hosts[name] = Host(
                connection="local",
                address="localhost",
                port=0,
                user=None,
                key_files=(),
                proxy_jump=(),
                **common,
            )
            continue
        target, jump_spec = _target(name, spec.hosts[name].address, conn, ssh_config)
        try:
            jumps = resolve_jumps(jump_spec, named, ssh_config, (name,)) if jump_spec else ()
        except ValueError as exc:
            raise InventoryError(f"{source}: hosts.{name}.proxy_jump: {exc}") from exc
        hosts[name] = Host(
            connection="ssh",
            address=target.address,
            port=target.port,
            user=target.user,
            key_files=target.key_files,
            proxy_jump=jumps,
            **common,
        )
    all_groups = {
        "all": tuple(hosts),
        **{g: tuple(h for h in hosts if h in members[g]) for g in spec.groups},
    }
    return Inventory(source=source, settings=spec.settings, hosts=hosts, groups=all_groups)


def _merged(layers: list[ConnectionSpec]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Later layers win: connection keys and vars, each merged key by key."""
    conn: dict[str, Any] = {}
    variables: dict[str, Any] = {}
    for layer in layers:
        conn.update(
            {k: getattr(layer, k) for k in _CONNECTION_KEYS if getattr(layer, k) is not None}
        )
        variables.update(layer.vars)
    return conn, variables


def _target(
    name: str, address: str | None, conn: dict[str, Any], ssh_config: SshConfig
) -> tuple[JumpHost, str | None]:
    """Where to connect for a host: inventory values first, then ~/.ssh/config, then defaults."""
    looked_up = ssh_config.lookup(address or name)
    key_file = conn.get("key_file")
    key_files = (str(Path(key_file).expanduser()),) if key_file else looked_up.key_files
    target = JumpHost(
        address=looked_up.address,
        port=conn.get("port") or looked_up.port or 22,
        user=conn.get("user") or looked_up.user,
        key_files=key_files,
    )
    return target, conn.get("proxy_jump") or looked_up.proxy_jump


__all__ = [
    "DEFAULT_SOURCE",
    "Settings",
    "default_inventory",
    "load_inventory",
    "parse_inventory",
    "resolve",
]
