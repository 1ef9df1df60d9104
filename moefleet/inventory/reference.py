"""Generate the inventory reference (README) from the models' field docstrings.

The docstrings are read from the source with ``ast`` here, not by pydantic at import time
(``use_attribute_docstrings`` parses the source on every start-up of the CLI).

``python -m moefleet.inventory.reference`` prints the Markdown; a test checks that README.md
holds exactly this text between its config-reference markers.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
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


def attribute_docstrings(model: type[BaseModel]) -> dict[str, str]:
    """Field name -> the string literal that follows its annotation, for the model and its
    bases (as pydantic's ``use_attribute_docstrings`` would read them)."""
    found: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)) or cls is BaseModel:
            continue
        (node,) = ast.parse(textwrap.dedent(inspect.getsource(cls))).body
        assert isinstance(node, ast.ClassDef)
        for statement, following in zip(node.body, node.body[1:], strict=False):
            if (
                isinstance(statement, ast.AnnAssign)
                and isinstance(statement.target, ast.Name)
                and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                found[statement.target.id] = inspect.cleandoc(following.value.value)
    return found


def _table(title: str, model: type[BaseModel], skip: tuple[str, ...] = ()) -> list[str]:
    lines = [f"**{title}**", "", "| Key | Default | Meaning |", "|---|---|---|"]
    docs = attribute_docstrings(model)
    for name, field in model.model_fields.items():
        if name in skip:
            continue
        description = " ".join(docs.get(name, "").split())
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
