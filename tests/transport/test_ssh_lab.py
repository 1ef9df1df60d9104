"""The SSH transport against real sshd hosts: output, exit codes, deadlines, key checking."""

from __future__ import annotations

import time

import pytest

from moefleet.errors import TransportError
from moefleet.inventory import load_inventory
from moefleet.transport import ConnectOptions, connect


@pytest.fixture
def inventory(lab):
    return load_inventory(lab.inventory_path)


def _options(inventory, **changes) -> ConnectOptions:
    options = ConnectOptions.from_settings(inventory.settings)
    return ConnectOptions(**{**options.__dict__, **changes})


def test_runs_commands_with_output_and_exit_codes(inventory):
    transport = connect(inventory.hosts["rtx4090"], _options(inventory))
    try:
        result = transport.run("hostname; echo oops >&2; exit 7", timeout=10)
        assert (result.stdout, result.stderr, result.exit_code) == ("rtx4090\n", "oops\n", 7)
        big = transport.run("head -c 3000000 /dev/zero | tr '\\0' x", timeout=20)
        assert len(big.stdout) == 3_000_000  # more than one SSH window
    finally:
        transport.close()


def test_a_command_past_its_deadline_is_a_timeout(inventory):
    transport = connect(inventory.hosts["rtx4090"], _options(inventory))
    started = time.monotonic()
    try:
        with pytest.raises(TransportError) as caught:
            transport.run("sleep 30", timeout=2)
    finally:
        transport.close()
    assert caught.value.kind == "timeout"
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(
    ("host", "kind"),
    [
        ("wrong-hostkey", "host-key-mismatch"),
        ("auth-fails", "auth-failed"),
        ("unreachable", "unreachable"),
    ],
)
def test_connection_failures_have_kinds(inventory, host, kind):
    with pytest.raises(TransportError) as caught:
        connect(inventory.hosts[host], _options(inventory))
    assert caught.value.kind == kind and caught.value.hint


def test_no_known_hosts_file_means_no_connection(inventory, tmp_path):
    options = _options(inventory, known_hosts=tmp_path / "missing_known_hosts")
    with pytest.raises(TransportError) as caught:
        connect(inventory.hosts["rtx4090"], options)
    assert caught.value.kind == "host-key-unknown"
    assert "--accept-new-host-keys" in caught.value.hint
