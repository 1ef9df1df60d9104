"""Open the right transport for a host."""

from __future__ import annotations

from moefleet.inventory.model import Host
from moefleet.transport.base import ConnectOptions, Transport
from moefleet.transport.local import LocalTransport
from moefleet.transport.ssh import SshTransport


def connect(host: Host, options: ConnectOptions) -> Transport:
    """An open transport to ``host``; raises TransportError when it cannot be reached."""
    if host.connection == "local":
        return LocalTransport()
    transport = SshTransport(host, options)
    transport.open()
    return transport
