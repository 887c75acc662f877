"""Test script for the records migration API.

    python client/test_async_migration.py              trigger a migration and follow it to the end
    python client/test_async_migration.py endpoints    check that every endpoint answers as documented

By default it talks to the local stack (`make run`) on http://127.0.0.1:8000.
Exit code: 0 when the migration completed (or every check passed), 1 otherwise.
Needs only the standard library and `requests`.
"""
from __future__ import annotations

import argparse
import sys
import time
import uuid

import requests

API = "/api/v1/migrations"
FINISHED = ("completed", "failed", "cancelled")
STATUS_FIELDS = {"run_id", "status", "progress", "created_at", "started_at", "completed_at", "duration",
                 "error_message", "file_path", "record_type", "metadata"}
PROGRESS_FIELDS = {"total_records", "processed_records", "success_count", "error_count",
                   "progress_percentage", "current_step"}
TRIGGER_FIELDS = {"run_id", "status", "message", "created_at", "estimated_duration", "estimated_duration_seconds",
                  "estimate_basis"}
REQUEST_TIMEOUT = 30


class Api:
    """A thin wrapper: every call returns the `requests.Response` untouched."""

    def __init__(self, base_url: str):
        self.base_url = base_url.rstrip("/")
        self.http = requests.Session()

    def trigger(self, body: dict) -> requests.Response:
        return self.http.post(f"{self.base_url}{API}/trigger", json=body, timeout=REQUEST_TIMEOUT)

    def trigger_raw(self, data: bytes) -> requests.Response:
        return self.http.post(f"{self.base_url}{API}/trigger", data=data,
                              headers={"Content-Type": "application/json"}, timeout=REQUEST_TIMEOUT)

    def status(self, run_id: str, details: bool = False) -> requests.Response:
        params = {"include_details": "true"} if details else None
        return self.http.get(f"{self.base_url}{API}/status/{run_id}", params=params, timeout=REQUEST_TIMEOUT)

    def running(self) -> requests.Response:
        return self.http.get(f"{self.base_url}{API}/running", timeout=REQUEST_TIMEOUT)

    def recent(self, limit: int = 20) -> requests.Response:
        return self.http.get(f"{self.base_url}{API}", params={"limit": limit}, timeout=REQUEST_TIMEOUT)

    def record_types(self) -> requests.Response:
        return self.http.get(f"{self.base_url}/api/v1/record-types", timeout=REQUEST_TIMEOUT)

    def cancel(self, run_id: str) -> requests.Response:
        return self.http.post(f"{self.base_url}{API}/cancel/{run_id}", timeout=REQUEST_TIMEOUT)


def request_body(args: argparse.Namespace) -> dict:
    return {
        "file_path": args.file,
        "record_type": args.record_type,
        "output_mode": args.output_mode,
        "output_dir": "data/output",
        "batch_size": args.batch_size,
        "authentication": {"type": "bearer_token", "token": args.token},
        "metadata": {"source": "client/test_async_migration.py"},
        "max_error_rate": 0.1,
    }


def wait_for_end(api: Api, run_id: str, poll_seconds: float, timeout: float, show=print) -> dict:
    """Poll the run until it ends, printing one progress line per poll."""
    started = time.monotonic()
    while True:
        response = api.status(run_id)
        response.raise_for_status()
        status = response.json()
        p = status["progress"]
        show(f"[{time.monotonic() - started:6.1f}s] {status['status']:<9} {str(p['current_step']):<20} "
             f"{p['processed_records']}/{p['total_records']} records ({p['progress_percentage']:.1f}%)  "
             f"success={p['success_count']} errors={p['error_count']}")
        if status["status"] in FINISHED:
            return status
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"run {run_id} did not finish within {timeout:.0f}s")
        time.sleep(poll_seconds)


def run_migration(args: argparse.Namespace) -> int:
    api = Api(args.base_url)
    body = request_body(args)
    print(f"Triggering a {args.record_type} migration of {args.file} ({args.output_mode} mode) at {api.base_url}")
    try:
        response = api.trigger(body)
    except requests.ConnectionError:
        print(f"error: no answer from {api.base_url} (is the service running? try `make run`)", file=sys.stderr)
        return 1
    if response.status_code != 200:
        print(f"error: trigger answered {response.status_code}: {response.text}", file=sys.stderr)
        return 1
    queued = response.json()
    run_id = queued["run_id"]
    print(f"Queued run {run_id} ({queued['message']}; estimated {queued['estimated_duration']}, "
          f"{queued['estimate_basis']})")
    try:
        wait_for_end(api, run_id, args.poll, args.timeout)
    except (TimeoutError, requests.RequestException) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    final = api.status(run_id, details=True).json()
    print_summary(final)
    return 0 if final["status"] == "completed" else 1


def print_summary(status: dict) -> None:
    p = status["progress"]
    details = status.get("details") or {}
    print()
    print(f"Summary: run {status['run_id']} {status['status']}")
    print(f"  file:      {status['file_path']} ({status['record_type']})")
    print(f"  records:   {p['total_records']} total, {p['processed_records']} processed, "
          f"{p['success_count']} succeeded, {p['error_count']} failed")
    print(f"  duration:  {status['duration']}s"
          + (f" ({details['records_per_second']} records/s)" if details.get("records_per_second") else ""))
    if details.get("output_location"):
        print(f"  output:    {details['output_location']}")
    if p["error_count"] and details.get("error_report"):
        print(f"  errors:    {details['error_report']}")
    if status.get("error_message"):
        print(f"  message:   {status['error_message']}")


# --------------------------------------------------------------------- endpoints
class Checks:
    def __init__(self):
        self.failures = 0

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        if not ok:
            self.failures += 1
        print(f"{'PASS' if ok else 'FAIL'}  {name}" + (f"  ({detail})" if detail and not ok else ""))
        return ok

    def answer(self, name: str, response: requests.Response, status_code: int, test=None) -> dict | None:
        """Check the status code, that the body is JSON, and `test(body)` -> (ok, detail)."""
        try:
            body = response.json()
        except ValueError:
            self.check(name, False, f"{response.status_code}, not JSON: {response.text[:200]}")
            return None
        if response.status_code != status_code:
            self.check(name, False, f"expected {status_code}, got {response.status_code}: {body}")
            return None
        ok, detail = test(body) if test else (True, "")
        self.check(name, ok, detail)
        return body if ok else None


def has_fields(body: dict, fields: set) -> tuple[bool, str]:
    missing = sorted(fields - set(body))
    return not missing, f"missing {missing}: {body}"


def check_endpoints(args: argparse.Namespace) -> int:
    api = Api(args.base_url)
    checks = Checks()
    print(f"Checking the endpoints of {api.base_url}")
    try:
        api.running()
    except requests.ConnectionError:
        print(f"error: no answer from {api.base_url} (is the service running? try `make run`)", file=sys.stderr)
        return 1

    def queued(body):
        ok, detail = has_fields(body, TRIGGER_FIELDS)
        return ok and body["status"] == "pending" and body["message"] == "Migration queued successfully", detail
    run = checks.answer("POST /trigger queues a run (200, pending)", api.trigger(request_body(args)), 200, queued)
    run_id = run["run_id"] if run else None

    if run_id:
        def status_shape(details: bool):
            def test(body):
                ok, detail = has_fields(body, STATUS_FIELDS | ({"details"} if details else set()))
                ok = ok and body["run_id"] == run_id and ("details" in body) == details
                ok = ok and not PROGRESS_FIELDS - set(body.get("progress", {}))
                return ok and body["status"] in ("pending", "running", *FINISHED), detail
            return test
        checks.answer("GET /status/{run_id} (no details)", api.status(run_id), 200, status_shape(False))
        checks.answer("GET /status/{run_id}?include_details=true", api.status(run_id, details=True), 200,
                      status_shape(True))

    def running_shape(body):
        runs = body.get("running_migrations")
        ok = isinstance(runs, dict) and body.get("count") == len(runs)
        ok = ok and all({"status", "created_at", "file_path", "record_type"} <= set(r) for r in runs.values())
        return ok, str(body)
    checks.answer("GET /running", api.running(), 200, running_shape)

    def recent_shape(body):
        runs = body.get("migrations")
        ok = isinstance(runs, list) and body.get("count") == len(runs) and len(runs) <= 20
        ok = ok and (run_id is None or run_id in [r.get("run_id") for r in runs])
        return ok, f"run {run_id} not listed or wrong shape: {str(body)[:300]}"
    checks.answer("GET /migrations?limit=20 lists the new run", api.recent(20), 200, recent_shape)

    def types_shape(body):
        types = [t.get("record_type") for t in body.get("record_types", [])]
        return args.record_type in types, f"{args.record_type!r} not in {types}"
    checks.answer("GET /api/v1/record-types", api.record_types(), 200, types_shape)

    if run_id:
        try:
            final = wait_for_end(api, run_id, args.poll, args.timeout, show=lambda line: None)
            checks.check(f"the run finished ({final['status']})", final["status"] in FINISHED)
        except (TimeoutError, requests.RequestException) as err:
            checks.check("the run finished", False, str(err))
        else:
            checks.answer("POST /cancel/{run_id} of a finished run -> 409", api.cancel(run_id), 409,
                          lambda body: ("detail" in body, str(body)))

    unknown = str(uuid.uuid4())
    expected = f"Migration run not found: {unknown}"
    checks.answer("POST /cancel/{unknown run} -> 404", api.cancel(unknown), 404,
                  lambda body: (body.get("detail") == expected, str(body)))
    checks.answer("GET /status/{unknown run} -> 404", api.status(unknown), 404,
                  lambda body: (body.get("detail") == expected, str(body)))

    invalid = {**request_body(args), "batch_size": 0}
    checks.answer("POST /trigger with an invalid body -> 422 naming the field", api.trigger(invalid), 422,
                  lambda body: ("batch_size" in str(body.get("detail")), str(body)))
    missing = {k: v for k, v in request_body(args).items() if k != "record_type"}
    checks.answer("POST /trigger without a required field -> 422 naming the field", api.trigger(missing), 422,
                  lambda body: ("record_type" in str(body.get("detail")), str(body)))
    checks.answer("POST /trigger with malformed JSON -> 400", api.trigger_raw(b'{"file_path": '), 400,
                  lambda body: ("detail" in body, str(body)))

    print()
    print("All checks passed" if not checks.failures else f"{checks.failures} check(s) FAILED")
    return 1 if checks.failures else 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", nargs="?", choices=("run", "endpoints"), default="run",
                        help="run: trigger and follow a migration (default); endpoints: check every endpoint")
    parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="the API (default: %(default)s)")
    parser.add_argument("--file", default="data/input/sample_disability_data.csv",
                        help="file_path, relative to the service's data root (default: %(default)s)")
    parser.add_argument("--record-type", default="disability", help="default: %(default)s")
    parser.add_argument("--output-mode", choices=("api", "file"), default="api", help="default: %(default)s")
    parser.add_argument("--batch-size", type=int, default=10, help="records per delivery call (default: %(default)s)")
    parser.add_argument("--token", default="your-api-token", help="bearer token for the target (default: %(default)s)")
    parser.add_argument("--poll", type=float, default=1.0, help="seconds between status polls (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=600,
                        help="give up after this many seconds (default: %(default)s)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    return check_endpoints(args) if args.command == "endpoints" else run_migration(args)


if __name__ == "__main__":
    sys.exit(main())
