"""--limit patterns: names, groups, globs, regex, exclusion and intersection."""

from __future__ import annotations

import pytest

from moefleet.errors import InventoryError
from moefleet.inventory import parse_inventory, select_hosts

INVENTORY = parse_inventory(
    """
[settings]
ssh_config = ""
[hosts.gpu01]
[hosts.gpu02]
[hosts.gpu03]
[hosts.dgx01]
[hosts.cpu01]
[groups.consumer]
hosts = ["gpu01", "gpu02", "gpu03"]
[groups.dc]
hosts = ["dgx01"]
[groups.gpu]
children = ["consumer", "dc"]
[groups.lab]
hosts = ["gpu02", "dgx01", "cpu01"]
""",
    "inv.toml",
)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (None, ["gpu01", "gpu02", "gpu03", "dgx01", "cpu01"]),
        ("gpu02", ["gpu02"]),
        ("consumer", ["gpu01", "gpu02", "gpu03"]),
        ("gpu", ["gpu01", "gpu02", "gpu03", "dgx01"]),
        ("gpu0*", ["gpu01", "gpu02", "gpu03"]),
        ("gpu*", ["gpu01", "gpu02", "gpu03", "dgx01"]),  # the glob also matches group "gpu"
        ("gpu,!gpu02", ["gpu01", "gpu03", "dgx01"]),
        ("gpu:!consumer", ["dgx01"]),
        ("gpu,&lab", ["gpu02", "dgx01"]),
        ("!cpu01", ["gpu01", "gpu02", "gpu03", "dgx01"]),
        ("~^gpu0[13]$", ["gpu01", "gpu03"]),
        ("cpu01,dgx01", ["dgx01", "cpu01"]),
    ],
)
def test_patterns_select_hosts_in_inventory_order(pattern, expected):
    assert select_hosts(INVENTORY, pattern) == expected


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("nosuch", r"no host or group named 'nosuch'"),
        ("gpu01,!gpu01", r"matched no hosts"),
        ("gpu01,,gpu02", r"empty term"),
        ("~gpu(", r"bad regex"),
    ],
)
def test_bad_patterns_are_clear_errors(pattern, message):
    with pytest.raises(InventoryError, match=message):
        select_hosts(INVENTORY, pattern)
