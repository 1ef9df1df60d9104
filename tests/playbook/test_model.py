"""The pure parts: playbook parsing and its errors, batches, templating, conditions, recap."""

from __future__ import annotations

from pathlib import Path

import pytest

from moefleet.playbook import HostStats, PlaybookError, RunReport, batch_sizes, parse_playbook
from moefleet.playbook.tasks.remote_file import parse_inspect, parse_mode, write_command
from moefleet.playbook.templating import condition, render_value
from moefleet.views.playbook import recap_text

GOOD = """
[[plays]]
name = "p"
hosts = "gpu"
serial = "50%"
[[plays.tasks]]
name = "conf"
copy = { dest = "/etc/x", content = "{{ v }}" }
notify = ["restart"]
[[plays.tasks]]
name = "gate"
[[plays.tasks.block]]
wait_for = { port = 8080 }
[[plays.tasks.rescue]]
fail = { msg = "rolled back" }
[[plays.handlers]]
name = "restart"
service = { name = "x", state = "restarted", backend = "process", command = ["sleep", "9"] }
"""


def test_a_good_playbook_parses():
    playbook = parse_playbook(GOOD, "site.toml")
    play = playbook.plays[0]
    assert [t.kind for t in play.tasks] == ["copy", "block"]
    assert play.tasks[1].rescue[0].kind == "fail"
    assert play.handlers[0].args["state"] == "restarted"
    assert playbook.source == "site.toml"


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[[plays]]\nhostz = "all"', "site.toml: plays[0].hostz: unknown key"),
        ("[[plays]]\n[[plays.tasks]]\nname = 'x'", "plays[0].tasks[0]: a task needs exactly one"),
        (
            "[[plays]]\n[[plays.tasks]]\ncopy = { dest = '/x', content = 'y', colour = 1 }",
            "plays[0].tasks[0]: copy: unknown key 'colour'",
        ),
        ("[[plays]]\n[[plays.tasks]]\nfile = { state = 'absent' }", "file: missing path"),
        (
            "[[plays]]\n[[plays.tasks]]\ncommand = { argv = ['a'], shell = true }",
            "give argv, or cmd with shell = true",
        ),
        (
            "[[plays]]\n[[plays.tasks]]\ncommand = { argv = ['a'] }\nnotify = ['nope']",
            "unknown handler 'nope'",
        ),
        ("[[plays]]\nserial = 'half'", "plays[0].serial"),
        ("[[plays]\n", "not valid TOML"),
    ],
)
def test_errors_name_the_file_and_key_path(toml, expected):
    with pytest.raises(PlaybookError) as caught:
        parse_playbook(toml, "site.toml")
    assert expected in str(caught.value)
    assert "site.toml" in str(caught.value)


def test_templated_arguments_are_checked_later_but_keys_now():
    parse_playbook("[[plays]]\n[[plays.tasks]]\nfile = { path = '/x', mode = '{{ m }}' }")
    with pytest.raises(PlaybookError, match="unknown key 'modes'"):
        parse_playbook("[[plays]]\n[[plays.tasks]]\nfile = { path = '/x', modes = '{{ m }}' }")


@pytest.mark.parametrize(
    ("count", "serial", "sizes"),
    [(5, None, [5]), (5, 2, [2, 2, 1]), (4, "50%", [2, 2]), (3, "10%", [1, 1, 1]), (0, 1, [])],
)
def test_batch_sizes(count, serial, sizes):
    assert batch_sizes(count, serial) == sizes


def test_templating_keeps_types_and_does_not_render_twice():
    variables = {"svc": {"files": [{"path": "/a"}]}, "text": "{{ not_a_var }}", "n": 3}
    assert render_value("{{ svc.files }}", variables) == [{"path": "/a"}]
    assert render_value("{{ text }}", variables) == "{{ not_a_var }}"
    assert render_value({"k": ["n={{ n }}"]}, variables) == {"k": ["n=3"]}
    assert render_value("{{ n }}\n", variables) == "3\n"  # text around it: rendered as text


def test_undefined_variables_and_unsafe_access_are_errors():
    with pytest.raises(PlaybookError, match="undefined"):
        render_value("{{ missing }}", {})
    with pytest.raises(PlaybookError):
        render_value("{{ ''.__class__.__mro__ }}", {})


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("backend == 'process'", True),
        ("gpus > 1 and 'gpu' in groups", True),
        ("not (gpus >= 2)", False),
        ("facts.cpu.cores != 8 or false", False),
        ("{{ backend in ['systemd', 'process'] }}", True),
    ],
)
def test_when_conditions(expression, expected):
    variables = {"backend": "process", "gpus": 2, "groups": ["gpu"], "facts": {"cpu": {"cores": 8}}}
    assert condition(expression, variables) is expected


def test_modes_and_remote_file_parsing():
    assert parse_mode("0644", 0) == 0o644 and parse_mode(0o600, 0) == 0o600
    assert parse_mode(None, 0o755) == 0o755
    state = parse_inspect("640 llm\nabc123\nhello\n", "/x", with_content=True)
    assert (state.mode, state.owner, state.sha256, state.content) == (
        0o640,
        "llm",
        "abc123",
        "hello\n",
    )
    assert not parse_inspect("MISSING\n", "/x", False).exists


def test_write_command_quotes_the_path_and_never_chmods_a_secret():
    command = write_command("/srv/a b/$(reboot);x", 0o600, None, backup=True)
    assert "'/srv/a b/$(reboot);x'" in command
    assert "chmod" not in command and "umask 077" in command and "mktemp" in command
    assert "chmod 644" in write_command("/x", 0o644, None, backup=False)


def test_recap_has_ansibles_columns():
    report = RunReport(run_id=1, check=False)
    report.stats = {"gpu01": HostStats(ok=3, changed=1), "gpu02": HostStats(unreachable=1)}
    text = recap_text(report)
    assert text.startswith("PLAY RECAP")
    assert "gpu01 : ok=3    changed=1    unreachable=0    failed=0" in text
    assert "gpu02 : ok=0    changed=0    unreachable=1" in text


def test_the_readme_example_parses():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Playbooks", 1)[1].split("\n## ", 1)[0]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    playbook = parse_playbook(example, "README.md")
    assert [t.kind for t in playbook.plays[0].tasks] == ["template", "block"]
