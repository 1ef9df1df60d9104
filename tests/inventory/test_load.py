"""Inventory loading: example file, precedence, ~/.ssh/config, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from moefleet.errors import InventoryError
from moefleet.inventory import default_inventory, load_inventory, parse_inventory

ROOT = Path(__file__).resolve().parents[2]


def _parse(text: str, ssh_config: Path | None = None):
    settings = f'[settings]\nssh_config = "{ssh_config or ""}"\n'
    return parse_inventory(settings + text, "inv.toml")


def test_example_inventory_loads_with_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ssh/config: dgx01 stays an alias
    inventory = load_inventory(ROOT / "inventory.example.toml")
    assert list(inventory.hosts) == ["ws-4090", "ws-3090", "dgx01", "bastion", "controller"]
    ws4090 = inventory.hosts["ws-4090"]
    assert ws4090.user == "deploy" and ws4090.port == 22
    assert ws4090.key_files == (str(tmp_path / ".ssh/moefleet_ed25519"),)
    # child group (consumer) beats parent (gpu); [all] supplies models_dir
    assert ws4090.vars == {
        "models_dir": "/srv/models",
        "gpu_class": "consumer",
        "kv_cache_type": "q8_0",
    }
    ws3090 = inventory.hosts["ws-3090"]
    assert ws3090.port == 2222 and ws3090.vars["models_dir"] == "/data/models"
    dgx = inventory.hosts["dgx01"]
    assert dgx.user == "ops" and dgx.vars["kv_cache_type"] == "f16"
    assert [(j.address, j.user) for j in dgx.proxy_jump] == [("bastion.lab.example.org", "jump")]
    assert inventory.hosts["controller"].connection == "local"
    assert set(inventory.groups["gpu"]) == {"ws-4090", "ws-3090", "dgx01"}
    assert inventory.groups["all"] == tuple(inventory.hosts)


def test_default_inventory_is_this_machine():
    inventory = default_inventory()
    assert list(inventory.hosts) == ["localhost"]
    assert inventory.hosts["localhost"].connection == "local"


def test_ssh_config_alias_is_honoured_and_inventory_wins(tmp_path):
    config = tmp_path / "ssh_config"
    config.write_text(
        "Host gpu7\n  HostName 10.1.2.7\n  Port 2200\n  User alice\n"
        "  IdentityFile ~/.ssh/gpu7_key\n  ProxyJump jumper\n"
        "Host jumper\n  HostName 10.1.0.1\n  User hop\n"
    )
    inventory = _parse("[hosts.gpu7]\n[hosts.gpu8]\naddress = 'gpu7'\nuser = 'bob'\n", config)
    gpu7 = inventory.hosts["gpu7"]
    assert (gpu7.address, gpu7.port, gpu7.user) == ("10.1.2.7", 2200, "alice")
    assert gpu7.key_files[0].endswith(".ssh/gpu7_key")
    assert [(j.address, j.port, j.user) for j in gpu7.proxy_jump] == [("10.1.0.1", 22, "hop")]
    gpu8 = inventory.hosts["gpu8"]
    assert (gpu8.address, gpu8.user) == ("10.1.2.7", "bob")


def test_proxy_jump_chain_and_loop():
    inventory = _parse(
        "[hosts.a]\nproxy_jump = 'b'\n[hosts.b]\nproxy_jump = 'ops@c:2022'\n[hosts.c]\n"
    )
    assert [(j.address, j.port, j.user) for j in inventory.hosts["a"].proxy_jump] == [
        ("c", 2022, "ops"),
        ("b", 22, None),
    ]
    with pytest.raises(InventoryError, match=r"hosts\.a\.proxy_jump: ProxyJump loop"):
        _parse("[hosts.a]\nproxy_jump = 'b'\n[hosts.b]\nproxy_jump = 'a'\n")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[hosts.gpu01]\nport = 'abc'\n", r"inv\.toml: hosts\.gpu01\.port: expected an integer"),
        ("[hosts.gpu01]\nport = 70000\n", r"hosts\.gpu01\.port: .*less than or equal to 65535"),
        (
            "[hosts.gpu01]\nadress = '1.2.3.4'\n",
            r"hosts\.gpu01\.adress: unknown key \(allowed here: address, connection",
        ),
        ("[hosts.gpu01]\nconnection = 'telnet'\n", r"hosts\.gpu01\.connection: .*'ssh' or 'local'"),
        ("[groups.g]\nhosts = ['nope']\n", r"groups\.g\.hosts\[0\]: unknown host 'nope'"),
        ("[groups.g]\nchildren = ['h']\n", r"groups\.g\.children\[0\]: unknown group 'h'"),
        ("[groups.a]\nchildren = ['b']\n[groups.b]\nchildren = ['a']\n", r"cycle: "),
        ("[groups.all]\n", r"groups\.all: 'all' is reserved"),
        ("[hosts.x]\n[groups.x]\n", r"groups\.x: a host has the same name"),
        ('[hosts.x]\nuser = "a\\nb"\n', r"hosts\.x\.user: must not contain control characters"),
        ("[hosts.x]\naddress = 'a b'\n", r"hosts\.x\.address: must be a host name"),
        ("[hosts.x\n", r"inv\.toml: invalid TOML: .*line 1, column 9"),
        ("[settings]\nforks = 0\n", r"settings\.forks: .*greater than or equal to 1"),
        ("hosts = 3\n", r"inv\.toml: hosts: expected a table"),
    ],
)
def test_bad_inventory_names_file_key_and_expectation(text, expected):
    with pytest.raises(InventoryError, match=expected):
        parse_inventory(text, "inv.toml")


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(InventoryError, match=r"no such inventory file"):
        load_inventory(tmp_path / "nope.toml")
