"""Derive ``vllm serve``'s flags from a vLLM wheel's own argument-parser source (AST, no import).

vLLM cannot be imported here (it needs torch and a GPU), so this reads the files that build
the ``vllm serve`` parser and collects what they register:

- ``vllm/entrypoints/common/cli_args.py``: ``make_arg_parser`` (literal ``add_argument``
  calls) and the ``FrontendArgs`` dataclass, whose fields become ``--field-name`` flags
  (``BaseFrontendArgs.add_cli_args``), bools also ``--no-field-name``;
- ``vllm/engine/arg_utils.py``: ``EngineArgs.add_cli_args`` and ``AsyncEngineArgs.add_cli_args``
  (literal ``add_argument`` calls); ``**X_kwargs["field"]`` spreads come from
  ``get_kwargs(SomeConfig)``, and a ``bool`` field there gets ``BooleanOptionalAction``
  (``_compute_kwargs`` in arg_utils.py), i.e. ``--no-flag`` too. Config classes are read from
  ``vllm/config/*.py``.

Usage: ``python -m moefleet.engine_flags.extract_vllm vllm-X.whl > vllm-X.txt``.
"""

from __future__ import annotations

import ast
import sys
import zipfile
from collections.abc import Iterator
from pathlib import PurePosixPath

CLI_ARGS = "vllm/entrypoints/common/cli_args.py"
ARG_UTILS = "vllm/engine/arg_utils.py"


def _flag_strings(call: ast.Call) -> list[str]:
    return [
        a.value
        for a in call.args
        if isinstance(a, ast.Constant) and isinstance(a.value, str) and a.value.startswith("-")
    ]


def _add_argument_calls(node: ast.AST) -> Iterator[ast.Call]:
    for sub in ast.walk(node):
        if (
            isinstance(sub, ast.Call)
            and isinstance(sub.func, ast.Attribute)
            and sub.func.attr == "add_argument"
        ):
            yield sub


def _is_bool_annotation(annotation: ast.expr | None) -> bool:
    """A field ``_compute_kwargs`` turns into BooleanOptionalAction (bool, not bool|str)."""
    if annotation is None:
        return False
    text = ast.unparse(annotation)
    parts = {p.strip() for p in text.replace("Optional[", "").rstrip("]").split("|")}
    return "bool" in parts and "str" not in parts


def _classes(sources: dict[str, str]) -> dict[str, ast.ClassDef]:
    found: dict[str, ast.ClassDef] = {}
    for text in sources.values():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef):
                found.setdefault(node.name, node)
    return found


def _fields(name: str, classes: dict[str, ast.ClassDef]) -> dict[str, bool]:
    """Dataclass fields of ``name`` and its bases: field -> is boolean."""
    cls = classes.get(name)
    if cls is None:
        return {}
    out: dict[str, bool] = {}
    for base in cls.bases:
        if isinstance(base, ast.Name):
            out.update(_fields(base.id, classes))
    for stmt in cls.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            if "ClassVar" in ast.unparse(stmt.annotation):
                continue
            out[stmt.target.id] = _is_bool_annotation(stmt.annotation)
    return out


def _kwargs_sources(func: ast.FunctionDef) -> dict[str, str]:
    """``model_kwargs = get_kwargs(ModelConfig)`` -> {"model_kwargs": "ModelConfig"}."""
    out: dict[str, str] = {}
    for node in ast.walk(func):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
            if isinstance(value, ast.Subscript):
                value = value.value  # get_kwargs(VllmConfig)["logging_config"]
            if (
                isinstance(target, ast.Name)
                and isinstance(value, ast.Call)
                and isinstance(value.func, ast.Name)
                and value.func.id == "get_kwargs"
                and value.args
                and isinstance(value.args[0], ast.Name)
            ):
                out[target.id] = value.args[0].id
    return out


def _boolean(call: ast.Call, kwargs_of: dict[str, str], classes: dict[str, ast.ClassDef]) -> bool:
    for kw in call.keywords:
        if kw.arg == "action" and "BooleanOptionalAction" in ast.unparse(kw.value):
            return True
        spread = kw.value
        if kw.arg is None and isinstance(spread, ast.Subscript):
            var, key = spread.value, spread.slice
            if isinstance(var, ast.Name) and isinstance(key, ast.Constant) and var.id in kwargs_of:
                return _fields(kwargs_of[var.id], classes).get(str(key.value), False)
    return False


def _engine_flags(arg_utils: str, classes: dict[str, ast.ClassDef]) -> set[str]:
    flags: set[str] = set()
    for node in ast.walk(ast.parse(arg_utils)):
        if not (isinstance(node, ast.FunctionDef) and node.name == "add_cli_args"):
            continue
        kwargs_of = _kwargs_sources(node)
        for call in _add_argument_calls(node):
            names = _flag_strings(call)
            flags.update(names)
            if _boolean(call, kwargs_of, classes):
                flags.update(f"--no-{n[2:]}" for n in names if n.startswith("--"))
    return flags


def _frontend_flags(cli_args: str, classes: dict[str, ast.ClassDef]) -> set[str]:
    flags: set[str] = set()
    tree = ast.parse(cli_args)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "make_arg_parser":
            for call in _add_argument_calls(node):
                flags.update(_flag_strings(call))
    for field, boolean in _fields("FrontendArgs", classes).items():
        flag = "--" + field.replace("_", "-")
        flags.add(flag)
        if boolean:
            flags.add("--no-" + flag[2:])
    return flags


def extract(wheel: str) -> tuple[str, list[str]]:
    """(version, sorted flags) from a vLLM wheel."""
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        config = [n for n in names if n.startswith("vllm/config/") and n.endswith(".py")]
        sources = {n: zf.read(n).decode() for n in [CLI_ARGS, ARG_UTILS, *config]}
    classes = _classes(sources)
    flags = _engine_flags(sources[ARG_UTILS], classes) | _frontend_flags(sources[CLI_ARGS], classes)
    version = PurePosixPath(wheel).name.split("-")[1]
    return version, sorted(flags)


def main(argv: list[str]) -> int:
    """Print the flag list with its header."""
    version, flags = extract(argv[1])
    print(f"# vllm serve flags, vLLM {version}, derived by moefleet/engine_flags/extract_vllm.py")
    print(f"# from {PurePosixPath(argv[1]).name}: {ARG_UTILS} (EngineArgs, AsyncEngineArgs")
    print(f"# add_cli_args), {CLI_ARGS} (make_arg_parser, FrontendArgs), vllm/config/*.py")
    print("# (which get_kwargs fields are bool: BooleanOptionalAction adds --no-FLAG)")
    for flag in flags:
        print(flag)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
