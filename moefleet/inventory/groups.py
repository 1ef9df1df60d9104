"""Group graph helpers: membership through children, and depth for vars precedence."""

from __future__ import annotations

from collections.abc import Mapping

from moefleet.inventory.model import GroupSpec


def group_depths(groups: Mapping[str, GroupSpec]) -> dict[str, int]:
    """Depth of each group below "all" (top-level groups are 1, their children 2, ...).

    A child's vars override its parents', so vars are merged in depth order. Raises
    ValueError naming the groups of a cycle.
    """
    parents: dict[str, list[str]] = {name: [] for name in groups}
    for name, group in groups.items():
        for child in group.children:
            parents.setdefault(child, []).append(name)
    depths: dict[str, int] = {}

    def depth(name: str, path: tuple[str, ...]) -> int:
        if name in path:
            cycle = " -> ".join((*path[path.index(name) :], name))
            raise ValueError(f"groups form a cycle: {cycle}")
        if name not in depths:
            above = [depth(p, (*path, name)) for p in parents.get(name, [])]
            depths[name] = 1 + max(above, default=0)
        return depths[name]

    for name in groups:
        depth(name, ())
    return depths


def group_members(groups: Mapping[str, GroupSpec]) -> dict[str, set[str]]:
    """Hosts of each group, including the hosts of its children (transitively)."""
    members: dict[str, set[str]] = {}

    def collect(name: str) -> set[str]:
        if name not in members:
            members[name] = set()  # guards against cycles (rejected earlier anyway)
            group = groups[name]
            found = set(group.hosts)
            for child in group.children:
                found |= collect(child)
            members[name] = found
        return members[name]

    for name in groups:
        collect(name)
    return members
