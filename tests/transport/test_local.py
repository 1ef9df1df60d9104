"""The local transport runs real commands and kills whole process groups on timeout."""

from __future__ import annotations

import time

import pytest

from moefleet.errors import TransportError
from moefleet.transport.local import LocalTransport


def test_runs_command_and_reports_exit_code():
    result = LocalTransport().run("echo out; echo err >&2; exit 3", timeout=10)
    assert (result.stdout, result.stderr, result.exit_code) == ("out\n", "err\n", 3)


def test_timeout_kills_the_whole_process_group():
    started = time.monotonic()
    # the grandchild keeps stdout open: without a group kill, communicate() would hang
    with pytest.raises(TransportError) as caught:
        LocalTransport().run("sleep 30 & sleep 30; wait", timeout=1)
    assert caught.value.kind == "timeout"
    assert time.monotonic() - started < 10


def test_non_utf8_output_is_replaced_not_fatal():
    result = LocalTransport().run(r"printf 'caf\351\n'", timeout=10)
    assert result.stdout == "caf\ufffd\n"
