"""Routes and event handlers of the records migration service.

Each handler reads its input, calls one function of chalicelib and answers.
The event sources' queue names and concurrency come from Settings (the stage's
environment, with defaults matching infra/), so this module imports anywhere
(tests, `chalice package`) without touching AWS.
"""
from chalice import Chalice, Response

from chalicelib import bootstrap
from chalicelib.api import answers_json, json_body, query_bool, query_int
from chalicelib.config import Settings
from chalicelib.dashboard import dashboard_html
from chalicelib.uploads import handle_upload_message

app = Chalice(app_name="records-migration")
# The record-type specs are local files, checked here so that a broken one
# stops every function at start (and `chalice package`), naming file and field.
# Workers also check each default against its field's rules when first wired.
bootstrap.record_specs()
EVENT_SOURCES = Settings.from_environ()
API = "/api/v1/migrations"


def service():
    return bootstrap.components().service


@app.route("/", methods=["GET"])
def dashboard():
    return Response(body=dashboard_html(), headers={"Content-Type": "text/html; charset=utf-8"})


@app.route(API + "/trigger", methods=["POST"], content_types=["application/json"])
@answers_json
def trigger_migration():
    request = app.current_request
    return service().trigger(json_body(request.raw_body), idempotency_key=request.headers.get("idempotency-key"))


@app.route(API + "/status/{run_id}", methods=["GET"])
@answers_json
def migration_status(run_id):
    details = query_bool(app.current_request.query_params, "include_details")
    return service().status(run_id, include_details=details)


@app.route(API + "/running", methods=["GET"])
@answers_json
def running_migrations():
    return service().running()


# Cancel takes no body, so any Content-Type (or none) is accepted.
@app.route(API + "/cancel/{run_id}", methods=["POST"], content_types=["*/*"])
@answers_json
def cancel_migration(run_id):
    return service().cancel(run_id)


@app.route(API + "/retry/{run_id}", methods=["POST"], content_types=["*/*"])
@answers_json
def retry_migration(run_id):
    raw = app.current_request.raw_body
    return service().retry(run_id, json_body(raw) if raw else None)


@app.route(API, methods=["GET"])
@answers_json
def recent_migrations():
    limit = query_int(app.current_request.query_params, "limit", default=20, low=1, high=200)
    return service().recent(limit)


@app.route(API + "/{run_id}/errors", methods=["GET"])
@answers_json
def migration_errors(run_id):
    params = app.current_request.query_params
    return service().errors(run_id, offset=query_int(params, "offset", default=0, low=0, high=10**9),
                            limit=query_int(params, "limit", default=100, low=1, high=1000))


@app.route("/api/v1/record-types", methods=["GET"])
@answers_json
def record_types():
    return service().record_types()


@app.route("/api/v1/record-types/{record_type}/layout", methods=["GET"])
@answers_json
def record_type_layout(record_type):
    return service().layout(record_type)


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
