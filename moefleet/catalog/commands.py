"""``moefleet models``: list the catalog, add a model from a GGUF file or a HF config.json.

Errors are raised as CatalogError (a MoefleetError): ``moefleet.cli.main`` prints them as one
line with a hint and exits 1, like every other command.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import click
import tomli_w
from rich.console import Console
from rich.table import Table

from moefleet.catalog.load import (
    CatalogError,
    load_catalog,
    packaged_catalog,
    parse_catalog_file,
    user_catalog_path,
)
from moefleet.catalog.model import ModelSpec


@click.group()
def models() -> None:
    """The model catalog: architectures, parameter counts, published formats."""


def _context(tokens: int) -> str:
    return f"{tokens // 1024}K" if tokens % 1024 == 0 else str(tokens)


def _table(specs: list[ModelSpec]) -> Table:
    table = Table(title="models")
    table.add_column("id", no_wrap=True)
    table.add_column("name")
    table.add_column("arch")
    for column in ("params total/active", "layers", "experts k/E", "context"):
        table.add_column(column, justify="right")
    table.add_column("licence")
    table.add_column("formats (GGUF | vLLM)")
    for spec in specs:
        experts = f"{spec.moe.active}/{spec.moe.experts}" if spec.moe else "-"
        table.add_row(
            spec.id,
            spec.name,
            spec.arch,
            f"{spec.total_params_b:g}B/{spec.active_params_b:g}B",
            str(spec.layers),
            experts,
            _context(spec.max_context),
            spec.license,
            f"{' '.join(spec.gguf_formats)} | {' '.join(spec.vllm_formats)}",
        )
    return table


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the models as JSON.")
@click.option(
    "--catalog",
    "catalog_paths",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Extra catalog TOML (repeatable); its entries override by id.",
)
def list_models(as_json: bool, catalog_paths: tuple[Path, ...]) -> None:
    """List the models of the catalog (packaged, user and --catalog files)."""
    catalog = load_catalog(catalog_paths)
    specs = sorted(catalog.models.values(), key=lambda s: s.id)
    if as_json:
        payload = {"models": [s.model_dump(mode="json") for s in specs]}
        click.echo(json.dumps(payload, indent=2))
        return
    Console().print(_table(specs))


def _derive(source: Path, model_id: str | None) -> ModelSpec:
    if source.suffix.lower() == ".gguf":
        from moefleet.catalog.from_gguf import spec_from_gguf  # noqa: PLC0415 (NumPy)

        return spec_from_gguf(source, model_id)[0]
    if source.is_dir() or source.suffix.lower() == ".json":
        from moefleet.catalog.from_hf_config import spec_from_hf_config  # noqa: PLC0415

        return spec_from_hf_config(source, model_id)
    raise click.BadParameter(
        "expected a .gguf file, a config.json or a directory holding one", param_hint="SOURCE"
    )


def _read_user_file(path: Path) -> tuple[str, dict[str, Any]]:
    """The target file's text and data ('' and {} when it does not exist yet)."""
    if not path.exists():
        return "", {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{path}: cannot read catalog: {exc}") from exc
    parse_catalog_file(text, str(path))  # refuse to extend a file that is already broken
    return text, tomllib.loads(text)


def _entry(spec: ModelSpec) -> dict[str, Any]:
    return spec.model_dump(mode="json", exclude={"id"}, exclude_none=True, exclude_defaults=True)


@models.command("add")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--id", "model_id", default=None, help="Catalog id (default: from the name).")
@click.option(
    "--to",
    "target",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Catalog file to write (default: the user catalog, $MOEFLEET_CATALOG).",
)
@click.option("--force", is_flag=True, help="Replace a model with the same id.")
def add_model(source: Path, model_id: str | None, target: Path | None, force: bool) -> None:
    """Add the model a GGUF file or a HF config.json describes to a user catalog."""
    spec = _derive(source, model_id)
    path = target or user_catalog_path()
    text, data = _read_user_file(path)
    exists = spec.id in data.get("models", {})
    if not force and (exists or spec.id in packaged_catalog().models):
        where = str(path) if exists else "the packaged catalog"
        raise CatalogError(
            f"model {spec.id!r} already exists in {where}",
            "pass --force to replace (or shadow) it, or --id to choose another id",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    if exists:
        data["models"][spec.id] = _entry(spec)
        new_text = tomli_w.dumps(data)
    else:
        head = text.rstrip("\n") + "\n\n" if text.strip() else ""
        new_text = head + tomli_w.dumps({"models": {spec.id: _entry(spec)}})
    parse_catalog_file(new_text, str(path))
    path.write_text(new_text, encoding="utf-8")
    click.echo(
        f"added models.{spec.id} to {path}: {spec.arch}, {spec.layers} layers, "
        f"{spec.total_params_b:g}B params"
    )
