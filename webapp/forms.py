"""Reading HTML forms strictly: one value per field, text only, bounded."""

from __future__ import annotations

import re

from starlette.datastructures import UploadFile
from starlette.requests import Request

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
MAX_FIELDS = 50

USERNAME_RULE = "Usernames are 3 to 64 characters: letters a–z, digits, dots, underscores, hyphens."
_USERNAME = re.compile(r"[a-z0-9._-]{3,64}")
_NOT_TEXT = re.compile(r"[\ud800-\udfff\x00]")  # lone surrogates and NUL: never text
MIN_PASSWORD, MAX_PASSWORD = 12, 1024


class FormError(Exception):
    """The request is not a form we can read; ``status`` and ``message`` say why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def read(request: Request, *names: str) -> dict[str, str]:
    """The named fields as text ("" when absent); duplicates and files are refused."""
    content_type = request.headers.get("content-type", "")
    if not content_type and not await request.body():
        return dict.fromkeys(names, "")  # a bodiless POST (a bare button) has no fields
    if not content_type.startswith(FORM_TYPES):
        raise FormError(415, "Send the form as a normal web form (URL-encoded).")
    try:
        form = await request.form(max_files=0, max_fields=MAX_FIELDS)
    except Exception as exc:  # python-multipart raises several kinds on bad bodies
        raise FormError(400, "The form could not be read. Reload the page and try again.") from exc
    values: dict[str, str] = {}
    for name in names:
        found = form.getlist(name)
        if len(found) > 1:
            raise FormError(400, f"The field “{name}” was sent more than once.")
        value = found[0] if found else ""
        if isinstance(value, UploadFile):
            raise FormError(400, f"The field “{name}” must be text, not a file.")
        if _NOT_TEXT.search(value):
            raise FormError(400, f"The field “{name}” contains characters that are not text.")
        values[name] = value
    return values


def normalize_username(raw: str) -> str:
    """Usernames are case-insensitive: stored and compared lower-case, trimmed."""
    return raw.strip().lower()


def username_problem(username: str) -> str:
    """Why ``username`` (already normalized) is not acceptable, or ""."""
    return "" if _USERNAME.fullmatch(username) else USERNAME_RULE


def password_problem(password: str, username: str) -> str:
    """Why ``password`` is not acceptable for a new account, or "" (no composition rules)."""
    if len(password) < MIN_PASSWORD:
        return f"Use at least {MIN_PASSWORD} characters for your password."
    if len(password) > MAX_PASSWORD:
        return f"Use at most {MAX_PASSWORD} characters for your password."
    if password.strip().lower() == username.lower():
        return "Your password must not be your username."
    return ""
