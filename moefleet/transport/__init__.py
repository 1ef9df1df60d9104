"""Run commands on hosts: SSH (fabric, strict host keys, deadlines) or local; fan-out pool."""

from moefleet.transport.base import CommandResult, ConnectOptions, Stream, Transport
from moefleet.transport.connect import connect
from moefleet.transport.pool import HostOutcome, run_on_hosts

__all__ = [
    "CommandResult",
    "ConnectOptions",
    "HostOutcome",
    "Stream",
    "Transport",
    "connect",
    "run_on_hosts",
]
