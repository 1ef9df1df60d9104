"""Ansible-style host patterns for ``--limit``.

A pattern is a comma- (or colon-) separated list of terms. Each term is a host name, a group
name, a glob (``gpu*``, ``rack[12]-*``) matched against host and group names, or ``~regex``.
``!term`` removes hosts, ``&term`` keeps only hosts also matched by the term. As in Ansible,
plain terms are unioned first, then ``&`` terms intersect, then ``!`` terms exclude.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable

from moefleet.errors import InventoryError
from moefleet.inventory.model import Inventory


def select_hosts(inventory: Inventory, pattern: str | None) -> list[str]:
    """Names of the hosts ``pattern`` selects, in inventory order (all when None/empty)."""
    if not pattern or not pattern.strip():
        return list(inventory.hosts)
    union: set[str] = set()
    intersections: list[set[str]] = []
    exclusions: set[str] = set()
    has_plain = False
    for term in _split(pattern):
        if term.startswith("!"):
            exclusions |= _match(inventory, term[1:], pattern)
        elif term.startswith("&"):
            intersections.append(_match(inventory, term[1:], pattern))
        else:
            has_plain = True
            union |= _match(inventory, term, pattern)
    selected = union if has_plain else set(inventory.hosts)
    for keep in intersections:
        selected &= keep
    selected -= exclusions
    hosts = [name for name in inventory.hosts if name in selected]
    if not hosts:
        raise InventoryError(
            f"--limit {pattern!r} matched no hosts",
            f"hosts and groups are listed in {inventory.source}",
        )
    return hosts


def _split(pattern: str) -> list[str]:
    separator = "," if "," in pattern or "~" in pattern else ":"
    terms = [t.strip() for t in pattern.split(separator)]
    if any(not t or t in ("!", "&") for t in terms):
        raise InventoryError(
            f"--limit {pattern!r}: empty term", "separate names with ',' e.g. 'gpu*,!gpu03'"
        )
    return terms


def _match(inventory: Inventory, term: str, pattern: str) -> set[str]:
    """Hosts matched by one term (host name, group name, glob, or ~regex)."""
    if term.startswith("~"):
        try:
            regex = re.compile(term[1:])
        except re.error as exc:
            raise InventoryError(f"--limit {pattern!r}: bad regex {term[1:]!r}: {exc}") from exc
        return _by_names(inventory, lambda name: regex.search(name) is not None)
    if any(ch in term for ch in "*?["):
        return _by_names(inventory, lambda name: fnmatch.fnmatchcase(name, term))
    if term in inventory.hosts:
        return {term}
    if term in inventory.groups:
        return set(inventory.groups[term])
    raise InventoryError(
        f"--limit {pattern!r}: no host or group named {term!r}",
        f"known groups: {', '.join(sorted(inventory.groups))}",
    )


def _by_names(inventory: Inventory, matches: Callable[[str], bool]) -> set[str]:
    found = {name for name in inventory.hosts if matches(name)}
    for group, members in inventory.groups.items():
        if matches(group):
            found |= set(members)
    return found
