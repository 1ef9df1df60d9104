"""Shared fixtures for planner tests: the packaged catalog and nodes described as --what-if."""

from __future__ import annotations

from dataclasses import replace
from functools import cache

from moefleet.catalog.load import Catalog, load_catalog
from moefleet.plan.demand import Demand
from moefleet.plan.hardware import Node
from moefleet.plan.node_plan import plan_node
from moefleet.plan.options import NodeResult
from moefleet.plan.whatif import parse_what_if

GIB = 1024**3


@cache
def catalog() -> Catalog:
    return load_catalog(user=False)


def node(description: str, name: str = "n") -> Node:
    """A planning node from a what-if description such as "2x RTX A6000, 128GB"."""
    return parse_what_if(description, catalog().find_gpu, name=name)


def plan(description: str, demand: Demand | None = None, **changes: object) -> NodeResult:
    """plan_node for one what-if node with the packaged catalog."""
    wanted = replace(demand or Demand(), **changes)  # type: ignore[arg-type]
    cat = catalog()
    return plan_node(node(description), list(cat.models.values()), cat.vllm_formats, wanted)
