"""The in-process queue an API call leaves its usage in (webapp/api_usage.py writes it)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import NamedTuple

USES_KEPT = 100  # the usage log keeps the newest calls of each key
# Keys with calls waiting; beyond this (a database down for long, a flood of keys) a
# new key's calls go unlogged until the next write. Memory: USES_KEPT calls a key.
MAX_KEYS_WAITING = 20_000
REFUSAL_EVENT_SECONDS = 60.0  # at most one disallowed-address event per key per minute


class Use(NamedTuple):
    """One API call to log: which key, when, what, how it ended, from where.

    A tuple, not a frozen dataclass: every API call makes one, and a frozen dataclass
    sets each field through object.__setattr__.
    """

    key_id: int
    at: float
    method: str
    path: str
    status: int
    ip: str
    user_id: int  # the key's owner: the row is written only while it still owns the id


@dataclass(frozen=True)
class Note:
    """A security event to record with the next write."""

    user_id: int
    kind: str
    at: float
    ip: str
    agent: str
    detail: str


class UsageQueue:
    """What the API calls of this worker left to write."""

    def __init__(self) -> None:
        # Per key, only the newest USES_KEPT calls: the log's trim would drop any older
        # one anyway, so a busy key costs a bounded queue and one small write a second
        # however fast it calls (a count-triggered write ran several times a second
        # under load, each one emptying the key look-up cache of every worker).
        self._uses: dict[int, deque[Use]] = {}
        self._notes: list[Note] = []
        self._last_refusal: dict[int, float] = {}
        self.dropped = 0

    def add(self, use: Use) -> None:
        """Queue one call (never blocks, never touches the database)."""
        waiting = self._uses.get(use.key_id)
        if waiting is None:
            if len(self._uses) >= MAX_KEYS_WAITING:
                self.dropped += 1
                return
            waiting = self._uses[use.key_id] = deque(maxlen=USES_KEPT)
        waiting.append(use)

    def refused_address(
        self, user_id: int, key_id: int, key_name: str, ip: str, agent: str, now: float
    ) -> bool:
        """Queue a disallowed-address event unless this key had one in the last minute."""
        last = self._last_refusal.get(key_id)
        if last is not None and 0 <= now - last < REFUSAL_EVENT_SECONDS:
            return False
        if len(self._last_refusal) > MAX_KEYS_WAITING:
            self._last_refusal.clear()  # memory bound; at worst one extra event per key
        self._last_refusal[key_id] = now
        detail = f"{key_name} from {ip or 'an unknown address'}"
        self._notes.append(Note(user_id, "api_key_address_refused", now, ip, agent, detail))
        return True

    def take(self) -> tuple[list[Use], list[Note]]:
        """Everything queued (each key's calls in call order), emptying the queue."""
        uses = [use for waiting in self._uses.values() for use in waiting]
        notes = self._notes
        self._uses, self._notes = {}, []
        return uses, notes
