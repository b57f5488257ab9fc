"""The result of a check that a form or the API shows to the user."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    """Whether a check passed; if not, the status, message and offending field."""

    ok: bool
    status: int = 200
    message: str = ""
    field: str = ""

    @classmethod
    def fail(cls, status: int, message: str, field: str = "") -> Outcome:
        """A failed check."""
        return cls(False, status, message, field)


OK = Outcome(True)
