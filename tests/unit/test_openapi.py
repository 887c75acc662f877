"""The API's OpenAPI description (chalicelib.openapi): complete, valid, and true to what the service answers.

The route table must describe exactly the routes app.py registers; the document
must be valid OpenAPI 3.1; its parameters must have the bounds app.py reads; and
the answers the use cases give (driven over the fakes of tests/unit/fakes.py)
must match the answer schemas, which in turn must refuse an answer that
changed shape. The live API is held against the same description over HTTP by
tests/e2e/test_openapi_conformance.py.
"""
from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import subprocess
import sys
import uuid

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator

from chalicelib import listing, openapi
from chalicelib.listing import ListQuery
from chalicelib.access import OPEN_CALLER as OPEN
from chalicelib.errors import RunConflict
from chalicelib.messages import ReconcileMessage
from chalicelib.models import MigrationRequest, RetryRequest
from local_stack.environment import PROJECT_DIR
from tests.unit.fakes import employees_csv, wire

INPUT = "data/input/employees.csv"
MIGRATIONS = "/api/v1/migrations"
HEALTH = "/api/v1/health"


def load_app():
    """app.py's Chalice app, loaded under a name of its own: `import app` would fix the stage settings it reads
    at import (AUTH) for the rest of the session, and tests/functional imports it with settings of its own."""
    spec = importlib.util.spec_from_file_location("app_as_described", os.path.join(PROJECT_DIR, "app.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.app


APP = load_app()


@pytest.fixture(scope="module")
def document() -> dict:
    return openapi.document(APP)


def answer_schema(document: dict, method: str, path: str, status: int = 200) -> Draft202012Validator:
    """A validator of an operation's answer, its references resolved in the document, formats checked."""
    schema = document["paths"][path][method.lower()]["responses"][str(status)]["content"]["application/json"]["schema"]
    return Draft202012Validator({**schema, "components": document["components"]},
                                format_checker=Draft202012Validator.FORMAT_CHECKER)


def assert_described(document: dict, method: str, path: str, answer: dict, status: int = 200) -> None:
    problems = [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
                for e in answer_schema(document, method, path, status).iter_errors(json.loads(json.dumps(answer)))]
    assert not problems, f"{method} {path} answered outside its description:\n" + "\n".join(problems)


# ---------------------------------------------------------------- complete and valid

def test_the_table_describes_every_route_of_app_py_and_no_other(document):
    assert not openapi.undescribed(APP), (f"app.py registers routes that chalicelib/openapi.py ROUTES does not "
                                          f"describe (so its description leaves them out): {openapi.undescribed(APP)}")
    unregistered = sorted(set(openapi.ROUTES) - openapi.registered_routes(APP))
    assert not unregistered, f"chalicelib/openapi.py ROUTES describes routes that app.py does not register: {unregistered}"
    assert {(method.upper(), path) for path, methods in document["paths"].items() for method in methods} == \
        openapi.registered_routes(APP)


def test_the_document_is_valid_openapi_3_1(document):
    OpenAPIV31SpecValidator(document).validate()
    assert document["openapi"].startswith("3.1.")


def test_the_document_is_built_once_per_process(document):
    assert openapi.document(APP) is document


def test_every_operation_has_an_id_a_summary_and_its_statuses(document):
    ids = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            ids.append(operation["operationId"])
            assert operation["summary"]
            statuses = {int(status) for status in operation["responses"]}
            if path == HEALTH:  # open to probes without a key; its 503 says a component is failing
                assert operation["security"] == [] and {200, 503} <= statuses and not statuses & {401, 403, 429}
                continue
            assert not any(status >= 500 for status in statuses), f"{method} {path}: a 500 is a bug, not the contract"
            if path.startswith("/api/v1/"):
                assert operation.get("security", document["security"]) == [{"apiKey": []}]
                assert operation["x-required-role"] in openapi.ROLES
                assert {401, 403, 429} <= statuses, f"{method} {path}"
            if "requestBody" in operation:
                assert list(operation["requestBody"]["content"]) == ["application/json"]
                assert {400, 413, 422} <= statuses, f"{method} {path}"
            if "{run_id}" in path:
                assert 404 in statuses, f"{method} {path}"
    assert len(ids) == len(set(ids))
    assert document["paths"]["/"]["get"]["security"] == []  # the dashboard page is open; its API calls are not


def test_conflicts_are_described_where_a_run_s_state_can_refuse(document):
    for action in ("trigger", "cancel/{run_id}", "retry/{run_id}"):
        assert "409" in document["paths"][f"{MIGRATIONS}/{action}"]["post"]["responses"]


def test_request_bodies_are_the_request_models_as_they_are_read(document):
    schemas = document["components"]["schemas"]
    for path, model in ((f"{MIGRATIONS}/trigger", MigrationRequest), (f"{MIGRATIONS}/retry/{{run_id}}", RetryRequest)):
        body = document["paths"][path]["post"]["requestBody"]
        assert body["content"]["application/json"]["schema"] == {"$ref": f"#/components/schemas/{model.__name__}"}
        generated = model.model_json_schema(mode="validation", ref_template=openapi.SCHEMA_REF)
        for name, definition in generated.pop("$defs", {}).items():
            assert schemas[name] == definition, name
        assert schemas[model.__name__] == generated
    assert document["paths"][f"{MIGRATIONS}/trigger"]["post"]["requestBody"]["required"] is True
    assert document["paths"][f"{MIGRATIONS}/retry/{{run_id}}"]["post"]["requestBody"]["required"] is False


def test_a_run_id_is_described_as_the_uuid_form_the_service_looks_up(document):
    validator = Draft202012Validator(openapi.PATH_PARAMETERS["run_id"].schema)
    assert validator.is_valid(str(uuid.uuid4()))
    assert not validator.is_valid(str(uuid.uuid4()).upper())  # the service answers 404 to these
    assert not validator.is_valid(uuid.uuid4().hex)
    for path, methods in document["paths"].items():
        for operation in methods.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    assert parameter["required"] and parameter["schema"] == \
                        openapi.PATH_PARAMETERS[parameter["name"]].schema


def test_query_parameters_have_the_defaults_and_bounds_app_py_reads(document):
    # GIVEN the query_int and query_bool calls in app.py's views, read from its source, and the list's parameters,
    # which chalicelib.listing reads
    read = _query_parameters_read_by_app_py()
    read["recent_migrations"] = _query_parameters_read_by_the_listing()
    # THEN each view's parameters are described with the same default and bounds, and no other
    by_view = {operation["operationId"]: operation for methods in document["paths"].values()
               for operation in methods.values()}
    for view, parameters in read.items():
        described = {p["name"]: p["schema"] for p in by_view[view].get("parameters", []) if p["in"] == "query"}
        if view == "recent_migrations":  # the listing's reader gives every parameter with its schema
            assert described == parameters, view
            continue
        # Text parameters (an errors page's `rule`) are checked where they are read; here, that the view reads them.
        assert {n: s for n, s in described.items() if s["type"] != "string"} == parameters, view
        texts = [n for n, s in described.items() if s["type"] == "string"]
        assert all(f'"{name}"' in _view_source(view) for name in texts), view
    for view, operation in by_view.items():
        if view not in read:
            assert not [p for p in operation.get("parameters", []) if p["in"] == "query"], view


def _query_parameters_read_by_app_py() -> dict[str, dict[str, dict]]:
    with open(os.path.join(PROJECT_DIR, "app.py"), encoding="utf-8") as f:
        tree = ast.parse(f.read())
    read: dict[str, dict[str, dict]] = {}
    for view in (node for node in tree.body if isinstance(node, ast.FunctionDef)):
        for call in (n for n in ast.walk(view) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)):
            if call.func.id not in ("query_int", "query_bool"):
                continue
            name = _constant(call.args[1])
            options = {k.arg: _constant(k.value) for k in call.keywords}
            read.setdefault(view.name, {})[name] = (
                {"type": "integer", "default": options["default"], "minimum": options["low"],
                 "maximum": options["high"]} if call.func.id == "query_int" else {"type": "boolean", "default": False})
    return read


def _view_source(view: str) -> str:
    with open(os.path.join(PROJECT_DIR, "app.py"), encoding="utf-8") as f:
        source = f.read()
    node = next(n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef) and n.name == view)
    return ast.get_source_segment(source, node)


def _query_parameters_read_by_the_listing() -> dict[str, dict]:
    """The list's query parameters: the names chalicelib.listing reads (`params.get`, `query_int`, `_bound`), with
    the limit's bounds and each filter's schema as described."""
    with open(os.path.join(PROJECT_DIR, "chalicelib", "listing.py"), encoding="utf-8") as f:
        source = f.read()
    names = set(re.findall(r'params\.get\("(\w+)"\)', source)) | \
        set(re.findall(r'(?:query_int|_bound)\(params, "(\w+)"', source))
    default, low, high = listing.LIST_LIMIT
    described = {"limit": {"type": "integer", "default": default, "minimum": low, "maximum": high},
                 **{p.name: p.schema for p in openapi.LIST_FILTERS}}
    assert set(described) == names
    return described


def _constant(node: ast.expr):
    """A constant expression of app.py's source (`"limit"`, `10**9`), evaluated with nothing in scope."""
    return eval(compile(ast.Expression(body=node), "app.py", "eval"), {"__builtins__": {}})


# ---------------------------------------------------------------- true to the answers

@pytest.fixture
def w(tmp_path):
    wiring = wire(tmp_path, CHUNK_RECORDS="2")
    wiring.write(INPUT, employees_csv(6, bad=(2,)))
    return wiring


def run_to_the_end(w, run_id: str, dead_chunk: int | None = None) -> None:
    """Plan the run and process its chunks; the chunk numbered `dead_chunk` fails for good (its DLQ)."""
    worker = w.worker
    worker.handle(w.queue.take()[0].to_json())
    for message in w.queue.take():
        if message.chunk == dead_chunk:
            worker.handle_dead_letter(message.to_json())
        else:
            worker.handle(message.to_json())


def test_the_use_cases_answer_as_described(w, document):
    service = w.service
    # GIVEN a run queued with metadata, WHEN each read answers while it is pending
    queued = service.trigger(OPEN, {"file_path": INPUT, "record_type": "employee", "output_mode": "file",
                                    "metadata": {"ticket": "MIG-42", "tags": ["a", 1, None]}})
    run_id = queued["run_id"]
    assert_described(document, "POST", f"{MIGRATIONS}/trigger", queued)
    pending = [("GET", f"{MIGRATIONS}/status/{{run_id}}", service.status(OPEN, run_id)),
               ("GET", f"{MIGRATIONS}/status/{{run_id}}", service.status(OPEN, run_id, include_details=True)),
               ("GET", f"{MIGRATIONS}/running", service.running(OPEN)),
               ("GET", MIGRATIONS, service.recent(OPEN, ListQuery(limit=20))),
               ("GET", f"{MIGRATIONS}/{{run_id}}/errors", service.errors(OPEN, run_id, offset=0, limit=100)),
               ("GET", f"{MIGRATIONS}/{{run_id}}/chunks", service.chunks(OPEN, run_id, offset=0, limit=2000))]
    # WHEN it ends with a failed chunk and a rejected record, and is retried
    run_to_the_end(w, run_id, dead_chunk=2)
    ended = [("GET", f"{MIGRATIONS}/status/{{run_id}}", service.status(OPEN, run_id, include_details=True)),
             ("GET", f"{MIGRATIONS}/status/{{run_id}}", service.status(OPEN, run_id)),
             ("GET", MIGRATIONS, service.recent(OPEN, ListQuery(limit=20))),
             ("GET", f"{MIGRATIONS}/{{run_id}}/errors", service.errors(OPEN, run_id, offset=0, limit=2)),
             ("GET", f"{MIGRATIONS}/{{run_id}}/errors", service.errors(OPEN, run_id, offset=2, limit=1000)),
             ("GET", f"{MIGRATIONS}/{{run_id}}/errors",
              service.errors(OPEN, run_id, offset=0, limit=1, rule="chunk_failed")),
             ("GET", f"{MIGRATIONS}/{{run_id}}/chunks", service.chunks(OPEN, run_id, offset=1, limit=1))]
    retried = service.retry(OPEN, run_id, None)
    worker = w.worker
    for message in w.queue.take():
        worker.handle(message.to_json())
    after_retry = ("GET", f"{MIGRATIONS}/status/{{run_id}}", service.status(OPEN, run_id, include_details=True))
    # AND another run is cancelled while pending, twice
    other = service.trigger(OPEN, {"file_path": INPUT, "record_type": "employee", "output_mode": "file",
                                   "validate_only": True})["run_id"]
    cancels = [service.cancel(OPEN, other), service.cancel(OPEN, other)]
    # THEN every answer is one the description allows
    for method, path, answer in [*pending, *ended, after_retry]:
        assert_described(document, method, path, answer)
    assert ended[0][2]["details"]["errors_by_rule"] and ended[3][2]["errors"]  # the answers were not empty ones
    assert_described(document, "POST", f"{MIGRATIONS}/retry/{{run_id}}", retried)
    for answer in cancels:
        assert_described(document, "POST", f"{MIGRATIONS}/cancel/{{run_id}}", answer)
    assert_described(document, "GET", f"{MIGRATIONS}/status/{{run_id}}", service.status(OPEN, other, True))
    assert retried["retried_chunks"] == 1 and cancels[0] == cancels[1]


def test_a_report_that_could_not_be_built_answers_as_described(w, document):
    # GIVEN an ended run whose reconcile message reached the dead-letter queue
    service = w.service
    run_id = service.trigger(OPEN, {"file_path": INPUT, "record_type": "employee", "output_mode": "file"})["run_id"]
    run_to_the_end(w, run_id)
    w.worker.handle_dead_letter(ReconcileMessage(run_id).to_json())
    # THEN its status and the list show the failure in the shape the description gives
    status = service.status(OPEN, run_id)
    assert set(status["reconciliation"]) == {"failed", "failed_at"}
    assert_described(document, "GET", f"{MIGRATIONS}/status/{{run_id}}", status)
    assert_described(document, "GET", f"{MIGRATIONS}/status/{{run_id}}", service.status(OPEN, run_id, True))
    assert_described(document, "GET", MIGRATIONS, service.recent(OPEN, ListQuery(limit=20)))
    # and the report's route refuses with a 409 that says why
    with pytest.raises(RunConflict, match="could not be built on any attempt"):
        service.reconciliation(OPEN, run_id)


def test_record_types_and_every_layout_answer_as_described(w, document):
    service = w.service
    described = service.record_types()
    assert_described(document, "GET", "/api/v1/record-types", described)
    layouts = 0
    for record_type in described["record_types"]:
        if "fixed_width" in record_type["input_formats"]:
            layout = service.layout(record_type["record_type"])
            assert_described(document, "GET", "/api/v1/record-types/{record_type}/layout", layout)
            layouts += 1
    assert layouts


def test_the_description_answers_as_described(document):
    assert_described(document, "GET", "/api/v1/openapi.json", document)


def test_an_error_answers_as_described(w, document):
    # GIVEN a cancelled run, WHEN it is retried, THEN the conflict's answer is an error detail
    run_id = w.service.trigger(OPEN, {"file_path": INPUT, "record_type": "employee", "output_mode": "file"})["run_id"]
    w.service.cancel(OPEN, run_id)
    with pytest.raises(RunConflict) as refused:
        w.service.retry(OPEN, run_id, None)
    assert_described(document, "POST", f"{MIGRATIONS}/retry/{{run_id}}", {"detail": refused.value.detail}, 409)


@pytest.mark.parametrize("changed", [
    pytest.param(lambda a: a.update(paused_at=a["created_at"]), id="a key the description does not name"),
    pytest.param(lambda a: a.pop("error_message"), id="a key that is always there left out"),
    pytest.param(lambda a: a.update(status="paused"), id="a status that does not exist"),
    pytest.param(lambda a: a["progress"].update(progress_percentage=101), id="more than 100 percent"),
    pytest.param(lambda a: a.update(run_id=a["run_id"].upper()), id="a run id the service would not find"),
    pytest.param(lambda a: a["details"].update(input_format={}), id="an input format without its values"),
])
def test_an_answer_that_changed_shape_is_refused(w, document, changed):
    # GIVEN a status answer with details that matches the description
    service = w.service
    answer = service.status(OPEN, service.trigger(OPEN, {"file_path": INPUT, "record_type": "employee",
                                                         "output_mode": "file"})["run_id"], include_details=True)
    validator = answer_schema(document, "GET", f"{MIGRATIONS}/status/{{run_id}}")
    assert validator.is_valid(answer)
    # WHEN it changes shape, THEN it no longer matches
    changed(answer)
    assert not validator.is_valid(answer)


def test_a_status_without_details_is_not_taken_for_one_with_them(w, document):
    service = w.service
    answer = service.status(OPEN, service.trigger(OPEN, {"file_path": INPUT, "record_type": "employee",
                                                         "output_mode": "file"})["run_id"])
    schemas = document["components"]["schemas"]
    assert "details" not in schemas["RunStatusAnswer"]["properties"]
    components = {"components": document["components"]}
    assert Draft202012Validator({"$ref": "#/components/schemas/RunStatusAnswer", **components}).is_valid(answer)
    assert not Draft202012Validator({"$ref": "#/components/schemas/RunStatusWithDetails", **components}).is_valid(answer)


# ---------------------------------------------------------------- cheap to import

def test_describing_the_api_loads_no_worker_library():
    probe = ("import json, sys\nimport app\nfrom chalicelib import openapi\nopenapi.document(app.app)\n"
             "print(json.dumps(sorted(m for m in ('numpy', 'pandas', 'requests', 'boto3') if m in sys.modules)))")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "STAGE"))}
    done = subprocess.run([sys.executable, "-c", probe], cwd=PROJECT_DIR, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
