"""The in-process usage queue: bounded per key, in call order, nothing lost that the
usage log would keep."""

from __future__ import annotations

from webapp import usage_queue
from webapp.usage_queue import USES_KEPT, UsageQueue, Use


def use(key_id: int, n: int) -> Use:
    return Use(key_id, float(n), "GET", f"/api/v1/me?{n}", 200, "127.0.0.1", user_id=7)


def test_a_busy_key_keeps_only_its_newest_calls_in_order():
    queue = UsageQueue()
    for n in range(USES_KEPT * 3):
        queue.add(use(1, n))
    for n in range(3):
        queue.add(use(2, n))
    uses, notes = queue.take()
    assert [u.at for u in uses if u.key_id == 1] == [float(n) for n in range(200, 300)]
    assert [u.at for u in uses if u.key_id == 2] == [0.0, 1.0, 2.0]
    assert notes == []
    assert queue.take() == ([], [])  # taking empties it


def test_too_many_keys_waiting_drops_new_keys_and_counts_them(monkeypatch):
    monkeypatch.setattr(usage_queue, "MAX_KEYS_WAITING", 2)
    queue = UsageQueue()
    queue.add(use(1, 0))
    queue.add(use(2, 0))
    queue.add(use(3, 0))  # a third key: over the bound
    queue.add(use(1, 1))  # a waiting key still queues
    uses, _ = queue.take()
    assert sorted((u.key_id, u.at) for u in uses) == [(1, 0.0), (1, 1.0), (2, 0.0)]
    assert queue.dropped == 1
    queue.add(use(3, 2))  # after a write there is room again
    assert [u.key_id for u in queue.take()[0]] == [3]
