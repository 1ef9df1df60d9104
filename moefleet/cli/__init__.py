"""The command line: ``moefleet`` and its commands (one module per command family).

Importing this package registers every command on the group; ``main`` is the console entry.
"""

from moefleet.catalog.commands import models
from moefleet.cli import bench_cmd, deploy_cmd, plan_cmd, probe_cmd, tui_cmd
from moefleet.cli.app import cli, main

cli.add_command(models)

__all__ = ["bench_cmd", "cli", "deploy_cmd", "main", "plan_cmd", "probe_cmd", "tui_cmd"]
