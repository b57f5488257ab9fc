"""Element ids that htmx swaps by, named once.

Routes aim responses at them (a modal's target, ``HX-Retarget``) and templates give
them out (``ids`` in every template), so the two cannot drift apart.
"""

from __future__ import annotations

MODAL_ROOT = "modal-root"  # where every step-up dialog goes (base.html)
API_KEY = "api-key"
TWO_FACTOR = "twofactor"
PASSKEYS = "passkeys"


def target(element_id: str) -> str:
    """The CSS selector htmx takes for an element id."""
    return f"#{element_id}"


def account(account_id: int) -> str:
    """A trading account's card (or its edit form in place)."""
    return f"acct-{account_id}"


def account_credentials(account_id: int) -> str:
    """The box that shows a trading account's credentials, masked or revealed."""
    return f"acct-{account_id}-creds"


def account_form(account_id: int) -> str:
    """A trading account's edit form (its fields travel with the step-up dialog's)."""
    return f"acct-{account_id}-form"


NAMED_KEYS = "named-keys"  # the list of keys for bots on the Security page


def api_key_box(key_id: int, is_default: bool) -> str:
    """An API key's masked / revealed box (the default key keeps its old id)."""
    return API_KEY if is_default else f"{API_KEY}-{key_id}"
