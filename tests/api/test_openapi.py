"""The OpenAPI description is served, and the API keeps to it under property-based testing (schemathesis)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.strategies import SearchStrategy
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from roxcrm.models import Organization, User
from roxcrm.wsgi import application
from tests.api.conftest import make_token
from tests.factories import make_account, make_contact, make_custom_field

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    ignored_auth,
]
EXAMPLES_PER_OPERATION = 10


def test_openapi_description_is_served(client: Any) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    description = response.json()
    assert description["openapi"].startswith("3.")
    assert description["components"]["securitySchemes"] == {"TokenAuth": {"type": "http", "scheme": "bearer"}}
    for resource in ("accounts", "contacts", "opportunities", "leads", "products", "activities"):
        assert {"get", "post"} <= set(description["paths"][f"/api/v1/{resource}"])
        assert {"get", "patch"} <= set(description["paths"][f"/api/v1/{resource}/{{code}}"])
    assert set(description["paths"]["/api/v1/picklists"]) == {"get"}


@pytest.fixture
def api_description(settings: Any, db: None) -> Iterator[schemathesis.BaseSchema]:
    # schemathesis calls the WSGI application as host "localhost".
    settings.ALLOWED_HOSTS = ["localhost", "testserver"]
    settings.API_RATE_LIMIT_PER_MINUTE = 1_000_000
    # As Django's test client does: a finished request must not close the connection holding the test's transaction.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def auth_headers(org: Organization, admin_user: User) -> dict[str, str]:
    # Some records and custom fields, so lists and custom field validation have something to work on.
    account = make_account(org, name="Initech", website="https://initech.example")
    make_contact(org, account=account, email="peter@initech.example")
    make_custom_field(org, label="Tier", data_type="picklist", options=["Gold", "Silver"])
    make_custom_field(org, label="Seats", data_type="number", object_type="opportunity")
    _, secret = make_token(org, admin_user, name="schemathesis")
    return {"Authorization": f"Bearer {secret}"}


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_keeps_to_its_openapi_description(
    mode: GenerationMode, api_description: schemathesis.BaseSchema, auth_headers: dict[str, str]
) -> None:
    """Generated requests to every operation: valid ones (positive) and ones the description rules out (negative,
    which must be refused with a 4xx). No answer may be a server error or stray from the description."""
    operations = [result.ok() for result in api_description.get_all_operations()]
    # 24 of the standard objects, 4 of the objects an organization added, 1 of Salesforce's picklists
    assert len(operations) == 29
    for operation in operations:
        checks = CHECKS
        if mode == GenerationMode.NEGATIVE and operation.method.upper() == "GET" and "{" not in operation.path:
            # A value the description rules out can turn into an allowed one (or none) once written into a query
            # string: an empty object drops the parameter, a number becomes digits. Lists still must not fail.
            checks = [check for check in CHECKS if check is not negative_data_rejection]
        run_generated_cases(operation.as_strategy(generation_mode=mode), auth_headers, checks)


def run_generated_cases(strategy: SearchStrategy, headers: dict[str, str], checks: list) -> None:
    @given(case=strategy)
    @hypothesis_settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def call(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers, checks=checks)

    call()
