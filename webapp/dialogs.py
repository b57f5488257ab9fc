"""The words of the step-up dialogs for API keys and trading accounts, one row each.

A dialog is its words (this table: what the trader reads) plus where its form posts
and what its answer replaces (the route's business, given to :func:`modal`). Every
dialog here that asks for a confirmation is a dangerous one (a red button).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from webapp.security.guard import Modal
from webapp.security.policy import Action

_ASK = "Enter your AutoTrader login password to"


@dataclass(frozen=True)
class Words:
    """What one dialog says; ``{subject}`` in the title is the key's or account's name."""

    title: str
    intro: str
    submit: str
    action: Action
    confirm: str = ""


WORDS: dict[str, Words] = {
    "api_key.view": Words(
        "View API key", f"{_ASK} show your API key.", "Show key", Action.VIEW_API_KEY
    ),
    "api_keys.view": Words(
        "View API key “{subject}”",
        f"{_ASK} show this API key.",
        "Show key",
        Action.VIEW_API_KEY,
    ),
    "api_keys.create": Words(
        "Create an API key",
        f"{_ASK} create the key. It is shown once.",
        "Create key",
        Action.CREATE_API_KEY,
    ),
    "api_keys.limits": Words(
        "Change API key “{subject}”",
        f"{_ASK} change what this key may do.",
        "Save",
        Action.CHANGE_API_KEY,
    ),
    "api_keys.regenerate": Words(
        "Re-generate {subject}",
        "A new key replaces the current one. Choose when the old key stops working: "
        "with a grace period both keys work until then, so your programs can switch over.",
        "Re-generate",
        Action.REGENERATE_API_KEY,
        "I understand that programs using the old key stop working when it ends.",
    ),
    "api_keys.expire_old": Words(
        "Expire the old key now",
        "The old key stops working at once; the new one keeps working.",
        "Expire now",
        Action.CHANGE_API_KEY,
        "I understand that programs still using the old key stop working now.",
    ),
    "api_keys.delete": Words(
        "Delete API key “{subject}”",
        "The key stops working at once and its usage log is removed.",
        "Delete key",
        Action.CHANGE_API_KEY,
        "I understand that programs using this key stop working now.",
    ),
    "trading.view": Words(
        "View credentials of {subject}",
        f"{_ASK} show this account's credentials.",
        "Show credentials",
        Action.VIEW_CREDENTIALS,
    ),
    "trading.edit": Words(
        "Edit {subject}", f"{_ASK} change this account.", "Continue", Action.EDIT_CREDENTIALS
    ),
    "trading.delete": Words(
        "Delete {subject}",
        "The account and its stored credentials are removed for good.",
        "Delete account",
        Action.DELETE_CREDENTIALS,
        "I understand that this cannot be undone.",
    ),
}


def modal(name: str, url: str, target: str, subject: str = "", **more: Any) -> Modal:
    """The dialog ``name`` of :data:`WORDS`, posting to ``url`` and replacing ``target``
    (``more``: other :class:`Modal` fields, such as ``include`` or a choice)."""
    words = WORDS[name]
    said = Modal(
        title=words.title.format(subject=subject),
        intro=words.intro,
        url=url,
        target=target,
        action=words.action,
        submit=words.submit,
        confirm=words.confirm,
        danger=bool(words.confirm),
    )
    return replace(said, **more) if more else said
