"""Every column that holds vault ciphertext, declared once.

The repositories bind their ciphertexts with :meth:`SealedColumn.bound_to`, rotation
re-encrypts exactly these columns, and ``rotate-keys --remove-old`` decides a key is
unused by scanning them. A test fills a database through the app and fails if any
text column holds a ciphertext that is not listed here, so a new sealed column cannot
be forgotten by rotation (and its key dropped while data still needs it).
"""

from __future__ import annotations

from dataclasses import dataclass

from webapp import apikey
from webapp.vault import aad

CIPHERTEXT_PREFIX = "v1."  # what every vault ciphertext starts with (vault.KeyRing.encrypt)


@dataclass(frozen=True)
class SealedColumn:
    """One ciphertext column: where it lives and what its associated data names."""

    table: str
    column: str
    primary_key: str  # one unique, ordered column: rotation pages through rows by it
    bound_ids: tuple[str, ...]  # the columns whose values name the row in the associated data
    # A keyed look-up digest of the same plaintext ("column", "purpose"), made with the
    # same master key: it must change in the same statement as the ciphertext.
    digest: tuple[str, str] | None = None

    @property
    def name(self) -> str:
        """``table.column``."""
        return f"{self.table}.{self.column}"

    def bound_to(self, *ids: object) -> str:
        """The associated data for the row named by ``ids`` (in ``bound_ids`` order)."""
        if len(ids) != len(self.bound_ids):
            raise ValueError(f"{self.name} is bound to {', '.join(self.bound_ids)}")
        return aad(self.table, "/".join(str(i) for i in ids), self.column)


USER_TOTP_SECRET = SealedColumn("users", "totp_secret", "id", ("id",))
USER_TOTP_PENDING = SealedColumn("users", "totp_pending", "id", ("id",))
USER_RECOVERY_KEY = SealedColumn("users", "recovery_key", "id", ("id",))
# Bound to the owner (as before keys had ids, so existing ciphertexts still open): a
# ciphertext cannot move to another user's key row.
API_KEY_SECRET = SealedColumn(
    "api_keys", "secret", "id", ("user_id",), digest=("digest", apikey.LOOKUP_PURPOSE)
)
# The previous secret while a re-generated key's grace period runs.
API_KEY_PREV_SECRET = SealedColumn(
    "api_keys", "prev_secret", "id", ("user_id",), digest=("prev_digest", apikey.LOOKUP_PURPOSE)
)
TRADING_CREDENTIALS = SealedColumn("trading_accounts", "credentials", "id", ("user_id", "id"))
USER_EMAIL = SealedColumn("users", "email", "id", ("id",))
USER_EMAIL_PENDING = SealedColumn("users", "email_pending", "id", ("id",))
# The outbox's id is a random hex string: rotation pages through it in text order.
OUTBOX_RECIPIENT = SealedColumn("mail_outbox", "recipient", "id", ("id",))

ALL: tuple[SealedColumn, ...] = (
    USER_TOTP_SECRET,
    USER_TOTP_PENDING,
    USER_RECOVERY_KEY,
    API_KEY_SECRET,
    API_KEY_PREV_SECRET,
    TRADING_CREDENTIALS,
    USER_EMAIL,
    USER_EMAIL_PENDING,
    OUTBOX_RECIPIENT,
)
