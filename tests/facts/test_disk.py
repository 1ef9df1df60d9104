"""df -P -k parsing (and the statvfs constructor)."""

from __future__ import annotations

import pytest

from moefleet.errors import ParseError
from moefleet.facts.disk import disk_from_statvfs, parse_df
from moefleet.facts.model import DiskFacts
from tests.facts.system_helpers import assert_parses_or_raises_parse_error

POSIX = (
    "Filesystem     1024-blocks      Used Available Capacity Mounted on\n"
    "/dev/nvme0n1p2  1966866540 412345678 1454520862      23% /\n"
)
WRAPPED = (
    "Filesystem           1K-blocks      Used Available Use% Mounted on\n"
    "/dev/mapper/vg_models-lv_models_with_a_long_name\n"
    "                     3907018584 100000000 3807018584   3% /srv/my models\n"
)


def test_posix_df():
    assert parse_df(POSIX, "/opt/models") == DiskFacts(
        path="/opt/models",
        mount="/",
        filesystem="/dev/nvme0n1p2",
        total_bytes=1966866540 * 1024,
        free_bytes=1454520862 * 1024,
    )


def test_long_filesystem_name_wrapped_onto_two_lines_and_mount_with_space():
    disk = parse_df(WRAPPED, "/srv/my models/x")
    assert disk.filesystem == "/dev/mapper/vg_models-lv_models_with_a_long_name"
    assert disk.mount == "/srv/my models"
    assert (disk.total_bytes, disk.free_bytes) == (3907018584 * 1024, 3807018584 * 1024)


def test_block_size_from_header():
    text = "Filesystem 512-blocks Used Available Capacity Mounted on\ntmpfs 2048 0 2048 0% /tmp\n"
    assert parse_df(text, "/tmp").total_bytes == 2048 * 512


def test_dash_values_are_unknown():
    text = "Filesystem 1024-blocks Used Available Capacity Mounted on\nnfs:/x - - - - /mnt\n"
    disk = parse_df(text, "/mnt")
    assert (disk.filesystem, disk.total_bytes, disk.free_bytes) == ("nfs:/x", None, None)


@pytest.mark.parametrize(
    "text",
    ["", "df: /nope: No such file or directory\n", "Filesystem 1024-blocks Used Available\n"],
)
def test_unrecognisable_df_raises(text):
    with pytest.raises(ParseError, match="df"):
        parse_df(text, "/nope")


def test_disk_from_statvfs():
    assert disk_from_statvfs("/m", "/", 100, 40, "ext4") == DiskFacts(
        path="/m", mount="/", filesystem="ext4", total_bytes=100, free_bytes=40
    )


@pytest.mark.parametrize("sample", [POSIX, WRAPPED])
def test_fuzz_df(sample):
    assert_parses_or_raises_parse_error(lambda text: parse_df(text, "/"), sample, DiskFacts)
