"""Schemathesis against /api/v1/openapi.json on a live server, with a valid key.

Checks: no server error, and every response matches the documented status codes,
content type and schema.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
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
    # A rate limit far above what the fuzzer sends: the cases test the answers, not the
    # limit (tests/test_bot_keys.py and test_workers.py test the 429).
    limits = {"AUTOTRADER_API_RATE_PER_SECOND": "100000", "AUTOTRADER_API_BURST": "100000"}
    with running_server(folder, AUTOTRADER_COOKIE_SECURE="false", **limits) as base:
        key = register_and_get_key(base, "fuzzer", "correct horse battery staple")
        yield base, key


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_api_matches_its_schema(live_api):
    """Every operation, many generated cases each (driven through Hypothesis directly)."""
    base, key = live_api
    schema = schemathesis.openapi.from_url(f"{base}/api/v1/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 6

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
        def run(case):
            case.call_and_validate(base_url=base, headers={"api-key": key}, checks=CHECKS)

        run()
