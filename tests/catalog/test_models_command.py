"""`moefleet models list/add` through click's test runner."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import gguf
import pytest
from click.testing import CliRunner

from moefleet.catalog.commands import models
from moefleet.catalog.load import CatalogError, load_catalog
from tests.catalog.ggufs import tiny, write_gguf
from tests.catalog.test_from_hf_config import QWEN3_30B


@pytest.fixture
def user_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config" / "models.toml"
    monkeypatch.setenv("MOEFLEET_CATALOG", str(path))
    return path


def test_list_json_has_every_packaged_model(user_file: Path) -> None:
    result = CliRunner().invoke(models, ["list", "--json"])
    assert result.exit_code == 0, result.output
    rows = {m["id"]: m for m in json.loads(result.output)["models"]}
    assert len(rows) >= 16
    assert rows["qwen3-30b-a3b"]["moe"]["experts"] == 128
    assert rows["gpt-oss-120b"]["sliding_window"] == {"window": 128, "swa_layers": 18}


def test_list_table(user_file: Path) -> None:
    narrow = CliRunner().invoke(models, ["list"])
    assert narrow.exit_code == 0, narrow.output
    assert "qwen3-next-80b-a3b" in narrow.output  # ids never wrap
    result = CliRunner().invoke(models, ["list"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "30.5B/3.3B" in result.output
    assert "8/128" in result.output
    assert "Apache-2.0" in result.output


def test_list_with_catalog_option(tmp_path: Path, user_file: Path) -> None:
    moe = tiny("qwen3moe", ffn=None, moe={"experts": 4, "active": 2, "expert_ffn": 32})
    extra = tmp_path / "extra.toml"
    runner = CliRunner()
    gguf_path = write_gguf(tmp_path / "t.gguf", moe)
    result = runner.invoke(models, ["add", str(gguf_path), "--to", str(extra)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(models, ["list", "--json", "--catalog", str(extra)])
    ids = [m["id"] for m in json.loads(result.output)["models"]]
    assert "tiny-qwen3moe" in ids
    assert "tiny-qwen3moe" not in CliRunner().invoke(models, ["list", "--json"]).output


def test_add_gguf_to_user_catalog(tmp_path: Path, user_file: Path) -> None:
    spec = tiny("llama")
    path = write_gguf(tmp_path / "tiny.gguf", spec, gguf.LlamaFileType.MOSTLY_Q4_K_M)
    result = CliRunner().invoke(models, ["add", str(path)])
    assert result.exit_code == 0, result.output
    assert "added models.tiny-llama" in result.output
    data = tomllib.loads(user_file.read_text())
    assert data["models"]["tiny-llama"]["layers"] == 4
    added = load_catalog().model("tiny-llama")
    assert (added.hidden, added.gguf_formats, added.arch) == (64, ("Q4_K_M",), "llama")


def test_add_config_dir_appends_and_keeps_comments(tmp_path: Path, user_file: Path) -> None:
    user_file.parent.mkdir(parents=True)
    user_file.write_text("# my models\n")
    directory = tmp_path / "Qwen3-30B-A3B"
    directory.mkdir()
    (directory / "config.json").write_text(json.dumps(QWEN3_30B))
    runner = CliRunner()
    result = runner.invoke(models, ["add", str(directory), "--id", "my-qwen"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(models, ["add", str(directory / "config.json"), "--id", "my-qwen-2"])
    assert result.exit_code == 0, result.output
    text = user_file.read_text()
    assert text.startswith("# my models\n")
    catalog = load_catalog()
    assert catalog.model("my-qwen").moe == catalog.model("qwen3-30b-a3b").moe
    assert catalog.model("my-qwen-2").layers == 48


def test_add_refuses_existing_id_without_force(tmp_path: Path, user_file: Path) -> None:
    path = write_gguf(tmp_path / "tiny.gguf", tiny("llama"))
    runner = CliRunner()
    assert runner.invoke(models, ["add", str(path)]).exit_code == 0
    before = user_file.read_text()
    result = runner.invoke(models, ["add", str(path)])
    assert result.exit_code == 1
    assert isinstance(result.exception, CatalogError)
    assert "'tiny-llama' already exists in" in result.exception.message
    assert result.exception.hint is not None and "--force" in result.exception.hint
    assert user_file.read_text() == before

    bigger = write_gguf(tmp_path / "bigger.gguf", tiny("llama", layers=6))
    result = runner.invoke(models, ["add", str(bigger), "--force"])
    assert result.exit_code == 0, result.output
    assert load_catalog().model("tiny-llama").layers == 6
    assert len(tomllib.loads(user_file.read_text())["models"]) == 1


def test_add_refuses_to_shadow_packaged_model(tmp_path: Path, user_file: Path) -> None:
    directory = tmp_path / "Qwen3-30B-A3B"
    directory.mkdir()
    (directory / "config.json").write_text(json.dumps(QWEN3_30B))
    result = CliRunner().invoke(models, ["add", str(directory)])
    assert isinstance(result.exception, CatalogError)
    assert "packaged catalog" in result.exception.message
    assert not user_file.exists()
    assert CliRunner().invoke(models, ["add", str(directory), "--force"]).exit_code == 0


def test_add_rejects_other_files(tmp_path: Path, user_file: Path) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(b"\0")
    result = CliRunner().invoke(models, ["add", str(path)])
    assert result.exit_code == 2
    assert "expected a .gguf file" in result.output


def test_add_refuses_broken_target(tmp_path: Path, user_file: Path) -> None:
    user_file.parent.mkdir(parents=True)
    user_file.write_text("[models.x\n")
    path = write_gguf(tmp_path / "tiny.gguf", tiny("llama"))
    result = CliRunner().invoke(models, ["add", str(path)])
    assert isinstance(result.exception, CatalogError)
    assert result.exception.message.startswith(f"{user_file}: invalid TOML")
