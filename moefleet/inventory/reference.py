"""Generate the inventory reference (README) from the models' field docstrings.

``python -m moefleet.inventory.reference`` prints the Markdown; a test checks that README.md
holds exactly this text between its config-reference markers.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from moefleet.inventory.model import ConnectionSpec, GroupSpec, HostSpec, Settings


def _default(field: Any) -> str:
    if field.default is PydanticUndefined or field.default_factory is not None:
        return ""
    if field.default is None:
        return ""
    if isinstance(field.default, bool):
        return f"`{str(field.default).lower()}`"
    return f"`{field.default!r}`".replace("'", '"')


def _table(title: str, model: type[BaseModel], skip: tuple[str, ...] = ()) -> list[str]:
    lines = [f"**{title}**", "", "| Key | Default | Meaning |", "|---|---|---|"]
    for name, field in model.model_fields.items():
        if name in skip:
            continue
        description = " ".join((field.description or "").split())
        lines.append(f"| `{name}` | {_default(field)} | {description} |")
    return [*lines, ""]


def reference_markdown() -> str:
    """The reference tables, one per table of the inventory file."""
    common = tuple(ConnectionSpec.model_fields)
    lines = [
        *_table("[settings]", Settings),
        *_table("[all], [groups.NAME] and [hosts.NAME] (connection keys and vars)", ConnectionSpec),
        *_table("[hosts.NAME] only", HostSpec, skip=common),
        *_table("[groups.NAME] only", GroupSpec, skip=common),
    ]
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(reference_markdown(), end="")
