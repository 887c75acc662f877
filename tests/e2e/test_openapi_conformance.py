"""The live API against its own OpenAPI description, over HTTP: what schemathesis generates, and real runs.

The local stack must serve the description this process builds from the same
code (GET /api/v1/openapi.json, compared whole). schemathesis then sends every
operation the requests it derives from it (the described boundaries and
methods the route lacks, then 25 generated requests an operation, valid and
invalid, from a fixed seed so that a failure repeats) and checks each answer:
no 5xx, a status the operation describes, the described Content-Type, a body
that matches the status's schema. Generated run IDs name no run, so the last
test holds the answers of real runs (finished with errors, cancelled, refused)
against the same description.

The description is built at collection, not fetched from the stack by a
fixture, because schemathesis makes its tests when pytest collects them, and
its fixture-based loader (`schemathesis.pytest.from_fixture`, 4.32.5) fails
under pytest 9.2 (it sets `Node._nodeid`, which pytest no longer has).

The stack runs open (AUTH=off): the 401 and 403 of a stage with keys are
tests/functional/test_access.py's.
"""
from __future__ import annotations

import json

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)

from chalicelib import openapi
from tests.unit.test_openapi import load_app

pytestmark = pytest.mark.e2e

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
SEED = 20261201
SAMPLE = "data/input/sample_disability_data.csv"
MIGRATIONS = "/api/v1/migrations"


# Built when pytest collects this module, before any stack has started; the stack must serve the same.
DESCRIPTION = openapi.document(load_app())
described_api = schemathesis.openapi.from_dict(DESCRIPTION)
described_api.config.seed = SEED  # each operation's cases derive from it: the same requests on every run
# Methods a route does not have are sent too (Chalice answers 405). Not TRACE nor QUERY: the local stack's HTTP
# server (Python's http.server, under `chalice local`) answers those itself with a 501 the service never sees, and
# API Gateway does not pass them on either.
described_api.config.phases.coverage.unexpected_methods = {"get", "put", "post", "delete", "options", "patch"}


def test_the_stack_serves_this_description(local_stack):
    served = requests.get(f"{local_stack.api_url}/api/v1/openapi.json", timeout=60)
    assert served.status_code == 200 and served.headers["Content-Type"] == "application/json"
    assert served.json() == json.loads(json.dumps(DESCRIPTION))


# No deadline and no speed health check: CI is a loaded two-core machine, and a slow answer is not wrong.
@described_api.parametrize()
@settings(max_examples=25, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_described(case, local_stack):
    case.call_and_validate(base_url=local_stack.api_url, checks=CHECKS, timeout=60)


def test_real_runs_answer_as_described(local_stack):
    def described(method: str, path: str, response: requests.Response, status: int = 200) -> dict:
        assert response.status_code == status, response.text
        described_api[path][method].validate_response(response)
        return response.json()

    url = local_stack.api_url
    # GIVEN a sample file migrated to files (it holds invalid records), to the end
    run_id = local_stack.trigger(file_path=SAMPLE, record_type="disability", output_mode="file")["run_id"]
    local_stack.wait_until_finished(run_id)
    # THEN its status, with and without details, its error pages and the lists answer as described
    status = f"{MIGRATIONS}/status/{{run_id}}"
    described("GET", status, requests.get(f"{url}{MIGRATIONS}/status/{run_id}", timeout=60))
    details = described("GET", status, requests.get(f"{url}{MIGRATIONS}/status/{run_id}",
                                                    params={"include_details": "true"}, timeout=60))
    assert details["details"]["errors_by_rule"]
    errors = f"{MIGRATIONS}/{{run_id}}/errors"
    first = described("GET", errors, requests.get(f"{url}{MIGRATIONS}/{run_id}/errors", params={"limit": 2},
                                                  timeout=60))
    assert first["errors"] and first["next_offset"] == 2
    described("GET", errors, requests.get(f"{url}{MIGRATIONS}/{run_id}/errors",
                                          params={"offset": first["error_rows"] - 1}, timeout=60))
    described("GET", MIGRATIONS, requests.get(f"{url}{MIGRATIONS}", params={"limit": 200}, timeout=60))
    # AND refusals of a finished run answer as described: no failed chunk to retry, too late to cancel
    described("POST", f"{MIGRATIONS}/retry/{{run_id}}",
              requests.post(f"{url}{MIGRATIONS}/retry/{run_id}", timeout=60), status=409)
    described("POST", f"{MIGRATIONS}/cancel/{{run_id}}", local_stack.cancel(run_id), status=409)
    # AND a run cancelled at once (validate_only: nothing is written or delivered) answers as described
    other = local_stack.trigger(file_path=SAMPLE, record_type="disability", output_mode="file",
                                validate_only=True)["run_id"]
    described("GET", f"{MIGRATIONS}/running", requests.get(f"{url}{MIGRATIONS}/running", timeout=60))
    cancel = f"{MIGRATIONS}/cancel/{{run_id}}"
    cancelled = local_stack.cancel(other)
    if cancelled.status_code == 409:  # a loaded machine's workers finished it first: still described
        described("POST", cancel, cancelled, status=409)
    else:
        described("POST", cancel, cancelled)
    local_stack.wait_until_finished(other)  # nothing of this test goes on into the next one
    described("GET", status, requests.get(f"{url}{MIGRATIONS}/status/{other}", params={"include_details": "1"},
                                          timeout=60))
    # AND every record type's layout
    for record_type in requests.get(f"{url}/api/v1/record-types", timeout=60).json()["record_types"]:
        if "fixed_width" in record_type["input_formats"]:
            described("GET", "/api/v1/record-types/{record_type}/layout",
                      requests.get(f"{url}/api/v1/record-types/{record_type['record_type']}/layout", timeout=60))
