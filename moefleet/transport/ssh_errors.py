"""The one place where SSH library exceptions become moefleet TransportErrors."""

from __future__ import annotations

import errno
import socket

import paramiko

from moefleet.errors import TransportError
from moefleet.transport.hostkeys import UnknownHostKeyError, fingerprint

_UNREACHABLE_ERRNOS = {
    errno.ECONNREFUSED,
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
    errno.ECONNRESET,
    errno.EHOSTDOWN,
}


def map_ssh_error(exc: BaseException, target: str, known_hosts: str) -> TransportError:
    """Translate ``exc`` (raised while connecting to or running on ``target``)."""
    if isinstance(exc, TransportError):
        return exc
    if isinstance(exc, paramiko.BadHostKeyException):
        return TransportError(
            "host-key-mismatch",
            f"{target}: host key mismatch: server offered {exc.key.get_name()} "
            f"{fingerprint(exc.key)}, known_hosts has {fingerprint(exc.expected_key)}",
            f"possible man-in-the-middle; if the host was reinstalled, verify the new key and "
            f"remove the old one: ssh-keygen -R '{_known_hosts_name(target)}' -f {known_hosts}",
        )
    if isinstance(exc, UnknownHostKeyError):
        return TransportError(
            "host-key-unknown",
            f"{target}: host key not in {known_hosts} ({exc.key.get_name()} "
            f"{fingerprint(exc.key)})",
            "verify the fingerprint, then re-run with --accept-new-host-keys "
            "(trust on first use) or add it with ssh-keyscan",
        )
    if isinstance(exc, paramiko.AuthenticationException):
        return TransportError(
            "auth-failed",
            f"{target}: authentication failed: {exc}",
            "check user and key_file in the inventory, and authorized_keys on the host",
        )
    return _map_network_error(exc, target)


def _known_hosts_name(target: str) -> str:
    """'user@10.0.0.5:2222' -> '[10.0.0.5]:2222' (port 22: plain host), as known_hosts has it."""
    address, _, port = target.rpartition("@")[2].rpartition(":")
    return address if port == "22" else f"[{address}]:{port}"


def _map_network_error(exc: BaseException, target: str) -> TransportError:
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        return TransportError(
            "unreachable", f"{target}: connection refused", "is sshd running and the port right?"
        )
    if isinstance(exc, socket.gaierror):
        return TransportError("unreachable", f"{target}: cannot resolve host name: {exc}")
    if isinstance(exc, TimeoutError | socket.timeout):
        return TransportError(
            "timeout",
            f"{target}: no answer (timed out)",
            "check the address, firewall, or raise connect_timeout",
        )
    if isinstance(exc, OSError) and exc.errno in _UNREACHABLE_ERRNOS:
        hint = (
            "is sshd running there, and is the port right?"
            if exc.errno == errno.ECONNREFUSED
            else "check the address and the network path"
        )
        return TransportError("unreachable", f"{target}: {exc.strerror or exc}", hint)
    if isinstance(exc, paramiko.SSHException | EOFError | OSError):
        text = str(exc) or type(exc).__name__
        kind = "timeout" if "timeout" in text.lower() else "error"
        return TransportError(kind, f"{target}: SSH error: {text}")
    return TransportError("error", f"{target}: {type(exc).__name__}: {exc}")
