"""The `migrate` command line (cli/migrate_cli): its arguments, its output and its exit codes.

The service's side is a fake of the remote port: a real HTTP server on 127.0.0.1 (http.server in a thread)
that answers canned JSON per method and path, and records every request it took, so a test sees exactly
what the client sent (the body, the query, the key in its header). The commands run in-process through
click's CliRunner; tests/e2e/test_cli.py runs the installed console script against the real local stack.
"""
from __future__ import annotations

import csv
import json
import os
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner

from migrate_cli.files import FileProblem, service_path, upload_target
from migrate_cli.main import cli
from migrate_cli.settings import SettingsError, resolve

RUN = "3f6c2a9e-8b1d-4e57-9a0c-2d4f6b8e1a37"
KEY = "rmk_0123456789abcdef_s3cr3t-key-material-never-printed"
TOKEN = "target-token-never-printed"
API = "/api/v1/migrations"


@dataclass
class Taken:
    method: str
    path: str
    query: dict
    headers: dict
    body: object


@dataclass
class FakeService:
    """Canned answers: (method, path) -> a list of (status, body), served in order, the last one repeated."""
    url: str = ""
    answers: dict = field(default_factory=dict)
    taken: list[Taken] = field(default_factory=list)

    def answer(self, method: str, path: str, *replies: tuple[int, object]) -> None:
        self.answers[(method, path)] = list(replies)

    def requests(self, method: str, path: str) -> list[Taken]:
        return [t for t in self.taken if (t.method, t.path) == (method, path)]


@pytest.fixture
def service():
    fake = FakeService()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self):
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            fake.taken.append(Taken(self.command, parts.path, parse_qs(parts.query), dict(self.headers),
                                    json.loads(raw) if raw else None))
            replies = fake.answers.get((self.command, parts.path))
            status, body = (replies.pop(0) if len(replies) > 1 else replies[0]) if replies else (
                404, {"detail": f"no canned answer for {self.command} {parts.path}"})
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve  # noqa: N815 (http.server's names)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def migrate(service, tmp_path, monkeypatch):
    """Run `migrate ARGS` against the fake service, from an empty folder, with no config file of the user's."""
    monkeypatch.chdir(tmp_path)

    def invoke(*args: str, env: dict | None = None):
        runner = CliRunner()
        base = {"MIGRATE_URL": service.url, "MIGRATE_KEY": None, "MIGRATE_PROFILE": None, "MIGRATE_CONFIG": None,
                "MIGRATE_TARGET_TOKEN": None, "XDG_CONFIG_HOME": str(tmp_path / "config-home")}
        return runner.invoke(cli, list(args), env={**base, **(env or {})}, catch_exceptions=False)
    return invoke


def status_doc(status: str, step: str, processed: int, total: int = 300, errors: int = 0, **extra) -> dict:
    return {"run_id": RUN, "status": status, "file_path": "data/input/sample_claim_data.csv",
            "record_type": "claim", "created_at": "2025-01-15T10:30:00.123Z", "started_at": None,
            "completed_at": None, "duration": None, "error_message": None, "metadata": {},
            "progress": {"total_records": total, "processed_records": processed, "success_count": processed - errors,
                         "error_count": errors, "current_step": step,
                         "progress_percentage": round(100 * processed / total, 2) if total else 0.0, **extra}}


def json_lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


# ------------------------------------------------------------------ run
def test_run_sends_the_trigger_body_the_options_say_and_prints_the_answer(service, migrate):
    # GIVEN a service that queues the run
    service.answer("POST", f"{API}/trigger", (200, {"run_id": RUN, "status": "pending", "message": "queued",
                                                    "created_at": "2025-01-15T10:30:00Z",
                                                    "estimated_duration": "under a minute",
                                                    "estimated_duration_seconds": 20,
                                                    "estimate_basis": "3 recent claim runs in api mode"}))
    # WHEN a path the service reads (not a local file) is run with options
    result = migrate("run", "data/input/claims.psv", "--type", "claim", "--mode", "file", "--batch-size", "50",
                     "--format", "pipe", "--encoding", "latin-1", "--meta", "ticket=MIG-42", "--max-error-rate",
                     "0.05", "--idempotency-key", "nightly-1", env={"MIGRATE_TARGET_TOKEN": TOKEN})
    # THEN the trigger carries them, the path as written
    assert result.exit_code == 0, result.output
    [taken] = service.requests("POST", f"{API}/trigger")
    assert taken.body == {"file_path": "data/input/claims.psv", "record_type": "claim", "output_mode": "file",
                          "batch_size": 50, "max_error_rate": 0.05, "metadata": {"ticket": "MIG-42"},
                          "input_format": {"type": "delimited", "delimiter": "|", "encoding": "latin-1"},
                          "authentication": {"type": "bearer_token", "token": TOKEN}}
    assert taken.headers["Idempotency-Key"] == "nightly-1"
    # AND the table shows the run and the estimate with its basis, never the target's token
    assert RUN in result.stdout and "under a minute (3 recent claim runs in api mode)" in result.stdout
    assert TOKEN not in result.output


def test_a_local_file_under_the_current_folder_is_sent_as_its_relative_path(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    sample = tmp_path / "data" / "claims.csv"
    sample.write_text("CLM_NO\n")
    monkeypatch.chdir(tmp_path)
    assert service_path("./data/claims.csv") == "data/claims.csv"
    assert service_path(str(sample), cwd=str(tmp_path)) == "data/claims.csv"
    assert service_path("s3://bucket/data/claims.csv", cwd=str(tmp_path)) == "s3://bucket/data/claims.csv"
    assert service_path("data/input/not-here.csv", cwd=str(tmp_path)) == "data/input/not-here.csv"
    with pytest.raises(FileProblem, match="outside the current folder.*--upload"):
        service_path(str(sample), cwd=str(tmp_path / "data" / "elsewhere"))


def test_run_of_a_local_file_from_its_folder_sends_the_relative_path(service, migrate, tmp_path):
    service.answer("POST", f"{API}/trigger", (200, {"run_id": RUN, "status": "pending"}))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "claims.csv").write_text("CLM_NO\n")
    result = migrate("run", str(tmp_path / "data" / "claims.csv"), "-t", "claim", "--json")
    assert result.exit_code == 0, result.output
    assert service.requests("POST", f"{API}/trigger")[0].body["file_path"] == "data/claims.csv"
    assert json_lines(result.stdout) == [{"run_id": RUN, "status": "pending"}]


def test_an_upload_never_goes_where_an_upload_starts_a_run_by_itself():
    assert str(upload_target("/tmp/claims.csv", "s3://data-bucket/cli-uploads/")) == \
        "s3://data-bucket/cli-uploads/claims.csv"
    assert str(upload_target("/tmp/claims.csv", "s3://data-bucket/x/march.csv")) == "s3://data-bucket/x/march.csv"
    with pytest.raises(FileProblem, match="incoming/"):
        upload_target("/tmp/claims.csv", "s3://data-bucket/incoming/claim/")
    with pytest.raises(FileProblem, match="s3://"):
        upload_target("/tmp/claims.csv", "/local/folder/")


@pytest.mark.parametrize("final, exit_code", [("completed", 0), ("failed", 1), ("cancelled", 3)])
def test_run_wait_json_ends_with_the_final_status_and_exits_by_how_the_run_ended(service, migrate, final,
                                                                               exit_code):
    # GIVEN a run that goes pending, running (with live progress), then ends
    service.answer("POST", f"{API}/trigger", (200, {"run_id": RUN, "status": "pending"}))
    ended = status_doc(final, "completed" if final == "completed" else "api_integration",
                       300 if final == "completed" else 120, errors=2)
    service.answer("GET", f"{API}/status/{RUN}",
                   (200, status_doc("pending", "initializing", 0, total=0)),
                   (200, status_doc("running", "api_integration", 0, live_records=120, live_percentage=40.0,
                                    records_per_second=60.0, eta_seconds=3.0)),
                   (200, ended))
    # WHEN it is run with --wait --json
    result = migrate("run", "data/input/sample_claim_data.csv", "-t", "claim", "--wait", "--json", "--poll", "0.1")
    # THEN every line is a JSON document, the first the trigger's answer, the last the final status (details asked)
    lines = json_lines(result.stdout)
    assert lines[0] == {"run_id": RUN, "status": "pending"}
    assert lines[-1]["status"] == final and lines[-1]["run_id"] == RUN
    assert service.requests("GET", f"{API}/status/{RUN}")[-1].query == {"include_details": ["true"]}
    assert any(line.get("progress", {}).get("live_records") == 120 for line in lines)
    # AND the exit code says how it ended: 0 completed (even with rejections), 1 failed, 3 cancelled
    assert result.exit_code == exit_code, result.output


def test_wait_draws_the_bar_from_the_counters_of_a_service_without_live_fields(service, migrate):
    service.answer("POST", f"{API}/trigger", (200, {"run_id": RUN, "status": "pending"}))
    done = status_doc("completed", "completed", 300, errors=5)
    done.update(duration=2.5, completed_at="2025-01-15T10:30:03Z")
    service.answer("GET", f"{API}/status/{RUN}", (200, status_doc("running", "data_transformation", 0)),
                   (200, status_doc("running", "api_integration", 150, errors=2)), (200, done))
    result = migrate("run", "data/input/sample_claim_data.csv", "-t", "claim", "--wait", "--poll", "0.1")
    # completed with rejected records is a success, and the table says it apart from a clean completion
    assert result.exit_code == 0, result.output
    assert "completed_with_rejections" in result.stdout
    assert "300 / 300 records (100.00%)" in result.stdout
    assert "300/300 records" in result.stderr and "errors 5" in result.stderr  # the bar's last state


# ------------------------------------------------------------------ errors of the service and of the network
def test_a_4xx_prints_the_services_detail_and_exits_2(service, migrate):
    service.answer("POST", f"{API}/cancel/{RUN}", (409, {"detail": f"Migration {RUN} has already finished with "
                                                                  f"status 'completed' and cannot be cancelled"}))
    result = migrate("cancel", RUN, "--key", KEY)
    assert result.exit_code == 2
    assert "409: Migration" in result.stderr and "cannot be cancelled" in result.stderr
    assert KEY not in result.output


def test_a_refused_connection_names_the_url_and_suggests_make_run(migrate):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = migrate("status", RUN, env={"MIGRATE_URL": f"http://127.0.0.1:{port}", "MIGRATE_KEY": KEY})
    assert result.exit_code == 4
    assert f"http://127.0.0.1:{port}" in result.stderr and "connection refused" in result.stderr
    assert "make run" in result.stderr and KEY not in result.output


def test_the_key_is_sent_as_a_bearer_token_and_never_printed(service, migrate):
    # GIVEN a key from the environment, and a URL that carries a password too
    service.answer("GET", f"{API}/status/{RUN}", (403, {"detail": "this needs the operator role; this key has the "
                                                                  "viewer role"}))
    url = service.url.replace("http://", "http://ops:hunter2@")
    result = migrate("status", RUN, env={"MIGRATE_KEY": KEY, "MIGRATE_URL": url})
    # THEN the request carried it, and no output shows it
    assert service.taken[0].headers["Authorization"] == f"Bearer {KEY}"
    assert result.exit_code == 2 and "operator role" in result.stderr
    assert KEY not in result.output and "hunter2" not in result.output
    assert KEY not in repr(resolve(key=KEY, environ={}))


def test_the_table_shows_a_services_text_literally_never_as_markup(service, migrate):
    doc = status_doc("failed", "data_mapping", 0)
    doc["error_message"] = "[bold red]header[/bold red] does not match"
    service.answer("GET", f"{API}/status/{RUN}", (200, doc))
    result = migrate("status", RUN)
    assert result.exit_code == 0
    assert "[bold red]header[/bold red] does not match" in result.stdout


@pytest.mark.parametrize("flag, shown", [
    ({"balanced": False, "report": "data/output/r/reconciliation.json", "generated_at": "2025-01-15T10:31:00Z"},
     "NOT BALANCED: data/output/r/reconciliation.json"),
    ({"failed": "the reconciliation report could not be built on any attempt", "failed_at": "2025-01-15T10:40:00Z"},
     "NOT BUILT: the reconciliation report could not be built on any attempt")])
def test_status_shows_a_report_that_does_not_balance_or_could_not_be_built(service, migrate, flag, shown):
    doc = status_doc("completed", "completed", 300)
    doc["reconciliation"] = flag
    service.answer("GET", f"{API}/status/{RUN}", (200, doc))
    result = migrate("status", RUN)
    assert result.exit_code == 0, result.output
    assert shown in " ".join(result.stdout.split())


# ------------------------------------------------------------------ list, running, record types
def test_list_all_follows_the_cursor_and_passes_the_filters(service, migrate):
    row = {"run_id": RUN, "status": "completed", "record_type": "claim", "output_mode": "api",
           "created_at": "2025-01-15T10:30:00Z", "file_path": "data/input/x.csv", "duration": 3.5, "outcome":
           "completed_with_rejections", "progress": status_doc("completed", "completed", 300, errors=3)["progress"]}
    counts = {"pending": 0, "running": 0, "completed": 3, "failed": 0, "cancelled": 0,
              "completed_with_rejections": 1}
    service.answer("GET", API,
                   (200, {"migrations": [row, row], "count": 2, "next_cursor": "c1", "counts_by_status": counts}),
                   (200, {"migrations": [row], "count": 1, "next_cursor": None, "counts_by_status": counts}))
    result = migrate("list", "--all", "--json", "--status", "completed", "--type", "claim", "--since",
                     "2025-01-01", "--limit", "2")
    assert result.exit_code == 0, result.output
    [answer] = json_lines(result.stdout)
    assert answer["count"] == 3 and answer["next_cursor"] is None and answer["counts_by_status"] == counts
    first, second = service.requests("GET", API)
    assert first.query == {"limit": ["2"], "status": ["completed"], "record_type": ["claim"],
                           "since": ["2025-01-01"]}
    assert second.query["cursor"] == ["c1"]


def test_list_table_shows_counts_and_says_there_is_more(service, migrate):
    row = {"run_id": RUN, "status": "failed", "record_type": "claim", "output_mode": "file",
           "created_at": "2025-01-15T10:30:00Z", "file_path": "data/input/x.csv",
           "progress": status_doc("failed", "data_mapping", 0)["progress"]}
    service.answer("GET", API, (200, {"migrations": [row], "count": 1, "next_cursor": "c9",
                                      "counts_by_status": {"failed": 1, "completed": 0}}))
    result = migrate("list")
    assert result.exit_code == 0, result.output
    assert RUN in result.stdout and "failed: 1" in result.stdout
    assert "--cursor c9" in result.stderr


def test_list_filters_rows_itself_when_the_service_ignores_filters(service, migrate):
    rows = [{"run_id": f"run-{n}", "status": status, "record_type": kind, "created_at": "2025-01-15T10:30:00Z",
             "progress": {}} for n, (status, kind) in enumerate([("completed", "claim"), ("failed", "claim"),
                                                                 ("completed", "absence")])]
    service.answer("GET", API, (200, {"migrations": rows, "count": 3}))  # no counts_by_status: an older service
    result = migrate("list", "--status", "completed", "--type", "claim", "--json")
    assert [row["run_id"] for row in json_lines(result.stdout)[0]["migrations"]] == ["run-0"]


def test_running_and_record_types_tables(service, migrate):
    service.answer("GET", f"{API}/running", (200, {"running_migrations": {RUN: {
        "status": "running", "created_at": "2025-01-15T10:30:00Z", "file_path": "data/input/x.csv",
        "record_type": "claim"}}, "count": 1}))
    service.answer("GET", "/api/v1/record-types", (200, {"record_types": [{
        "record_type": "claim", "title": "Claims", "source_columns": ["A", "B", "C"], "required_columns": ["A"],
        "target_fields": ["a", "b"], "input_formats": ["delimited", "fixed_width"]}]}))
    running = migrate("running")
    assert running.exit_code == 0 and RUN in running.stdout and "data/input/x.csv" in running.stdout
    kinds = migrate("record-types")
    assert kinds.exit_code == 0 and "Claims" in kinds.stdout and "delimited, fixed_width" in kinds.stdout
    assert json_lines(migrate("record-types", "--json").stdout)[0]["record_types"][0]["record_type"] == "claim"


# ------------------------------------------------------------------ errors report
def error_pages(service, rule_filter_supported: bool = True):
    rows = [{"row": n, "field": "CLMT_SSN" if n % 2 else "CLAIMED_AMT", "rule": "ssn_format" if n % 2 else "required",
             "message": "bad, \"quoted\"", "value": "***"} for n in range(1, 6)]
    page = lambda offset, next_offset: (200, {"run_id": RUN, "status": "completed", "records_rejected": 5,  # noqa: E731
                                               "error_rows": 5, "by_rule": {"ssn_format": 3, "required": 2},
                                               "offset": offset, "limit": 2, "errors": rows[offset:offset + 2],
                                               "next_offset": next_offset})
    service.answer("GET", f"{API}/{RUN}/errors", page(0, 2), page(2, 4), page(4, None))
    return rows


def test_errors_writes_every_page_as_csv(service, migrate, tmp_path):
    rows = error_pages(service)
    result = migrate("errors", RUN, "--output", "report.csv", "--page-size", "2")
    assert result.exit_code == 0, result.output
    with open(tmp_path / "report.csv", newline="", encoding="utf-8") as f:
        written = list(csv.DictReader(f))
    assert [int(r["row"]) for r in written] == [1, 2, 3, 4, 5]
    assert written[0] == {k: str(v) for k, v in rows[0].items()}
    assert [t.query["offset"] for t in service.requests("GET", f"{API}/{RUN}/errors")] == [["0"], ["2"], ["4"]]
    assert "Wrote 5 error rows" in result.stdout and not os.path.exists(tmp_path / "report.csv.part")


def test_errors_of_one_rule_as_json_lines_on_stdout(service, migrate):
    error_pages(service)  # this fake ignores `rule`, as a service without the filter would
    result = migrate("errors", RUN, "--rule", "ssn_format", "--format", "jsonl", "--page-size", "2")
    assert result.exit_code == 0, result.output
    assert [row["row"] for row in json_lines(result.stdout)] == [1, 3, 5]
    assert service.requests("GET", f"{API}/{RUN}/errors")[0].query["rule"] == ["ssn_format"]


def test_errors_table_and_json(service, migrate):
    error_pages(service)
    table = migrate("errors", RUN, "--page-size", "2")
    assert table.exit_code == 0 and "CLMT_SSN" in table.stdout and "5 error rows" in table.stdout
    error_pages(service)
    [doc] = json_lines(migrate("errors", RUN, "--json", "--page-size", "2").stdout)
    assert len(doc["errors"]) == 5 and doc["by_rule"] == {"ssn_format": 3, "required": 2}


# ------------------------------------------------------------------ preview, reconcile
def test_preview_promote_starts_the_run_with_the_answers_body_and_the_credentials_again(service, migrate):
    promote_body = {"file_path": "data/input/sample_claim_data.csv", "record_type": "claim", "output_mode": "api",
                    "batch_size": 25}
    service.answer("POST", f"{API}/preview", (200, {
        "record_type": "claim", "file_path": "data/input/sample_claim_data.csv", "records_read": 10, "valid": 9,
        "rejected": 1, "more_records": True, "documents": [{"claim_number": "CL1", "claimant": {"ssn": "***"}}],
        "errors": [{"row": 4, "field": "CLMT_SSN", "rule": "ssn_format", "message": "bad", "value": "***"}],
        "promote": {"method": "POST", "path": "/api/v1/migrations/trigger", "body": promote_body}}))
    service.answer("POST", f"{API}/trigger", (200, {"run_id": RUN, "status": "pending"}))
    result = migrate("preview", "data/input/sample_claim_data.csv", "-t", "claim", "--batch-size", "25",
                     "--records", "10", "--promote", env={"MIGRATE_TARGET_TOKEN": TOKEN})
    assert result.exit_code == 0, result.output
    [preview] = service.requests("POST", f"{API}/preview")
    assert preview.query == {"records": ["10"]} and preview.body["batch_size"] == 25
    [trigger] = service.requests("POST", f"{API}/trigger")
    assert trigger.body == {**promote_body, "authentication": {"type": "bearer_token", "token": TOKEN}}
    assert "CL1" in result.stdout and "ssn_format" in result.stdout and RUN in result.stdout
    assert TOKEN not in result.output


def reconciliation_report(balanced: bool) -> dict:
    return {"run_id": RUN, "record_type": "claim", "status": "completed", "generated_at": "2025-01-15T10:31:00Z",
            "input": {"file_path": "data/input/sample_claim_data.csv", "size_bytes": 40321, "sha256": "ab" * 32,
                      "version": "3sL4kqtJlcpXroDTDmJ-rmSpXd3dIbrHY"},
            "records": {"planned": 300, "read": 300, "delivered": 295, "rejected": 5, "not_processed": 0,
                        "rejected_by_rule": {"ssn_format": 5}},
            "control_totals": [{"name": "claimed amount", "kind": "sum", "field": "CLAIMED_AMT",
                                "source": "123456.78", "delivered": "120000.00",
                                "rejected": "3456.78" if balanced else "3456.77", "not_processed": "0.00",
                                "balanced": balanced},
                               {"name": "claims by type", "kind": "count_by", "field": "CLAIM_TYPE",
                                "source": {"DENTAL": 100, "VISION": 200}, "delivered": {"DENTAL": 98, "VISION": 197},
                                "rejected": {"DENTAL": 2, "VISION": 3}, "not_processed": {}, "balanced": True}],
            "checks": [{"check": "records", "ok": True, "detail": "300 = 295 + 5 + 0"}], "balanced": balanced}


@pytest.mark.parametrize("balanced, exit_code", [(True, 0), (False, 1)])
def test_reconcile_prints_the_report_and_exits_1_when_it_does_not_balance(service, migrate, balanced, exit_code):
    service.answer("GET", f"{API}/{RUN}/reconciliation", (200, reconciliation_report(balanced)))
    result = migrate("reconcile", RUN)
    assert result.exit_code == exit_code, result.output
    assert ("BALANCED" if balanced else "NOT BALANCED") in result.stdout
    assert "123456.78" in result.stdout and "DENTAL=100, VISION=200" in result.stdout and "ab" * 32 in result.stdout
    assert "3sL4kqtJlcpXroDTDmJ-rmSpXd3dIbrHY" in result.stdout  # the version of the file the run read
    assert json_lines(migrate("reconcile", RUN, "--json").stdout)[0]["balanced"] is balanced


def test_reconcile_of_a_run_still_going_says_the_services_detail(service, migrate):
    service.answer("GET", f"{API}/{RUN}/reconciliation", (409, {"detail": f"Migration {RUN} has not ended yet"}))
    result = migrate("reconcile", RUN)
    assert result.exit_code == 2 and "has not ended yet" in result.stderr


def test_reconcile_rebuild_asks_again_waits_for_the_report_and_shows_it(service, migrate):
    # GIVEN a run whose report was flagged as not built, and a service that builds it once asked
    service.answer("POST", f"{API}/{RUN}/reconciliation",
                   (200, {"run_id": RUN, "message": f"Migration {RUN}: its reconciliation report is being built "
                                                    f"again"}))
    written = {"balanced": True, "report": f"data/output/{RUN}/reconciliation.json",
               "generated_at": "2025-01-15T10:31:00Z"}
    service.answer("GET", f"{API}/status/{RUN}", (200, {**status_doc("completed", "completed", 300), "reconciliation": None}),
                   (200, {**status_doc("completed", "completed", 300), "reconciliation": written}))
    service.answer("GET", f"{API}/{RUN}/reconciliation", (200, reconciliation_report(True)))
    # WHEN it is asked for again
    result = migrate("reconcile", RUN, "--rebuild", "--poll", "0.1")
    # THEN the request is made once, the report read once it is written, and shown
    assert result.exit_code == 0, result.output
    assert "being built again" in result.stderr and "BALANCED" in result.stdout
    assert len(service.requests("POST", f"{API}/{RUN}/reconciliation")) == 1
    assert len(service.requests("GET", f"{API}/status/{RUN}")) == 2
    assert len(service.requests("GET", f"{API}/{RUN}/reconciliation")) == 1


def test_reconcile_rebuild_refused_or_failed_again_says_the_services_detail(service, migrate):
    service.answer("POST", f"{API}/{RUN}/reconciliation",
                   (409, {"detail": f"Migration {RUN}'s reconciliation report is written: read it"}))
    refused = migrate("reconcile", RUN, "--rebuild")
    assert refused.exit_code == 2 and "is written" in refused.stderr
    assert service.requests("GET", f"{API}/status/{RUN}") == []
    # A report that fails again: the status flags it, and the report's 409 says why
    service.answer("POST", f"{API}/{RUN}/reconciliation", (200, {"run_id": RUN, "message": "being built again"}))
    service.answer("GET", f"{API}/status/{RUN}", (200, {**status_doc("completed", "completed", 300), "reconciliation": {
        "failed": "the reconciliation report could not be built on any attempt", "failed_at": "2025-01-15T10:40:00Z"}}))
    service.answer("GET", f"{API}/{RUN}/reconciliation", (409, {"detail": "the reconciliation report could not be "
                                                                          "built on any attempt"}))
    again = migrate("reconcile", RUN, "--rebuild", "--poll", "0.1")
    assert again.exit_code == 2 and "could not be built on any attempt" in again.stderr


def test_audit_shows_who_did_what_to_a_run_and_when(service, migrate):
    trail = {"run_id": RUN, "tenant": "acme", "audit": [
        {"action": "started", "by": "key:0123456789abcdef", "at": "2025-01-15T10:30:00.123Z"},
        {"action": "report_requested", "by": "arn:aws:iam::123456789012:role/ops", "at": "2025-01-15T11:00:00Z"}]}
    service.answer("GET", f"{API}/{RUN}/audit", (200, trail))
    table = migrate("audit", RUN)
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    started = next(i for i, line in enumerate(lines) if "started" in line)
    asked = next(i for i, line in enumerate(lines) if "report requested" in line)
    assert started < asked and "key:0123456789abcdef" in lines[started] and "acme" in table.stdout
    assert "arn:aws:iam::123456789012:role/ops" in table.stdout
    assert json_lines(migrate("audit", RUN, "--json").stdout) == [trail]


# ------------------------------------------------------------------ settings
def test_a_config_files_profile_gives_url_and_key_and_flags_win(service, migrate, tmp_path):
    config = tmp_path / "migrate.toml"
    config.write_text(f'url = "http://127.0.0.1:9"\n[profiles.local]\nurl = "{service.url}"\nkey = "{KEY}"\n')
    config.chmod(0o600)
    service.answer("GET", f"{API}/running", (200, {"running_migrations": {}, "count": 0}))
    result = migrate("running", "--profile", "local", "--json", env={"MIGRATE_CONFIG": str(config),
                                                                     "MIGRATE_URL": None})
    assert result.exit_code == 0, result.output
    assert service.taken[-1].headers["Authorization"] == f"Bearer {KEY}"
    assert "warning" not in result.stderr
    # a flag wins over the profile; an unknown profile is a usage error that lists the known ones
    assert resolve(url="https://x.example/api/", profile="local", config=str(config), environ={}).url == \
        "https://x.example/api"
    with pytest.raises(SettingsError, match="profiles: local"):
        resolve(profile="prod", config=str(config), environ={})
    unknown = migrate("running", "--profile", "prod", env={"MIGRATE_CONFIG": str(config)})
    assert unknown.exit_code == 2 and "no profile 'prod'" in unknown.stderr


def test_a_config_file_readable_by_others_is_warned_about(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(f'key = "{KEY}"\n')
    config.chmod(0o644)
    settings = resolve(config=str(config), environ={})
    assert settings.key == KEY and settings.url == "http://127.0.0.1:8000"
    assert any("chmod 600" in warning for warning in settings.warnings)
    config.write_text("key = [not toml\n")
    with pytest.raises(SettingsError, match="not valid TOML") as err:
        resolve(config=str(config), environ={})
    assert "not toml" not in str(err.value)


def test_usage_errors_exit_2(migrate):
    assert migrate("run", "x.csv").exit_code == 2  # --type is required
    bad_format = migrate("run", "x.csv", "-t", "claim", "--format", "xml")
    assert bad_format.exit_code == 2 and "--format" in bad_format.stderr
    assert migrate("run", "x.csv", "-t", "claim", "--meta", "novalue").exit_code == 2
