"""The brokers a trading account can be at, and which credentials each one needs.

This table is the only place that knows broker differences: forms, the API and the
templates all read it.
"""

from __future__ import annotations

from dataclasses import dataclass

# Credential fields, in the order forms and reveals show them, with their labels.
CREDENTIAL_FIELDS: dict[str, str] = {
    "password": "Password",
    "pin": "PIN / security answer",
    "totpKey": "TOTP key",
    "apiKey": "API (app) key",
    "apiSecret": "API (app) secret",
}


@dataclass(frozen=True)
class Broker:
    """One broker: its id, display name, trading platforms and required credentials."""

    id: str
    name: str
    platforms: tuple[str, ...]
    required: frozenset[str]


_ALL = "password pin totpKey apiKey apiSecret"
_USUAL = "password totpKey apiKey apiSecret"
# id, display name, platforms, required credentials (space-separated field names)
_TABLE = [
    ("zerodha", "Zerodha", ("Kite Connect",), _USUAL),
    ("upstox", "Upstox", ("Upstox API",), _ALL),
    ("angelone", "Angel One", ("SmartAPI",), "pin totpKey apiKey"),
    ("fyers", "Fyers", ("Fyers API",), "pin totpKey apiKey apiSecret"),
    ("aliceblue", "Alice Blue", ("ANT API",), _USUAL),
    ("finvasia", "Finvasia", ("Shoonya",), _USUAL),
    ("mastertrust", "Mastertrust", ("Noren", "Symphony XTS"), _USUAL),
    ("sasonline", "SAS Online", ("Alpha",), _USUAL),
    ("5paisa", "5paisa", ("Xstream",), _ALL),
    ("icicidirect", "ICICI Direct", ("Breeze",), _USUAL),
    ("kotak", "Kotak", ("Kotak Neo",), _ALL),
]
BROKERS: dict[str, Broker] = {
    id_: Broker(id_, name, platforms, frozenset(required.split()))
    for id_, name, platforms, required in _TABLE
}


def find(value: str) -> Broker | None:
    """The broker named by id or display name, ignoring case and spaces."""
    wanted = value.replace(" ", "").lower()
    for broker in BROKERS.values():
        if wanted in (broker.id, broker.name.replace(" ", "").lower()):
            return broker
    return None
