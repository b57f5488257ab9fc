"""The OpenAPI 3.1 description of /api/v1/, built from the same tables the code uses."""

from __future__ import annotations

from functools import cache
from typing import Any

from webapp import __version__, key_rules
from webapp.brokers import BROKERS
from webapp.trading_fields import PUBLIC_FIELDS, RULES, SECRET_FIELDS


def _field(name: str, **extra: object) -> dict[str, Any]:
    """One input property, its limits taken from the field's rule (webapp/trading_fields)."""
    rule = RULES[name]
    prop: dict[str, Any] = {"type": "string", "minLength": 1}
    if rule.max_length is not None:
        prop["maxLength"] = rule.max_length
    if rule.pattern is not None:
        prop["pattern"] = rule.pattern
    if rule.hint:
        prop["description"] = rule.hint
    return prop | extra


_PUBLIC_PROPS = {name: _field(name) for name in PUBLIC_FIELDS}
_PUBLIC_PROPS["broker"]["examples"] = list(BROKERS)[:3]
_SECRET_PROPS = {name: _field(name, writeOnly=True) for name in SECRET_FIELDS}
# What the API sends for an account (repositories/trading_accounts.public_view): never a secret.
_ACCOUNT_OUT: dict[str, Any] = {
    "id": {"type": "integer"},
    "broker": {"type": "string", "enum": list(BROKERS)},
    "brokerName": {"type": "string"},
    "platform": {"type": "string"},
    "pseudoAccName": {"type": "string"},
    "loginId": {"type": "string"},
    "createdAt": {"type": "string", "format": "date-time"},
    "updatedAt": {"type": "string", "format": "date-time"},
}


def _ok(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["status", "result"],
        "properties": {"status": {"const": "ok"}, "result": schema},
    }


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERROR = {"$ref": "#/components/schemas/Error"}
_ACCOUNT = {"$ref": "#/components/schemas/TradingAccount"}
_ERRORS = {
    "400": _json(_ERROR, "Bad request (for example, the key in the URL)"),
    "401": _json(
        _ERROR,
        "Missing or invalid API key, an expired key (the message names the date), the old "
        "key after its grace period, or a key suspended by a lock-down",
    ),
    "403": _json(
        _ERROR,
        "The key lacks the permission this call needs (the message names it), or the call "
        "comes from an address outside the key's allow-list",
    ),
    "413": _json(_ERROR, "Body too large"),
    "429": {
        **_json(_ERROR, "Too many calls with this key: the per-key rate limit"),
        "headers": {
            "Retry-After": {
                "description": "Seconds to wait before the next call",
                "schema": {"type": "integer", "minimum": 1},
            }
        },
    },
}
_RATE = (
    "Each key may make a limited number of calls a second (by default 10, with bursts of "
    "20; the operator sets both). Beyond it the API answers 429 with `Retry-After`. "
    "Keys carry permissions: `read` for every GET, `manage-accounts` to create, change "
    "and delete trading accounts; a call without the permission it needs gets 403."
)
_KEY = {
    "type": "object",
    "required": ["name", "permissions", "expiresAt"],
    "properties": {
        "name": {"type": "string"},
        "permissions": {
            "type": "array",
            "items": {"type": "string", "enum": list(key_rules.PERMISSIONS)},
        },
        "expiresAt": {
            "type": ["string", "null"],
            "format": "date-time",
            "description": "When this key stops working (its expiry date, or the end of "
            "the grace period of a re-generated key's old secret); null: never",
        },
    },
}
_BODY_ERRORS = {
    "415": _json(_ERROR, "Not JSON"),
    "422": _json(_ERROR, "Invalid fields (named in `fields`)"),
}
_ID = {
    "name": "account_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "format": "int64"},
}


@cache
def spec() -> dict[str, Any]:
    """The whole document."""
    account_input = {**_PUBLIC_PROPS, **_SECRET_PROPS}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "AutoTrader Security API",
            "version": __version__,
            "description": _RATE,
        },
        "servers": [{"url": "/"}],
        "security": [{"apiKeyHeader": []}, {"bearer": []}],
        "components": {
            "securitySchemes": {
                "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "api-key"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["status", "message"],
                    "properties": {
                        "status": {"const": "error"},
                        "message": {"type": "string"},
                        "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                    },
                },
                "TradingAccount": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": list(_ACCOUNT_OUT),  # every field is always sent
                    "properties": _ACCOUNT_OUT,
                },
                "TradingAccountCreate": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["broker", "pseudoAccName", "loginId"],
                    "properties": account_input,
                },
                "TradingAccountPatch": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": account_input,
                },
            },
        },
        "paths": {
            "/api/v1/me": {
                "get": {
                    "summary": "Who the key belongs to, and the calling key (any permission)",
                    "responses": {
                        "200": _json(
                            _ok(
                                {
                                    "type": "object",
                                    "required": ["username", "twoFactor", "key"],
                                    "properties": {"username": {"type": "string"}, "key": _KEY},
                                }
                            ),
                            "The key's owner and the key's name, permissions and expiry",
                        ),
                        **_ERRORS,
                    },
                }
            },
            "/api/v1/trading-accounts": {
                "get": {
                    "summary": "List trading accounts (never credentials); needs `read`",
                    "responses": {
                        "200": _json(_ok({"type": "array", "items": _ACCOUNT}), "Accounts"),
                        **_ERRORS,
                    },
                },
                "post": {
                    "summary": "Create a trading account; needs `manage-accounts`",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/TradingAccountCreate"}
                            }
                        },
                    },
                    "responses": {
                        "201": _json(_ok(_ACCOUNT), "Created"),
                        **_ERRORS,
                        **_BODY_ERRORS,
                    },
                },
            },
            "/api/v1/trading-accounts/{account_id}": {
                "parameters": [_ID],
                "get": {
                    "summary": "One trading account (never credentials); needs `read`",
                    "responses": {
                        "200": _json(_ok(_ACCOUNT), "The account"),
                        "404": _json(_ERROR, "No such account"),
                        **_ERRORS,
                    },
                },
                "patch": {
                    "summary": "Change fields; absent fields are kept; needs `manage-accounts`",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/TradingAccountPatch"}
                            }
                        },
                    },
                    "responses": {
                        "200": _json(_ok(_ACCOUNT), "Updated"),
                        "404": _json(_ERROR, "No such account"),
                        **_ERRORS,
                        **_BODY_ERRORS,
                    },
                },
                "delete": {
                    "summary": "Delete a trading account; needs `manage-accounts`",
                    "responses": {
                        "200": _json(
                            _ok({"type": "object", "properties": {"deleted": {"type": "integer"}}}),
                            "Deleted",
                        ),
                        "404": _json(_ERROR, "No such account"),
                        **_ERRORS,
                    },
                },
            },
        },
    }
