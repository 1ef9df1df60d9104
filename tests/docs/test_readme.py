"""README.md keeps its promises: the generated reference is current, and .ci/run runs the
README's test command."""

from __future__ import annotations

import re
from pathlib import Path

from moefleet.inventory.reference import reference_markdown

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_config_reference_matches_the_models():
    match = re.search(
        r"<!-- config-reference:begin[^>]*-->\n(.*?)<!-- config-reference:end -->", README, re.S
    )
    assert match, "README lost its config-reference markers"
    assert match.group(1) == reference_markdown(), (
        "README reference is stale: run `python -m moefleet.inventory.reference`"
    )


def test_ci_runs_the_readme_test_command():
    commands = re.findall(r"^(pip install .*)$", README, re.M)
    assert len(commands) >= 2, "README must give the two set-up commands"
    test_command = next(c for c in commands if "pytest" in c).split("  #")[0].strip()
    ci_script = (ROOT / ".ci" / "run").read_text()
    assert test_command in ci_script.splitlines()
