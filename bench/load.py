"""Load the benchmark drives from Python: the mixed load and the held connections."""

from __future__ import annotations

import asyncio
import itertools
import random
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field

import httpx

from tests.helpers import csrf_from

PASSWORD = "correct horse battery staple"  # noqa: S105  (throwaway accounts)
ACCOUNT = {
    "broker": "upstox",
    "platform": "Upstox API",
    "pseudoAccName": "Bench",
    "loginId": "AB1234",
    "password": "br0ker-Pass-9731",
    "pin": "482916",
    "totpKey": "KRSXG5CTMVRXEZLUKN2XAZLSKNSWG4TF",
    "apiKey": "k-bench",
    "apiSecret": "s-bench",
}
# Operation mix: mostly reads, as a trading desk's programs and pages make.
WEIGHTS = {
    "api read": 45,
    "api list accounts": 15,
    "security page": 15,
    "account write": 25,
}
# Sign-ins (argon2id, one hash at a time) and regenerations get clients of their own,
# so a queue of password hashes does not stall the readers behind it.
DEDICATED = {"sign-in": 2, "key regeneration": 1}
OPERATIONS = [*WEIGHTS, *DEDICATED]


async def sign_in(client: httpx.AsyncClient, username: str) -> httpx.Response:
    """GET the form, POST the password; the client keeps the session cookie."""
    token = csrf_from((await client.get("/login")).text)
    form = {"csrf_token": token, "username": username, "password": PASSWORD}
    return await client.post("/login", data=form)


async def register(base: str, username: str) -> tuple[httpx.AsyncClient, str]:
    """A signed-in client for a new user (step-up fresh) and the user's API key."""
    client = httpx.AsyncClient(base_url=base, timeout=30)
    token = csrf_from((await client.get("/register")).text)
    await client.post(
        "/register", data={"csrf_token": token, "username": username, "password": PASSWORD}
    )
    token = csrf_from((await client.get("/settings/security")).text)
    shown = await client.post(
        "/settings/security/api-key/view",
        data={"step": "verify", "password": PASSWORD},
        headers={"X-CSRF-Token": token, "HX-Request": "true"},
    )
    key = re.search(r"at_[0-9A-Za-z]{49}", shown.text).group(0)
    client.headers["X-CSRF-Token"] = token
    return client, key


@dataclass
class Tally:
    """Latencies and statuses per operation."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, dict[int, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )

    def add(self, op: str, started: float, status: int) -> None:
        """Record one finished operation."""
        self.latencies[op].append((time.perf_counter() - started) * 1000)
        self.statuses[op][status] += 1

    @property
    def server_errors(self) -> int:
        """Responses with a 5xx status, plus requests that got no answer (status 0)."""
        return sum(
            n for counts in self.statuses.values() for s, n in counts.items() if s >= 500 or s == 0
        )


async def mixed_load(base: str, seconds: float, concurrency: int = 16) -> tuple[Tally, float]:
    """Reads, sign-ins, key regenerations and trading-account writes for a while."""
    reader, reader_key = await register(base, "mixreader")
    rotator, _ = await register(base, "mixrotator")
    _, writer_key = await register(base, "mixwriter")
    api = httpx.AsyncClient(base_url=base, timeout=30, limits=httpx.Limits(max_connections=64))
    tally = Tally()
    ops, weights = list(WEIGHTS), list(WEIGHTS.values())
    end = time.perf_counter() + seconds
    rng = random.Random(13)  # the same mix every run
    names = itertools.count()  # account nicknames are unique per trader

    async def one(op: str, mine: list[int]) -> int:
        if op == "api read":
            return (await api.get("/api/v1/me", headers={"api-key": reader_key})).status_code
        if op == "api list accounts":
            r = await api.get("/api/v1/trading-accounts", headers={"api-key": writer_key})
            return r.status_code
        if op == "security page":
            return (await reader.get("/settings/security")).status_code
        if op == "sign-in":
            async with httpx.AsyncClient(base_url=base, timeout=30) as fresh:
                return (await sign_in(fresh, "mixreader")).status_code
        if op == "key regeneration":
            r = await rotator.post(
                "/settings/security/api-key/regenerate",
                data={"step": "verify", "confirm": "yes"},
                headers={"HX-Request": "true"},
            )
            return r.status_code
        # account write: create, rename, delete in turn (the table stays small)
        headers = {"api-key": writer_key}
        if not mine:
            body = {**ACCOUNT, "pseudoAccName": f"Bench {next(names)}"}
            r = await api.post("/api/v1/trading-accounts", json=body, headers=headers)
            if r.status_code == 201:
                mine.append(r.json()["result"]["id"])
            return r.status_code
        account = mine[-1]
        if rng.random() < 0.5:
            r = await api.patch(
                f"/api/v1/trading-accounts/{account}",
                json={"pseudoAccName": f"Bench {next(names)}"},
                headers=headers,
            )
            return r.status_code
        mine.pop()
        r = await api.delete(f"/api/v1/trading-accounts/{account}", headers=headers)
        return r.status_code

    async def worker(only: str = "") -> None:
        mine: list[int] = []
        while time.perf_counter() < end:
            op = only or rng.choices(ops, weights)[0]
            started = time.perf_counter()
            try:
                status = await one(op, mine)
            except httpx.HTTPError:
                status = 0
            tally.add(op, started, status)

    began = time.perf_counter()
    dedicated = [worker(op) for op, count in DEDICATED.items() for _ in range(count)]
    mixed = [worker() for _ in range(concurrency - len(dedicated))]
    await asyncio.gather(*dedicated, *mixed)
    elapsed = time.perf_counter() - began
    for client in (reader, rotator, api):
        await client.aclose()
    return tally, elapsed


async def hold_connections(
    port: int, count: int, send_request: bool, addresses: int = 10
) -> list[asyncio.StreamWriter]:
    """Open ``count`` connections from 127.0.1.1… (under the per-address cap); with
    ``send_request`` each answers one /healthz first and then sits idle (keep-alive)."""
    per = count // addresses

    async def open_one(index: int) -> asyncio.StreamWriter:
        source = f"127.0.1.{index // per + 1}"
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
        if send_request:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n")
            await reader.readuntil(b"ok")
        return writer

    return list(await asyncio.gather(*(open_one(i) for i in range(count))))


async def healthz_latencies(base: str, seconds: float) -> list[float]:
    """Sequential /healthz requests (one keep-alive connection); milliseconds each."""
    found = []
    async with httpx.AsyncClient(base_url=base, timeout=5) as client:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            started = time.perf_counter()
            await client.get("/healthz")
            found.append((time.perf_counter() - started) * 1000)
    return found
