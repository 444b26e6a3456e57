"""Schemathesis against /api/v1/openapi.json: a small bounded run that finds no server error."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.web.conftest import add_history, bearer

EXAMPLES = 12


def test_the_api_survives_schemathesis(app, tokens, sqlite_url):
    add_history(sqlite_url)
    headers = bearer(tokens["admin"])
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, headers=headers)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 19
    failures: list[str] = []
    for operation in operations:

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def exercise(case) -> None:
            response = case.call(headers=headers)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {response.status_code}")
            assert response.headers.get("content-type", [""])[0].startswith("application/json")
            assert "Traceback" not in response.text

        exercise()
    assert failures == []


@pytest.mark.parametrize("path", ["/api/v1/runs/99999999999999999999", "/api/v1/jobs/0"])
def test_out_of_range_ids_are_404_not_500(client, tokens, path):
    assert client.get(path, headers=bearer(tokens["viewer"])).status_code == 404
