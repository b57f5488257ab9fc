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


def account(account_id: int, part: str = "") -> str:
    """A trading account's card (or its edit form in place), or one ``part`` of it:
    ``creds`` (the masked / revealed credentials box), ``form`` (the edit form, whose
    fields travel with the step-up dialog's), ``name`` and ``edit-title`` (headings),
    or a credential field's name (its value, for Copy)."""
    return f"acct-{account_id}-{part}" if part else f"acct-{account_id}"


NAMED_KEYS = "named-keys"  # the list of keys for bots on the Security page


def api_key_box(key_id: int, is_default: bool) -> str:
    """An API key's masked / revealed box (the default key keeps its old id)."""
    return API_KEY if is_default else f"{API_KEY}-{key_id}"
