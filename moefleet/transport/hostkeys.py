"""Host-key policies: strict by default, explicit trust-on-first-use when asked.

Fabric's Connection installs paramiko's AutoAddPolicy, which trusts any key. moefleet replaces
it on every connection: unknown keys are refused (``UnknownHostKeyError``); with
``--accept-new-host-keys`` an unknown key is appended to known_hosts and logged, like
OpenSSH's ``StrictHostKeyChecking=accept-new``. A key that differs from a known one is always
refused (paramiko raises BadHostKeyException before any policy is asked).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
from pathlib import Path

import paramiko

log = logging.getLogger(__name__)
_known_hosts_lock = threading.Lock()


class UnknownHostKeyError(paramiko.SSHException):
    """The server's key is not in known_hosts and trust-on-first-use was not requested."""

    def __init__(self, hostname: str, key: paramiko.PKey) -> None:
        super().__init__(f"no known_hosts entry for {hostname}")
        self.hostname = hostname
        self.key = key


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH-style SHA256 fingerprint ("SHA256:...")."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


class RejectUnknownPolicy(paramiko.MissingHostKeyPolicy):
    """Refuse hosts that are not in known_hosts."""

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        raise UnknownHostKeyError(hostname, key)


class AcceptNewPolicy(paramiko.MissingHostKeyPolicy):
    """Trust-on-first-use: record an unknown key in known_hosts, loudly."""

    def __init__(self, known_hosts: Path) -> None:
        self.known_hosts = known_hosts

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        line = f"{hostname} {key.get_name()} {key.get_base64()}\n"
        with _known_hosts_lock:
            self.known_hosts.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            with self.known_hosts.open("a", encoding="utf-8") as handle:
                handle.write(line)
        client.get_host_keys().add(hostname, key.get_name(), key)
        log.warning(
            "accepted NEW host key for %s: %s %s (added to %s)",
            hostname,
            key.get_name(),
            fingerprint(key),
            self.known_hosts,
        )


_parsed: dict[Path, tuple[float, paramiko.HostKeys]] = {}


def known_host_keys(known_hosts: Path) -> paramiko.HostKeys:
    """known_hosts parsed once per change (parsing it for every connection of a 500-host
    probe costs more CPU than the SSH handshakes)."""
    with _known_hosts_lock:
        try:
            mtime = known_hosts.stat().st_mtime
        except OSError:
            return paramiko.HostKeys()
        cached = _parsed.get(known_hosts)
        if cached is None or cached[0] != mtime:
            cached = (mtime, paramiko.HostKeys(str(known_hosts)))
            _parsed[known_hosts] = cached
        return cached[1]


def apply_policy(
    client: paramiko.SSHClient, address: str, port: int, known_hosts: Path, accept_new: bool
) -> None:
    """Give ``client`` the known keys of address:port and the strict or accept-new policy."""
    name = address if port == 22 else f"[{address}]:{port}"  # how paramiko looks it up
    known = known_host_keys(known_hosts).lookup(name)
    for key_type, key in (known or {}).items():
        client.get_host_keys().add(name, key_type, key)
    policy: paramiko.MissingHostKeyPolicy = (
        AcceptNewPolicy(known_hosts) if accept_new else RejectUnknownPolicy()
    )
    client.set_missing_host_key_policy(policy)
