"""argon2id: OWASP-or-better parameters, off the event loop, dummy hash, rehash."""

import asyncio

from argon2 import PasswordHasher, Type

from tests.helpers import FAST_HASHER, fast_passwords
from webapp.passwords import HASHER, Passwords


def test_production_parameters_meet_owasp():
    params = HASHER
    assert params.type is Type.ID
    # OWASP: m=19 MiB, t=2, p=1 at least (or an equivalent trade-off).
    assert params.memory_cost >= 19456
    assert params.time_cost >= 2


async def test_hash_and_verify():
    pw = fast_passwords()
    stored = await pw.hash("a long passphrase")
    assert stored.startswith("$argon2id$")
    assert await pw.verify(stored, "a long passphrase")
    assert not await pw.verify(stored, "a long passphrasE")


async def test_unknown_user_verifies_against_dummy():
    pw = fast_passwords()
    assert not await pw.verify(None, "anything at all")
    assert pw.dummy_hash is not None and pw.dummy_hash.startswith("$argon2id$")


async def test_needs_rehash_when_parameters_change():
    old = Passwords(hasher=PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1))
    stored = await old.hash("pw pw pw pw pw")
    assert not old.needs_rehash(stored)
    assert Passwords().needs_rehash(stored)
    assert Passwords().needs_rehash("not a hash")


async def test_hashing_does_not_block_the_event_loop():
    pw = Passwords()  # production parameters: tens of milliseconds per hash
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await asyncio.gather(*(pw.hash(f"password number {i}") for i in range(4)))
    task.cancel()
    # The loop kept running other tasks while the hashes were computed in threads.
    assert ticks > 10


async def test_semaphore_bounds_concurrent_hashes():
    running = peak = 0

    def tracked(password):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        try:
            return FAST_HASHER.hash(password)
        finally:
            running -= 1

    hasher = type("H", (), {"hash": staticmethod(tracked)})()
    pw = Passwords(hasher=hasher, slots=2)
    await asyncio.gather(*(pw.hash(f"pw {i} long enough") for i in range(8)))
    assert peak <= 2
