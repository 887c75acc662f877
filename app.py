"""Routes and event handlers of the records migration service.

Each handler reads its input, calls one function of chalicelib and answers.
The event sources' queue names and concurrency come from Settings (the stage's
environment, with defaults matching infra/), so this module imports anywhere
(tests, `chalice package`) without touching AWS. So does the stage's way of
checking callers (AUTH): every API route gets the API-key authorizer, IAM, or,
on an open stage (the local stack's default), none; each view then asks for the
role it needs (access.py).
"""
from chalice import Chalice, CORSConfig, IAMAuthorizer, Response

from chalicelib import bootstrap, observability, openapi
from chalicelib.access import Caller, Role
from chalicelib.api import (answers_json, chalice_refusals_as_details, exact_json, idempotency_key, json_body,
                            no_body, query_bool, query_int)
from chalicelib.config import Settings
from chalicelib.dashboard import dashboard_html
from chalicelib.listing import parse_list_query
from chalicelib.uploads import handle_upload_message

app = Chalice(app_name="records-migration")
# The record-type specs are local files, checked here so that a broken one
# stops every function at start (and `chalice package`), naming file and field.
# Workers also check each default against its field's rules when first wired.
bootstrap.record_specs()
EVENT_SOURCES = Settings.from_environ()
# Chalice's own 4xx (a Content-Type a route does not take) in the API's {"detail": ...} form.
app.register_middleware(chalice_refusals_as_details, "http")
# Every handler: request id, handler and stage on each log line, its metrics printed when it ends, X-Ray in Lambda.
app.register_middleware(observability.observed, "all")
API = "/api/v1/migrations"

if EVENT_SOURCES.auth == "keys":
    # Caching off (ttl 0): a revoked key stops at once, not when a cached answer expires.
    @app.authorizer(ttl_seconds=0)
    def api_key_authorizer(auth_request):
        return bootstrap.components().access.gateway_answer(auth_request.token, auth_request.method_arn)

    AUTHORIZER = api_key_authorizer
else:
    AUTHORIZER = IAMAuthorizer() if EVENT_SOURCES.auth == "iam" else None
# Closed unless the stage names the one origin whose pages may call the API.
CORS = CORSConfig(allow_origin=EVENT_SOURCES.cors_allow_origin, allow_headers=["Authorization", "Idempotency-Key"],
                  max_age=600) if EVENT_SOURCES.cors_allow_origin else False


def api_route(path: str, **options):
    return app.route(path, authorizer=AUTHORIZER, cors=CORS, **options)


def service():
    return bootstrap.components().service


def caller(role: Role, changes_state: bool = False) -> Caller:
    """The request's caller, refused (401, 403, 429) unless it has `role` and is within its rate."""
    return bootstrap.components().access.admit(app.current_request, role, changes_state)


# The page holds no data: it asks for a key (on a stage with keys) before it calls the API.
@app.route("/", methods=["GET"])
def dashboard():
    return Response(body=dashboard_html(), headers={"Content-Type": "text/html; charset=utf-8"})


@api_route(API + "/trigger", methods=["POST"], content_types=["application/json"])
@answers_json
def trigger_migration():
    who = caller(Role.OPERATOR, changes_state=True)
    request = app.current_request
    return service().trigger(who, json_body(request), idempotency_key=idempotency_key(request))


# A preview changes nothing, but it has the service read a file's records: an operator's action, which a page
# of another origin may not make it do, any more than start the run it previews (changes_state: the Origin check).
@api_route(API + "/preview", methods=["POST"], content_types=["application/json"])
@answers_json
def preview_migration():
    who, request = caller(Role.OPERATOR, changes_state=True), app.current_request
    records = query_int(request.query_params, "records", default=100, low=1, high=5000)
    return exact_json(service().preview(who, json_body(request), records))


@api_route(API + "/status/{run_id}", methods=["GET"])
@answers_json
def migration_status(run_id):
    who = caller(Role.VIEWER)
    details = query_bool(app.current_request.query_params, "include_details")
    return service().status(who, run_id, include_details=details)


@api_route(API + "/{run_id}/reconciliation", methods=["GET"])
@answers_json
def migration_reconciliation(run_id):
    return service().reconciliation(caller(Role.VIEWER), run_id)


# A report that could not be built or queued (its run's flag says so), asked for again once what failed is mended.
@api_route(API + "/{run_id}/reconciliation", methods=["POST"], content_types=["*/*"])
@answers_json
def rebuild_reconciliation(run_id):
    no_body(app.current_request, "rebuilding a report")
    return service().rebuild_report(caller(Role.OPERATOR, changes_state=True), run_id)


@api_route(API + "/{run_id}/audit", methods=["GET"])
@answers_json
def migration_audit(run_id):
    return service().audit(caller(Role.VIEWER), run_id)


@api_route(API + "/running", methods=["GET"])
@answers_json
def running_migrations():
    return service().running(caller(Role.VIEWER))


# Cancel and retry take a request without a body whatever its Content-Type (aiohttp sends application/octet-stream,
# curl -d '' a form type); a body sent to them must be JSON, which the view checks (api.no_body, api.json_body).
@api_route(API + "/cancel/{run_id}", methods=["POST"], content_types=["*/*"])
@answers_json
def cancel_migration(run_id):
    no_body(app.current_request, "cancel")
    return service().cancel(caller(Role.OPERATOR, changes_state=True), run_id)


@api_route(API + "/retry/{run_id}", methods=["POST"], content_types=["*/*"])
@answers_json
def retry_migration(run_id):
    who = caller(Role.OPERATOR, changes_state=True)
    return service().retry(who, run_id, json_body(app.current_request, optional=True))


@api_route(API, methods=["GET"])
@answers_json
def recent_migrations():
    who = caller(Role.VIEWER)
    return service().recent(who, parse_list_query(app.current_request.query_params, who.tenant))


@api_route(API + "/{run_id}/errors", methods=["GET"])
@answers_json
def migration_errors(run_id):
    who = caller(Role.VIEWER)
    params = app.current_request.query_params
    return service().errors(who, run_id, offset=query_int(params, "offset", default=0, low=0, high=10**9),
                            limit=query_int(params, "limit", default=100, low=1, high=1000),
                            rule=(params or {}).get("rule"))


@api_route(API + "/{run_id}/chunks", methods=["GET"])
@answers_json
def migration_chunks(run_id):
    who, params = caller(Role.VIEWER), app.current_request.query_params
    return service().chunks(who, run_id, offset=query_int(params, "offset", default=0, low=0, high=10**9),
                            limit=query_int(params, "limit", default=2000, low=1, high=10000))


@api_route("/api/v1/record-types", methods=["GET"])
@answers_json
def record_types():
    caller(Role.VIEWER)
    return service().record_types()


@api_route("/api/v1/record-types/{record_type}/layout", methods=["GET"])
@answers_json
def record_type_layout(record_type):
    caller(Role.VIEWER)
    return service().layout(record_type)


# Open on every stage, for load balancers and uptime probes, which have no key: it says ok or failing per
# component and nothing else (chalicelib/health.py).
@app.route("/api/v1/health", methods=["GET"])
def health():
    healthy, answer = bootstrap.components().health.report()
    return Response(body=answer, status_code=200 if healthy else 503, headers={"Cache-Control": "no-store"})


@api_route("/api/v1/openapi.json", methods=["GET"])
@answers_json
def openapi_document():
    caller(Role.VIEWER)
    return openapi.document(app)


@api_route("/api/v1/keys", methods=["POST"], content_types=["application/json"])
@answers_json
def issue_key():
    who = caller(Role.ADMIN, changes_state=True)
    answer = bootstrap.components().key_admin.issue(json_body(app.current_request), who)
    return Response(body=answer, status_code=201, headers={"Cache-Control": "no-store"})


@api_route("/api/v1/keys", methods=["GET"])
@answers_json
def list_keys():
    return bootstrap.components().key_admin.list(caller(Role.ADMIN))


@api_route("/api/v1/keys/{key_id}", methods=["DELETE"])
@answers_json
def revoke_key(key_id):
    return bootstrap.components().key_admin.revoke(key_id, caller(Role.ADMIN, changes_state=True))


# The stage caps how many workers run at once (the event source's maximum
# concurrency), which with MAX_CALLS_IN_FLIGHT bounds what the target sees.
@app.on_sqs_message(queue=EVENT_SOURCES.work_queue_name, batch_size=1,
                    maximum_concurrency=EVENT_SOURCES.worker_max_concurrency)
def process_work(event):
    for record in event:
        bootstrap.components().worker.handle(record.body)


@app.on_sqs_message(queue=EVENT_SOURCES.work_dlq_name, batch_size=1)
def handle_dead_chunk(event):
    for record in event:
        bootstrap.components().worker.handle_dead_letter(record.body)


@app.on_sqs_message(queue=EVENT_SOURCES.uploads_queue_name, batch_size=1)
def handle_upload(event):
    for record in event:
        handle_upload_message(bootstrap.components(), record.body)


@app.schedule("rate(5 minutes)")
def reap_stalled_runs(event):
    bootstrap.components().reaper.reap()
