"""The OpenAPI 3.1 description of /api/v1/, built from the same tables the code uses."""

from __future__ import annotations

from functools import cache
from typing import Any

from webapp import __version__
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
    "401": _json(_ERROR, "Missing or invalid API key, or a key suspended by a lock-down"),
    "413": _json(_ERROR, "Body too large"),
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
        "info": {"title": "AutoTrader Security API", "version": __version__},
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
                    "required": [
                        "id",
                        "broker",
                        "brokerName",
                        "platform",
                        "pseudoAccName",
                        "loginId",
                        "createdAt",
                        "updatedAt",
                    ],
                    "properties": {
                        "id": {"type": "integer"},
                        "broker": {"type": "string", "enum": list(BROKERS)},
                        "brokerName": {"type": "string"},
                        "platform": {"type": "string"},
                        "pseudoAccName": {"type": "string"},
                        "loginId": {"type": "string"},
                        "createdAt": {"type": "string", "format": "date-time"},
                        "updatedAt": {"type": "string", "format": "date-time"},
                    },
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
                    "summary": "Who the key belongs to",
                    "responses": {
                        "200": _json(
                            _ok({"type": "object", "required": ["username"]}), "The key's owner"
                        ),
                        **_ERRORS,
                    },
                }
            },
            "/api/v1/trading-accounts": {
                "get": {
                    "summary": "List trading accounts (never credentials)",
                    "responses": {
                        "200": _json(_ok({"type": "array", "items": _ACCOUNT}), "Accounts"),
                        **_ERRORS,
                    },
                },
                "post": {
                    "summary": "Create a trading account",
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
                    "summary": "One trading account (never credentials)",
                    "responses": {
                        "200": _json(_ok(_ACCOUNT), "The account"),
                        "404": _json(_ERROR, "No such account"),
                        **_ERRORS,
                    },
                },
                "patch": {
                    "summary": "Change fields; absent fields are kept",
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
                    "summary": "Delete a trading account",
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
