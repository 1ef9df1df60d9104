"""Turn pydantic validation errors into messages naming the file, the TOML key path and what
was expected."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from moefleet.inventory.model import InventoryFile

_FRIENDLY = {
    "int_parsing": "expected an integer",
    "int_type": "expected an integer",
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "string_type": "expected a string",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "list_type": "expected an array",
    "dict_type": "expected a table",
    "model_type": "expected a table",
}


def _key_path(loc: tuple[int | str, ...]) -> str:
    """('hosts', 'gpu01', 'port') -> 'hosts.gpu01.port'; list indexes as [i]."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(top level)"


def _allowed_keys(loc: tuple[int | str, ...]) -> list[str]:
    """The keys allowed in the table that contains ``loc`` (for 'unknown key' errors)."""
    model: type[BaseModel] | None = InventoryFile
    expect_name = False
    for part in loc[:-1]:
        if model is None:
            return []
        if expect_name:
            expect_name = False
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            return []
        annotation: Any = field.annotation
        args = getattr(annotation, "__args__", ())
        if args and isinstance(args[-1], type) and issubclass(args[-1], BaseModel):
            model, expect_name = args[-1], True  # dict[str, Model]: next part is a name
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        else:
            return []
    return sorted(model.model_fields) if model is not None else []


def describe_validation_error(source: str, exc: ValidationError) -> str:
    """One line per problem: ``FILE: KEY.PATH: what was expected (got VALUE)``."""
    lines = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        key = _key_path(loc)
        if error["type"] == "extra_forbidden":
            allowed = ", ".join(_allowed_keys(loc))
            what = f"unknown key (allowed here: {allowed})" if allowed else "unknown key"
            lines.append(f"{source}: {key}: {what}")
            continue
        what = _FRIENDLY.get(error["type"], error["msg"].removeprefix("Value error, "))
        got = error.get("input")
        suffix = "" if isinstance(got, dict) else f" (got {got!r})"
        lines.append(f"{source}: {key}: {what}{suffix}")
    return "\n".join(lines)
