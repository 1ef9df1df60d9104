"""moefleet's errors: one base class, one subclass per pipeline stage.

Hierarchy::

    MoefleetError              message + hint; the CLI prints these as one line, never a traceback
    ├── InventoryError         a bad inventory file or --limit pattern
    ├── TransportError         reaching a host failed (kind: unreachable, auth-failed, ...)
    ├── ParseError             a command's output could not be understood
    ├── FactsImportError       an --import file could not be read or recognised
    └── StateError             the SQLite state store could not be opened or written

Library exceptions (paramiko, socket, sqlite3, pydantic) are translated into these in one place
per stage, always with ``raise ... from exc`` so a bug still shows its origin.
"""

from __future__ import annotations


class MoefleetError(Exception):
    """An error the user can act on: a one-line message and an optional hint."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} (hint: {self.hint})"


class InventoryError(MoefleetError):
    """The inventory file is missing, malformed or inconsistent."""


class TransportError(MoefleetError):
    """A host could not be reached or did not answer in time."""

    def __init__(self, kind: str, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.kind = kind


class ParseError(MoefleetError):
    """A command's output was not in the expected format."""


class FactsImportError(MoefleetError):
    """A file given to ``probe --import`` could not be read or recognised."""


class StateError(MoefleetError):
    """The state store could not be opened, read or written."""
