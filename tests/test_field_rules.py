"""One source for what a trading-account field accepts: the OpenAPI schema, the form's
inputs and the table's columns all agree with webapp/trading_fields.RULES."""

import re
from html.parser import HTMLParser

from webapp.models import TradingAccount
from webapp.openapi import spec
from webapp.trading_fields import ECHO, PUBLIC_FIELDS, RULES, SECRET_FIELDS


class _Inputs(HTMLParser):
    """The attributes of each <input>, by name, and each element's text by id."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs: dict[str, dict[str, str | None]] = {}
        self.text_by_id: dict[str, str] = {}
        self._open: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "input" and found.get("name"):
            self.inputs[str(found["name"])] = found
        self._open = found.get("id")

    def handle_data(self, data: str) -> None:
        if self._open and data.strip():
            self.text_by_id[self._open] = data.strip()


def test_the_api_schema_states_each_rule():
    schemas = spec()["components"]["schemas"]
    for schema in ("TradingAccountCreate", "TradingAccountPatch"):
        props = schemas[schema]["properties"]
        assert set(props) == set(RULES)
        for name, rule in RULES.items():
            assert props[name].get("maxLength") == rule.max_length, (schema, name)
            assert props[name].get("pattern") == rule.pattern, (schema, name)
            assert props[name].get("writeOnly", False) == (name in SECRET_FIELDS)


def test_each_pattern_is_the_check_the_server_runs():
    # The pattern a client reads refuses exactly what the server refuses (values that
    # the server does not strip, so the two see the same text).
    samples = ["Main", "a" * 40, "a" * 41, "ab cd", "x@y.z", "tab\tbed", "naïve", "!~", " "]
    for name, rule in RULES.items():
        if rule.pattern is None:
            continue
        for value in samples:
            if value != value.strip():
                continue
            client_ok = re.fullmatch(rule.pattern, value) is not None
            server_ok = rule.check(value)[1] == ""
            assert client_ok == server_ok, (name, value)


async def test_form_inputs_take_their_limits_from_the_rules(trader):
    page = await trader.page("/trading-accounts/new")
    parsed = _Inputs()
    parsed.feed(page.text)
    for name in ("pseudoAccName", "loginId", *SECRET_FIELDS):
        rule = RULES[name]
        maxlength = int(str(parsed.inputs[name]["maxlength"]))
        # Room for an over-long value to reach the server whole and be refused with
        # the rule's message, never cut short by the browser.
        assert maxlength == rule.input_max, name
        assert maxlength >= (rule.max_length or 0) and maxlength >= ECHO
    assert parsed.text_by_id["new-pseudoAccName-help"] == RULES["pseudoAccName"].hint


def test_columns_are_as_long_as_the_rules_allow():
    columns = TradingAccount.__table__.c
    expected = {
        "platform": "platform",
        "pseudo_acc_name": "pseudoAccName",
        "nickname_key": "pseudoAccName",
        "login_id": "loginId",
    }
    for column, field in expected.items():
        assert field in PUBLIC_FIELDS
        assert columns[column].type.length == RULES[field].max_length, column
