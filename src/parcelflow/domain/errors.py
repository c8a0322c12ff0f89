"""What the domain answers when a command may not be carried out."""

from __future__ import annotations


class DomainError(Exception):
    """A command that the parcel's current state does not allow."""


class NotPermitted(DomainError):
    """The command is one the person asking may not give (a supervisor's act)."""


class NotFound(DomainError):
    """The command names an exception, complaint or claim the parcel does not have."""
