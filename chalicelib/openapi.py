"""The API's OpenAPI 3.1 description, generated from the routes app.py registers and the models.

`document(app)` walks `app.routes` and describes each route by its entry in
ROUTES, a table keyed by (method, path) exactly as app.py registers them. An
entry says what Chalice cannot know: a summary, the least role that may call
the route, the request model, the answer model, the query and header
parameters and the statuses particular to the route. Everything else is
derived, so it cannot drift from the code:

- operationId is the view function's name; path parameters come from the path,
  each described once in PATH_PARAMETERS (a run ID is a lowercase UUID);
- request bodies come from the pydantic request models (chalicelib.models) in
  validation mode, answers from the answer models (chalicelib.answers) in
  serialization mode, generated together so that a model both sides share is
  one schema; their `$defs` become `components/schemas`;
- the statuses every route of a kind answers are added by rule (`_statuses`):
  400/413/415/422 with a body, 415 wherever Chalice checks the Content-Type,
  422 with a parameter, 404 with a path parameter (each names a run or a
  record type), and 401, 403 and 429 with a role (authentication,
  authorization and rate limits); an error's body is the service's
  `{"detail": ...}` or, where Chalice or API Gateway answers first, theirs. A
  500 is never described: it is a bug, not part of the contract.

A route that app.py registers and ROUTES does not describe is left out of the
document, and tests/unit/test_openapi.py fails (`undescribed`): the suite, not
a 500 of this route in production, is what stops it. To describe a new route,
add one entry to ROUTES, and its answer model to chalicelib.answers; a new path
parameter also needs an entry in PATH_PARAMETERS. The statuses added by rule
need no listing; a 409 or another status of the route's own goes in
`statuses`, and why in `description`.

The document does not change while the process lives, so it is built once, on
the first request that asks for it. Importing this module costs no more than
the models it names: no numpy, pandas, requests or boto3.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chalicelib import answers
from chalicelib.access import KEY_ID_PATTERN, KeyRequest
from chalicelib.listing import LIST_LIMIT, STATUSES
from chalicelib.models import MigrationRequest, RetryRequest
from chalicelib.records.spec_models import RECORD_TYPE_PATTERN

OPENAPI_VERSION = "3.1.0"
SCHEMA_REF = "#/components/schemas/{model}"
SECURITY_SCHEME = "apiKey"
# Each role may do what the ones before it may (DESIGN 14: authorized by role).
ROLES = ("viewer", "operator", "admin")


@dataclass(frozen=True)
class Parameter:
    name: str
    location: str           # "query" or "header"
    schema: dict[str, Any]
    description: str
    required: bool = False


@dataclass(frozen=True)
class PathParameter:
    """A path parameter names something (a run, a record type): an unknown value is a 404."""

    schema: dict[str, Any]
    description: str


@dataclass(frozen=True)
class Operation:
    """What the table says about one route."""

    summary: str
    tag: str
    role: str | None                     # the least role that may call it; None: open to anyone
    answer: type[BaseModel] | tuple[type[BaseModel], ...] | None  # several: the answer is one of them
    success: int = 200
    request: type[BaseModel] | None = None
    request_required: bool = True
    parameters: tuple[Parameter, ...] = ()
    statuses: tuple[int, ...] = ()       # the route's own statuses, beyond those added by rule
    description: str = ""
    media_type: str = "application/json"  # of the answer


def query_int(name: str, default: int, low: int, high: int, description: str) -> Parameter:
    """A query parameter read by chalicelib.api.query_int, with the same default and bounds."""
    return Parameter(name, "query", {"type": "integer", "default": default, "minimum": low, "maximum": high},
                     description)


def query_bool(name: str, description: str) -> Parameter:
    """A query parameter read by chalicelib.api.query_bool (which also takes 1 and 0)."""
    return Parameter(name, "query", {"type": "boolean", "default": False}, description)


PATH_PARAMETERS: dict[str, PathParameter] = {
    "run_id": PathParameter({"type": "string", "format": "uuid", "pattern": answers.UUID_PATTERN},
                            "The run's ID, as the trigger answered it (a lowercase UUID)."),
    "record_type": PathParameter({"type": "string", "pattern": RECORD_TYPE_PATTERN},
                                 "A record type's name (GET /api/v1/record-types)."),
    "key_id": PathParameter({"type": "string", "pattern": KEY_ID_PATTERN}, "An API key's ID (16 hex digits)."),
}

MIGRATIONS = "/api/v1/migrations"
RUN_LIMIT = query_int("limit", *LIST_LIMIT, description="How many runs, newest first.")
# chalicelib.listing reads them (a bad value is a 422, a bad cursor a 400).
LIST_FILTERS = (
    Parameter("status", "query", {"type": "string", "enum": list(STATUSES)},
              "Only runs with this status; `completed_with_rejections`: completed runs that rejected records."),
    Parameter("record_type", "query", {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,63}$"},
              "Only runs of this record type (a name that is no record type lists none)."),
    Parameter("since", "query", {"type": "string", "maxLength": 40},
              "Only runs created at or after this date (`2025-01-15`, from its start) or date and time (ISO 8601; "
              "UTC without an offset)."),
    Parameter("until", "query", {"type": "string", "maxLength": 40},
              "Only runs created at or before this date (`2025-01-15`, to its end) or date and time."),
    Parameter("cursor", "query", {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,400}$"},
              "The previous page's `next_cursor`, as it was given, with the same filters."),
)
ERRORS_OFFSET = query_int("offset", default=0, low=0, high=10**9,
                          description="The first row of the page (0-based), e.g. the previous page's `next_offset`.")
ERRORS_LIMIT = query_int("limit", default=100, low=1, high=1000, description="Rows on the page at most.")
ERRORS_RULE = Parameter("rule", "query", {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_]{0,63}$"},
                        "Only the rows of this rule (a key of `by_rule`); `offset` then counts that rule's rows.")
# chalicelib.api.idempotency_key reads it: 1 to 255 printable ASCII characters.
IDEMPOTENCY_KEY = Parameter(
    "Idempotency-Key", "header", {"type": "string", "pattern": "^[ -~]{1,255}$"},
    "Makes the trigger safe to repeat: the same key with the same request answers the run it made; the same "
    "key with another request is a 409.")

# One entry per route of app.py, keyed by (METHOD, path) as app.py registers it.
ROUTES: dict[tuple[str, str], Operation] = {
    ("GET", "/"): Operation(
        "The operators' dashboard", "dashboard", role=None, answer=None, media_type="text/html",
        description="A web page that polls the API; it carries no data of its own."),
    ("POST", MIGRATIONS + "/trigger"): Operation(
        "Queue a migration", "migrations", role="operator", answer=answers.QueuedAnswer,
        request=MigrationRequest, parameters=(IDEMPOTENCY_KEY,), statuses=(409,),
        description="Checks the request and that the file exists, records the run as `pending` and queues it; "
                    "it does not read the file. 409: the Idempotency-Key was used for another request. 429 also "
                    "when the caller's tenant has as many active runs as the stage allows."),
    ("POST", MIGRATIONS + "/preview"): Operation(
        "Try a migration on a file's first records", "migrations", role="operator", answer=answers.PreviewAnswer,
        request=MigrationRequest,
        parameters=(query_int("records", default=100, low=1, high=5000,
                              description="How many of the file's first records to map."),),
        description="Checks the body as a trigger does, then maps and validates the file's first records as a run "
                    "would, reading no further into the file than they take, and answers at once with the documents "
                    "(personal fields masked) and the error rows. Nothing is delivered or written and no run is "
                    "made. 422 also for a file a run would fail on (a wrong header, undecodable bytes, a record cut "
                    "short...), with the same message. `promote` is the trigger request of the full run."),
    ("GET", MIGRATIONS + "/status/{run_id}"): Operation(
        "A run's status and progress", "migrations", role="viewer",
        answer=(answers.RunStatusAnswer, answers.RunStatusWithDetails),
        parameters=(query_bool("include_details", "Add `details`: chunks, steps, throughput, output and error "
                                                  "report locations, the input format."),)),
    ("GET", MIGRATIONS + "/running"): Operation(
        "The active runs", "migrations", role="viewer", answer=answers.RunningAnswer,
        description="Runs that are `pending` or `running`."),
    ("POST", MIGRATIONS + "/cancel/{run_id}"): Operation(
        "Cancel a run", "migrations", role="operator", answer=answers.CancelAnswer, statuses=(409, 422),
        description="No new work of the run starts. Cancelling a cancelled run answers the same; a run that has "
                    "ended otherwise is a 409. Takes no body: a request with one is a 422."),
    ("POST", MIGRATIONS + "/retry/{run_id}"): Operation(
        "Retry a run's failed chunks", "migrations", role="operator", answer=answers.RetryAnswer,
        request=RetryRequest, request_required=False, statuses=(409,),
        description="Queues the failed chunks of a completed or failed run again, as the same run. 409: the run "
                    "is active or cancelled, has no failed chunks, or changed meanwhile."),
    ("GET", MIGRATIONS): Operation(
        "Recent runs", "migrations", role="viewer", answer=answers.RecentAnswer,
        parameters=(RUN_LIMIT, *LIST_FILTERS), statuses=(400,),
        description="The caller's runs, newest first, filtered, a page at a time (follow `next_cursor`), with the "
                    "counts by status of its runs of the same record_type, since and until. 400: a `cursor` the "
                    "API did not give, or gave for another tenant or other filters."),
    ("GET", MIGRATIONS + "/{run_id}/errors"): Operation(
        "A page of a run's error report", "migrations", role="viewer", answer=answers.ErrorsPage,
        parameters=(ERRORS_OFFSET, ERRORS_LIMIT, ERRORS_RULE),
        description="Rows of counted chunks, in file order; while a run is going, pages may shift as chunks land. "
                    "With `rule`, only that rule's rows, `offset` counting them."),
    ("GET", MIGRATIONS + "/{run_id}/chunks"): Operation(
        "A run's chunks by state, and its throughput", "migrations", role="viewer", answer=answers.ChunksAnswer,
        parameters=(query_int("offset", default=0, low=0, high=10**9,
                              description="Chunks before the page (0-based), e.g. the previous page's "
                                          "`next_offset`."),
                    query_int("limit", default=2000, low=1, high=10000, description="Chunks on the page at most.")),
        description="Each chunk done, failed, in progress (a delivery of it under way) or pending, with its "
                    "counts once counted; and records counted over time (the run page's grid and line)."),
    ("GET", "/api/v1/record-types"): Operation(
        "The record types", "record types", role="viewer", answer=answers.RecordTypesAnswer),
    ("GET", "/api/v1/record-types/{record_type}/layout"): Operation(
        "A record type's fixed-width layout", "record types", role="viewer", answer=answers.LayoutAnswer,
        description="The layout the service understood (offsets, PICs, usages), to hold against the "
                    "mainframe's compile listing. 404 also for a record type without a fixed-width layout."),
    ("GET", MIGRATIONS + "/{run_id}/reconciliation"): Operation(
        "A run's reconciliation report", "migrations", role="viewer", answer=answers.ReconciliationReport,
        statuses=(409,),
        description="Records read, delivered, rejected (by rule) and not processed, and the spec's control totals "
                    "by group, with the checks that they balance (docs/reconciliation.md). Written when the run "
                    "ends, beside its outputs. 409: the run has not ended, or its report is not written yet."),
    ("POST", MIGRATIONS + "/{run_id}/reconciliation"): Operation(
        "Build a run's reconciliation report again", "migrations", role="operator", answer=answers.ReportRequested,
        statuses=(409, 422),
        description="For a run whose status says its report could not be built on any attempt, or could not be "
                    "queued (`reconciliation.failed`): once what failed is mended, queues the report again and "
                    "notes who asked in the run's audit trail. The report's route answers 409 until it is written. "
                    "409: the run has not ended, or its report is written or being built already. Takes no body: a "
                    "request with one is a 422."),
    ("GET", MIGRATIONS + "/{run_id}/audit"): Operation(
        "A run's audit trail", "migrations", role="viewer", answer=answers.AuditAnswer,
        description="Who started, cancelled and retried the run, and asked again for its reconciliation report, "
                    "and when."),
    ("POST", "/api/v1/keys"): Operation(
        "Issue an API key", "keys", role="admin", answer=answers.KeyIssued, success=201, request=KeyRequest,
        description="For the caller's own tenant. The answer is the only place the key is ever shown."),
    ("GET", "/api/v1/keys"): Operation(
        "The tenant's API keys", "keys", role="admin", answer=answers.KeyList),
    ("DELETE", "/api/v1/keys/{key_id}"): Operation(
        "Revoke an API key", "keys", role="admin", answer=answers.KeyRevoked,
        description="At once: the next request with the key is refused. Revoking twice keeps the first "
                    "revocation; another tenant's key is a 404."),
    ("GET", "/api/v1/openapi.json"): Operation(
        "This description", "service", role="viewer", answer=answers.OpenApiDocument),
    ("GET", "/api/v1/health"): Operation(
        "Whether the service can work", "service", role=None, answer=answers.HealthAnswer, statuses=(503,),
        description="Reads the runs table and the work queue, changing nothing. Open on every stage, for load "
                    "balancers and uptime probes: it says ok or failing per component, and nothing else."),
}

STATUS_TEXT = {
    200: "OK.",
    201: "Created.",
    204: "Done; no body.",
    400: "The body is not JSON (or not UTF-8, nested too deep, or gives a key twice).",
    401: "No API key, or one that is unknown, expired or revoked.",
    403: "The API key's role may not do this; or a page of another origin asked to change a run.",
    404: "Not found.",
    409: "A conflict with the state of what the request names; the operation's description says which.",
    413: "The body is larger than the API reads.",
    415: "The Content-Type is not application/json (Chalice's answer has a shape of its own).",
    422: "A field, query parameter or header is missing or has an invalid value; `detail` names it. Nothing was "
         "changed.",
    429: "Too many requests; Retry-After says when to try again.",
    503: "A component the service needs does not answer; `checks` says which.",
}
# Who answers each error: the service (`{"detail": ...}`), or for some statuses API Gateway before the request
# reaches it, in shapes of its own. A 415 is answered by Chalice or by the service (`_error_answers`).
ERROR_ANSWERS: dict[int, tuple[type[BaseModel], ...]] = {
    401: (answers.ErrorDetail, answers.GatewayMessage),
    403: (answers.ErrorDetail, answers.GatewayMessage, answers.GatewayDenial),
    413: (answers.ErrorDetail, answers.GatewayMessage),
    503: (answers.HealthAnswer,),  # the health route's answer, when a check fails
}
ERROR_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "How to authenticate (the service's own 401).",
                               "schema": {"type": "string"}}},
    429: {"Retry-After": {"description": "Seconds to wait.", "required": True,
                          "schema": {"type": "integer", "minimum": 1}}},
}

API_DESCRIPTION = f"""\
Migrates legacy insurance records (disability, absence, group_policy, employee, claim) into the target \
platform, asynchronously: a trigger answers at once with a run ID, which the other operations follow.

Paths are relative to the base URL: `http://127.0.0.1:8000` for the local stack (`make run`), the stack \
output `EndpointURL` in AWS.

Every /api/v1 operation takes an API key as `Authorization: Bearer <api key>`; the least role it needs \
({", ".join(ROLES)}: each may do what the ones before it may) is in its `x-required-role`. The local stack runs \
open by default (AUTH=off), so no key is needed there.

Every error the service answers is `{{"detail": "<what is wrong>"}}`. Chalice (a 415) and API Gateway (a 401, \
403 or 413 before the request reaches the service) answer in shapes of their own, described with each status. A \
500 is a bug, not part of this description: its details are in the service's log."""


def registered_routes(app) -> set[tuple[str, str]]:
    """(METHOD, path) of every route of a Chalice app."""
    return {(method, path) for path, methods in app.routes.items() for method in methods}


def undescribed(app) -> list[tuple[str, str]]:
    """The routes of `app` that ROUTES does not describe, and so the document leaves out."""
    return sorted(registered_routes(app) - set(ROUTES))


@functools.cache
def document(app) -> dict[str, Any]:
    """The OpenAPI 3.1 description of every route of `app`, built once per process."""
    described = registered_routes(app) & set(ROUTES)
    operations = [ROUTES[route] for route in described]
    refs, schemas = _model_schemas(operations)
    paths: dict[str, dict[str, Any]] = {}
    for path, methods in app.routes.items():
        for method, entry in methods.items():
            if (method, path) in described:
                paths.setdefault(path, {})[method.lower()] = _operation(path, entry, ROUTES[(method, path)], refs)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "Records migration API", "version": "1", "description": API_DESCRIPTION},
        "tags": [{"name": tag} for tag in sorted({op.tag for op in operations})],
        "security": [{SECURITY_SCHEME: []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {SECURITY_SCHEME: {
                "type": "http", "scheme": "bearer",
                "description": "An API key, sent as `Authorization: Bearer <api key>`. The local stack runs open by "
                               "default (AUTH=off) and ignores it."}},
        },
    }


def _model_schemas(operations) -> tuple[dict, dict]:
    """The schema reference of each model, and the components they need: requests as they are read,
    answers as they are written, generated together so that a model both use is one schema."""
    errors = {answers.ErrorDetail, answers.ChaliceError, *(m for models in ERROR_ANSWERS.values() for m in models)}
    wanted: dict[tuple[type[BaseModel], str], None] = {
        (model, "serialization"): None for model in sorted(errors, key=lambda model: model.__name__)}
    for op in operations:
        if op.request is not None:
            wanted[(op.request, "validation")] = None
        for model in _answer_models(op):
            wanted[(model, "serialization")] = None
    refs, definitions = models_json_schema(list(wanted), ref_template=SCHEMA_REF)
    return {model: ref for (model, _mode), ref in refs.items()}, dict(sorted(definitions.get("$defs", {}).items()))


def _answer_models(op: Operation) -> tuple[type[BaseModel], ...]:
    if op.answer is None:
        return ()
    return op.answer if isinstance(op.answer, tuple) else (op.answer,)


def _operation(path: str, entry, op: Operation, refs: dict) -> dict[str, Any]:
    path_names = re.findall(r"{(\w+)}", path)
    described: dict[str, Any] = {
        "operationId": entry.view_name,
        "summary": op.summary,
        "tags": [op.tag],
    }
    if op.description:
        described["description"] = op.description
    parameters = [_path_parameter(name) for name in path_names] + [_parameter(p) for p in op.parameters]
    if parameters:
        described["parameters"] = parameters
    if op.request is not None:
        described["requestBody"] = {"required": op.request_required,
                                    "content": {"application/json": {"schema": refs[op.request]}}}
    described["responses"] = {str(status): _response(status, entry, op, refs)
                              for status in _statuses(path_names, entry, op)}
    if op.role is None:
        described["security"] = []  # open, whatever the stage
    else:
        described["x-required-role"] = op.role
    return described


def _statuses(path_names: list[str], entry, op: Operation) -> list[int]:
    statuses = {op.success, *op.statuses}
    if op.request is not None:
        statuses |= {400, 413, 415, 422}
    if op.parameters:
        statuses.add(422)
    if _chalice_checks_content_type(entry):
        statuses.add(415)
    if path_names:
        statuses.add(404)
    if op.role is not None:
        statuses |= {401, 403, 429}
    return sorted(statuses)


def _response(status: int, entry, op: Operation, refs: dict) -> dict[str, Any]:
    described: dict[str, Any] = {"description": STATUS_TEXT[status]}
    if status == op.success:
        if op.media_type != "application/json":
            described["content"] = {op.media_type: {"schema": {"type": "string"}}}
        elif _answer_models(op):
            described["content"] = {"application/json": {"schema": _one_of(_answer_models(op), refs)}}
        return described
    if status in ERROR_HEADERS:
        described["headers"] = ERROR_HEADERS[status]
    described["content"] = {"application/json": {"schema": _one_of(_error_answers(status, entry, op), refs)}}
    return described


def _error_answers(status: int, entry, op: Operation) -> tuple[type[BaseModel], ...]:
    if status != 415:
        return ERROR_ANSWERS.get(status, (answers.ErrorDetail,))
    # Chalice refuses a Content-Type the route does not take; the service refuses a body that is not JSON,
    # which Chalice lets through without a Content-Type, or to a route that takes any.
    return ((answers.ChaliceError,) if _chalice_checks_content_type(entry) else ()) + \
        ((answers.ErrorDetail,) if op.request is not None else ())


def _chalice_checks_content_type(entry) -> bool:
    """Whether Chalice answers 415 itself to a request whose Content-Type the route does not list (a route
    lists application/json unless app.py says otherwise), body or not."""
    return "*/*" not in entry.content_types


def _one_of(models: tuple[type[BaseModel], ...], refs: dict) -> dict[str, Any]:
    return refs[models[0]] if len(models) == 1 else {"oneOf": [refs[model] for model in models]}


def _path_parameter(name: str) -> dict[str, Any]:
    described = PATH_PARAMETERS[name]
    return {"name": name, "in": "path", "required": True, "description": described.description,
            "schema": described.schema}


def _parameter(parameter: Parameter) -> dict[str, Any]:
    return {"name": parameter.name, "in": parameter.location, "required": parameter.required,
            "description": parameter.description, "schema": parameter.schema}
