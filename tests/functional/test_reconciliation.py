"""Every run ends with a reconciliation report that balances to the cent, kept beside its outputs and served by
the API (docs/reconciliation.md): clean runs, rejections, target rejections, a cancel, a failed chunk, and a
tampered marker that must show as not balanced."""
from __future__ import annotations

import hashlib
import json
import os
import threading
import time

import boto3

from tests.functional.test_migration_api import HEADER, SMALL, record, write
from tests.functional.test_observability import documents, totals

API = "/api/v1/migrations"


def amount_record(n: int, amount: str, status: str = "OPEN", ssn: str = "123-45-6789") -> str:
    return (f"DC{n:08d},POL{n % 999999:06d},{ssn},Smith,Ann,19800101,F,STD,M54.5,20230105,20230110,"
            f"20230301,{amount},{status},Acme Corp,NY")


def reconciliation(harness, run_id: str) -> dict:
    response = harness.get(f"{API}/{run_id}/reconciliation")
    assert response.status_code == 200, response.body
    return response.json_body


def control(report: dict, name: str) -> dict:
    return next(c for c in report["control_totals"] if c["name"] == name)


def failed_checks(report: dict) -> list[str]:
    return [c["check"] for c in report["checks"] if not c["ok"]]


def test_clean_run_balances_to_the_cent_and_the_report_is_beside_the_outputs(harness):
    # GIVEN 250 records (three chunks) whose amounts are 0.10, 0.20, 0.30, ...: binary floats would drift
    rows = [amount_record(n, f"{n / 10:.2f}") for n in range(1, 251)]
    text = HEADER + "\n" + "\n".join(rows) + "\n"
    path = write(harness, SMALL, text)
    # WHEN the run goes to its end
    status = harness.run_to_end(file_path=path, record_type="disability", output_mode="file")
    run_id = status["run_id"]
    # THEN it is flagged balanced, and the report says so with every figure
    assert status["status"] == "completed"
    assert status["reconciliation"]["balanced"] is True
    assert status["reconciliation"]["report"] == f"data/output/{run_id}/reconciliation.json"
    report = reconciliation(harness, run_id)
    assert report["balanced"] is True and failed_checks(report) == []
    stat = os.stat(os.path.join(harness.data_root, path))
    assert report["input"] == {"file_path": path, "size_bytes": len(text.encode()),
                               "sha256": hashlib.sha256(text.encode()).hexdigest(),
                               "version": f"{stat.st_ino}:{stat.st_size}:{stat.st_mtime_ns}"}
    assert report["records"]["planned"] == report["records"]["read"] == report["records"]["delivered"] == 250
    amount = control(report, "weekly_benefit_amount")
    assert amount["source"] == amount["delivered"] == "3137.50"  # 0.1 * (1 + ... + 250), exactly
    assert amount["rejected"] == amount["not_processed"] == "0.00"
    assert control(report, "claims_by_status")["source"] == {"OPEN": 250}
    # the file beside the outputs is the report the API serves, and so is the plan it was checked against
    folder = harness.output_dir(run_id)
    assert json.load(open(os.path.join(folder, "reconciliation.json"))) == report
    assert len(json.load(open(os.path.join(folder, "plan.json")))["chunks"]) == 3
    # the list shows the flag too
    listed = harness.get(API).json_body["migrations"]
    assert next(r for r in listed if r["run_id"] == run_id)["reconciliation"]["balanced"] is True


def test_rejected_records_are_totalled_apart_and_still_balance(harness):
    # GIVEN negative, malformed, non-numeric and unknown-code records among good ones
    rows = [amount_record(1, "100.10"), amount_record(2, "-0.10"), amount_record(3, "abc"),
            amount_record(4, "0.20", status="BOGUS"), "DC00000005,too,few,fields", amount_record(6, "")]
    path = write(harness, SMALL, HEADER + "\n" + "\n".join(rows) + "\n")
    status = harness.run_to_end(file_path=path, record_type="disability", output_mode="file", max_error_rate=1.0)
    report = reconciliation(harness, status["run_id"])
    assert report["balanced"] is True, failed_checks(report)
    records = report["records"]
    assert (records["read"], records["delivered"], records["rejected"], records["unreadable"]) == (6, 1, 5, 1)
    assert records["rejected_by_rule"] == {"allowed_values": 1, "field_count": 1, "min": 1, "number_format": 1,
                                           "required": 1}
    amount = control(report, "weekly_benefit_amount")
    # the negative amount breaks the field's min: rejected, and in the rejected sum, to the cent
    assert (amount["source"], amount["delivered"], amount["rejected"]) == ("100.20", "100.10", "0.10")
    assert amount["values"]["source"] == {"numbers": 3, "blank": 1, "not_a_number": 1}
    assert amount["values"]["rejected"] == {"numbers": 2, "blank": 1, "not_a_number": 1}
    by_status = control(report, "claims_by_status")
    assert by_status["source"] == {"(other)": 1, "OPEN": 4}  # an unknown code is never shown by its value
    assert by_status["rejected"] == {"(other)": 1, "OPEN": 3}
    assert "BOGUS" not in json.dumps(report)


def test_api_mode_target_rejections_are_rejected_totals(harness):
    # GIVEN a target that refuses about a third of the records
    harness.target.state.faults.update({"reject_rate": 0.33, "seed": 3})
    rows = [amount_record(n, f"{n}.01") for n in range(1, 61)]
    path = write(harness, SMALL, HEADER + "\n" + "\n".join(rows) + "\n")
    status = harness.run_to_end(file_path=path, record_type="disability", output_mode="api", batch_size=10,
                                max_error_rate=1.0)
    report = reconciliation(harness, status["run_id"])
    assert report["balanced"] is True, failed_checks(report)
    refused = report["records"]["rejected_by_rule"]["target_rejected"]
    assert 0 < refused < 60 and report["records"]["rejected"] == refused
    assert report["records"]["delivered"] == harness.target.state.snapshot()["records"] == 60 - refused
    amount = control(report, "weekly_benefit_amount")
    assert amount["source"] == "1830.60"  # 1 + ... + 60 and 60 cents
    assert float(amount["rejected"]) > 0 and amount["balanced"]


def test_cancelled_run_counts_chunks_never_processed(harness):
    # GIVEN a run of three chunks, one processed, then cancelled
    rows = [amount_record(n, "1.05") for n in range(1, 251)]
    path = write(harness, SMALL, HEADER + "\n" + "\n".join(rows) + "\n")
    run_id = harness.trigger(file_path=path, record_type="disability", output_mode="file")
    harness.deliver(harness.receive()[0])  # plan
    chunks = sorted(harness.receive(), key=lambda m: json.loads(m["Body"])["chunk"])
    harness.deliver(chunks[0])
    # WHEN it is cancelled, the report is not there yet: a 409 until a worker builds it
    assert harness.client.http.post(f"{API}/cancel/{run_id}").status_code == 200
    early = harness.get(f"{API}/{run_id}/reconciliation")
    assert early.status_code == 409 and "not written yet" in early.json_body["detail"]
    harness.drain()
    # THEN the two chunks never processed are not processed, from the file's own values
    report = reconciliation(harness, run_id)
    assert report["status"] == "cancelled"
    assert report["balanced"] is True, failed_checks(report)
    assert report["records"]["not_processed"] == 150
    assert report["records"]["not_processed_by_reason"] == {"never_processed": 150}
    amount = control(report, "weekly_benefit_amount")
    assert (amount["source"], amount["delivered"], amount["not_processed"]) == ("262.50", "105.00", "157.50")


def test_chunk_counted_after_the_cancel_rebuilds_the_report(harness):
    # GIVEN a one-chunk api-mode run whose chunk is being delivered, slowly, by a worker when the cancel comes
    # Each call takes 3 s: the report below is built while the calls in flight hold the chunk uncounted, however
    # loaded the machine (at 0.5 s a busy CI machine sometimes counted the chunk first).
    harness.target.state.faults.update({"latency_ms": 3000})
    rows = [amount_record(n, "2.00") for n in range(1, 101)]
    path = write(harness, SMALL, HEADER + "\n" + "\n".join(rows) + "\n")
    run_id = harness.trigger(file_path=path, record_type="disability", output_mode="api", batch_size=5)
    harness.deliver(harness.receive()[0])  # plan
    (chunk,) = harness.receive()
    worker = threading.Thread(target=harness.deliver, args=(chunk,))
    worker.start()
    # Cancelled once a call has arrived, not once one has been answered: the calls are counted after their 3 s,
    # and a cancel that came with the first answers raced the worker, which stops between calls and counts the
    # chunk at once (CI saw the chunk counted 33 ms after such a cancel, before the report was built).
    deadline = time.monotonic() + 10
    while harness.target.state.snapshot()["peak_in_flight"] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert harness.client.http.post(f"{API}/cancel/{run_id}").status_code == 200
    harness.drain()  # the report is built while the chunk is not counted yet
    before = reconciliation(harness, run_id)
    assert before["records"]["not_processed_by_reason"] == {"never_processed": 100}
    # WHEN the chunk is counted after the report was written (delivery stopped by the cancel midway)
    worker.join(30)
    harness.drain()
    # THEN the report is built again: the records delivered before the cancel, the rest not processed
    report = reconciliation(harness, run_id)
    assert report["balanced"] is True, failed_checks(report)
    delivered = harness.target.state.snapshot()["records"]
    assert 0 < delivered < 100 and report["records"]["delivered"] == delivered
    assert report["records"]["not_processed_by_reason"] == {"cancelled_during_delivery": 100 - delivered}
    amount = control(report, "weekly_benefit_amount")
    assert (amount["source"], amount["delivered"]) == ("200.00", f"{2 * delivered}.00")


def test_failed_chunk_is_not_processed(harness):
    # GIVEN a run of three chunks whose second lands in the DLQ
    rows = [amount_record(n, "0.01") for n in range(1, 251)]
    path = write(harness, SMALL, HEADER + "\n" + "\n".join(rows) + "\n")
    run_id = harness.trigger(file_path=path, record_type="disability", output_mode="file")
    harness.deliver(harness.receive()[0])
    first, second, third = sorted(harness.receive(), key=lambda m: json.loads(m["Body"])["chunk"])
    harness.deliver(first)
    harness.deliver(third)
    harness.invoke(second, handler="handle_dead_chunk", queue="dlq")
    harness.drain()
    report = reconciliation(harness, run_id)
    # THEN its records are not processed (the run counted them as errors: the check says how they add up)
    assert report["status"] == "failed"
    assert report["balanced"] is True, failed_checks(report)
    assert report["records"]["not_processed_by_reason"] == {"chunk_failed": 100}
    assert report["run_counts"]["error_count"] == 100 and report["records"]["rejected"] == 0
    assert control(report, "weekly_benefit_amount")["not_processed"] == "1.00"


def test_tampered_marker_does_not_balance_and_the_status_says_so(harness):
    rows = [amount_record(n, "10.00") for n in range(1, 251)]
    path = write(harness, SMALL, HEADER + "\n" + "\n".join(rows) + "\n")
    run_id = harness.trigger(file_path=path, record_type="disability", output_mode="file")
    harness.deliver(harness.receive()[0])
    for message in harness.receive():
        if json.loads(message["Body"])["kind"] == "chunk":
            harness.deliver(message)
    # GIVEN a stored chunk marker whose delivered sum was changed, before the report is built
    table = boto3.resource("dynamodb").Table(os.environ["RUNS_TABLE_NAME"])
    table.update_item(Key={"pk": f"RUN#{run_id}", "sk": "CHUNK#000002"},
                      UpdateExpression="SET totals.controls.weekly_benefit_amount.delivered.#s = :forged",
                      ExpressionAttributeNames={"#s": "sum"}, ExpressionAttributeValues={":forged": "999.99"})
    harness.drain()
    # THEN the report shows the total that does not balance, and the run is flagged
    report = reconciliation(harness, run_id)
    assert report["balanced"] is False
    assert failed_checks(report) == ["control_totals_balance"]
    assert control(report, "weekly_benefit_amount")["balanced"] is False
    assert harness.status(run_id)["reconciliation"]["balanced"] is False


def test_report_is_built_once_the_same(harness):
    path = write(harness, SMALL, HEADER + "\n" + record(1) + "\n")
    status = harness.run_to_end(file_path=path, record_type="disability", output_mode="file")
    first = reconciliation(harness, status["run_id"])
    # WHEN it is built again (a repeated reconcile message)
    from chalicelib import bootstrap
    bootstrap.components().worker.reconciler.build(status["run_id"])
    # THEN it is the same report, written at the same time
    assert reconciliation(harness, status["run_id"]) == first
    assert harness.status(status["run_id"])["reconciliation"]["generated_at"] == first["generated_at"]


def test_a_report_that_could_not_be_built_says_so_until_its_message_comes_again(harness, capsys):
    # GIVEN an ended run whose reconcile message failed on every attempt and reached the dead-letter queue
    path = write(harness, SMALL, HEADER + "\n" + amount_record(1, "5.55") + "\n")
    run_id = harness.trigger(file_path=path, record_type="disability", output_mode="file")
    harness.deliver(harness.receive()[0])  # the plan
    (chunk,) = harness.receive()
    harness.deliver(chunk)
    (reconcile,) = harness.receive()
    assert json.loads(reconcile["Body"]) == {"run_id": run_id, "kind": "reconcile"}
    capsys.readouterr()
    harness.invoke(reconcile, handler="handle_dead_chunk", queue="dlq")
    harness.invoke(reconcile, handler="handle_dead_chunk", queue="dlq")  # a dead letter may come twice
    # THEN the operators' alarm has its metric, once
    assert totals(documents(capsys), "ReconciliationsFailed") == 1
    # AND the status and the list say it failed, and the report's route says so, not "try again" for ever
    status = harness.status(run_id)
    assert status["status"] == "completed"
    assert status["reconciliation"]["failed"] == "the reconciliation report could not be built on any attempt"
    assert set(status["reconciliation"]) == {"failed", "failed_at"}
    listed = next(r for r in harness.get(API).json_body["migrations"] if r["run_id"] == run_id)
    assert listed["reconciliation"] == status["reconciliation"]
    answer = harness.get(f"{API}/{run_id}/reconciliation")
    assert answer.status_code == 409
    assert "could not be built on any attempt" in answer.json_body["detail"]
    assert f"POST .../{run_id}/reconciliation builds it again" in answer.json_body["detail"]
    assert "try again" not in answer.json_body["detail"]
    # WHEN an operator asks for it again (what docs/reconciliation.md says to do once the cause is mended)
    # (the copy the test took from the work queue is gone from it, as the redrive would have moved it)
    harness.sqs.delete_message(QueueUrl=harness.queue_urls["work"], ReceiptHandle=reconcile["ReceiptHandle"])
    asked = harness.client.http.post(f"{API}/{run_id}/reconciliation")
    assert asked.status_code == 200, asked.body
    assert asked.json_body["run_id"] == run_id and "being built again" in asked.json_body["message"]
    # THEN until a worker builds it, the report is "not written yet", and asking twice queues it once
    assert harness.status(run_id)["reconciliation"] is None
    assert "not written yet" in harness.get(f"{API}/{run_id}/reconciliation").json_body["detail"]
    twice = harness.client.http.post(f"{API}/{run_id}/reconciliation")
    assert twice.status_code == 409 and "being built already" in twice.json_body["detail"]
    (queued,) = harness.receive()
    assert json.loads(queued["Body"]) == {"run_id": run_id, "kind": "reconcile"}
    assert harness.get(f"{API}/{run_id}/audit").json_body["audit"][-1]["action"] == "report_requested"
    harness.deliver(queued)
    # AND the report is built and replaces the flag
    report = reconciliation(harness, run_id)
    assert report["balanced"] is True, failed_checks(report)
    assert harness.status(run_id)["reconciliation"] == {
        "balanced": True, "report": f"data/output/{run_id}/reconciliation.json",
        "generated_at": report["generated_at"]}
    # AND a written report is not queued again
    written = harness.client.http.post(f"{API}/{run_id}/reconciliation")
    assert written.status_code == 409 and "is written" in written.json_body["detail"]
    assert harness.receive() == []


def test_validate_only_run_reports_valid_records_as_validated(harness):
    path = write(harness, SMALL, HEADER + "\n" + amount_record(1, "5.55") + "\n" + amount_record(2, "x") + "\n")
    status = harness.run_to_end(file_path=path, record_type="disability", output_mode="api", validate_only=True,
                                max_error_rate=1.0)
    report = reconciliation(harness, status["run_id"])
    assert report["balanced"] is True, failed_checks(report)
    assert (report["records"]["delivered"], report["records"]["validated"]) == (0, 1)
    assert control(report, "weekly_benefit_amount")["validated"] == "5.55"


def test_planning_failure_has_a_report_that_is_not_balanced(harness):
    path = write(harness, SMALL, "NOT,THE,HEADER\n1,2,3\n")
    status = harness.run_to_end(file_path=path, record_type="disability", output_mode="file")
    assert status["status"] == "failed"
    report = reconciliation(harness, status["run_id"])
    assert report["balanced"] is False and "file_planned" in failed_checks(report)
    assert status["reconciliation"] is None or harness.status(status["run_id"])["reconciliation"]["balanced"] is False


def test_endpoint_answers_409_while_running_and_404_for_an_unknown_run(harness):
    path = write(harness, SMALL, HEADER + "\n" + record(1) + "\n")
    run_id = harness.trigger(file_path=path, record_type="disability", output_mode="file")
    running = harness.get(f"{API}/{run_id}/reconciliation")
    assert running.status_code == 409 and "written when it ends" in running.json_body["detail"]
    assert harness.get(f"{API}/6f1c1c1e-0000-4000-8000-000000000000/reconciliation").status_code == 404
    assert harness.get(f"{API}/not-a-run/reconciliation").status_code == 404



def test_asking_for_a_report_again_is_refused_while_the_run_goes_with_a_body_and_for_an_unknown_run(harness):
    path = write(harness, SMALL, HEADER + "\n" + record(1) + "\n")
    run_id = harness.trigger(file_path=path, record_type="disability", output_mode="file")
    going = harness.client.http.post(f"{API}/{run_id}/reconciliation")
    assert going.status_code == 409 and "built when it ends" in going.json_body["detail"]
    with_body = harness.post(f"{API}/{run_id}/reconciliation", {"rebuild": True})
    assert with_body.status_code == 422 and "takes no body" in with_body.json_body["detail"]
    for unknown in ("6f1c1c1e-0000-4000-8000-000000000000", "not-a-run"):
        assert harness.client.http.post(f"{API}/{unknown}/reconciliation").status_code == 404
    # Nothing was queued or noted: the plan is the only message, the trail holds the start only
    assert [json.loads(m["Body"])["kind"] for m in harness.receive()] == ["plan"]
    assert [a["action"] for a in harness.get(f"{API}/{run_id}/audit").json_body["audit"]] == ["started"]
