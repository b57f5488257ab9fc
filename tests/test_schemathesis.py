"""Schemathesis against /api/v1/openapi.json on a live server, with a valid key.

Checks: no server error, and every response matches the documented status codes,
content type and schema.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.live_server import register_and_get_key, running_server


@pytest.fixture(scope="module")
def live_api(tmp_path_factory):
    folder = tmp_path_factory.mktemp("schemathesis")
    with running_server(folder, AUTOTRADER_COOKIE_SECURE="false") as base:
        key = register_and_get_key(base, "fuzzer", "correct horse battery staple")
        yield base, key


@pytest.fixture
def api_schema(live_api):
    base, _ = live_api
    return schemathesis.openapi.from_url(f"{base}/api/v1/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_matches_its_schema(case, live_api):
    base, key = live_api
    case.call_and_validate(
        base_url=base,
        headers={"api-key": key},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
