"""``python -m moefleet`` runs the CLI."""

from moefleet.cli import main

main()
