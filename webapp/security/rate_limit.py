"""Per-key rate limits: a token bucket per API key in each worker's memory.

No database round trip: each worker keeps its own buckets and enforces its *share* of
the limit (rate and burst divided by the number of workers), so the keys' calls
across all workers never exceed the configured rate and burst, whichever worker each
call reaches. The price: a bot whose calls all land on one worker gets only that
worker's share. See README, "Rate limits".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MAX_BUCKETS = 100_000  # memory bound: idle (full) buckets are dropped beyond this


@dataclass
class _Bucket:
    tokens: float
    at: float
    born: float  # the key's creation time: which key of this id the bucket counts


class RateLimiter:
    """Token buckets keyed by API key id, refilled at ``rate`` per second up to ``burst``."""

    def __init__(self, rate: float, burst: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a rate limit needs a positive rate and a burst of at least 1")
        self.rate = rate
        self.burst = burst
        self._buckets: dict[int, _Bucket] = {}

    @classmethod
    def share(cls, rate: int, burst: int, workers: int) -> RateLimiter:
        """This worker's share of a limit that ``workers`` processes enforce together."""
        workers = max(1, workers)
        # A burst share below one token would refuse every call: floor it at 1 (so with
        # more workers than burst tokens the total burst is ``workers``; README says so).
        return cls(rate / workers, max(1.0, burst / workers))

    def take(self, key_id: int, now: float, born: float = 0.0) -> float:
        """Spend one token of ``key_id`` (created at ``born``): 0.0 when allowed, else
        the seconds to wait.

        SQLite gives a deleted key's id to the next key: a bucket of another ``born``
        is the deleted key's, and the new key starts with a full one.
        """
        bucket = self._buckets.get(key_id)
        if bucket is None or bucket.born != born:
            if len(self._buckets) >= MAX_BUCKETS:
                self._drop_full(now)
            bucket = self._buckets[key_id] = _Bucket(self.burst, now, born)
        elapsed = max(0.0, now - bucket.at)  # a clock stepping back refills nothing
        bucket.tokens = min(self.burst, bucket.tokens + elapsed * self.rate)
        bucket.at = max(bucket.at, now)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate

    def _drop_full(self, now: float) -> None:
        for key_id in [
            k for k, b in self._buckets.items() if b.tokens + (now - b.at) * self.rate >= self.burst
        ]:
            del self._buckets[key_id]


def retry_after(seconds: float) -> str:
    """The Retry-After header value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
