"""The inventory: TOML file -> resolved hosts, groups and vars; --limit patterns."""

from moefleet.inventory.load import default_inventory, load_inventory, parse_inventory
from moefleet.inventory.model import Host, Inventory, JumpHost, Settings
from moefleet.inventory.patterns import select_hosts

__all__ = [
    "Host",
    "Inventory",
    "JumpHost",
    "Settings",
    "default_inventory",
    "load_inventory",
    "parse_inventory",
    "select_hosts",
]
