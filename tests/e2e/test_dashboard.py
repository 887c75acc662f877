"""The operators' dashboard in a real headless browser, against the local stack.

The page must follow runs by itself: a run triggered while it is open shows up and
finishes on screen without a reload, with the counts the status endpoint gives.
"""
from __future__ import annotations

import json
import os
import re
import struct
import threading
import time
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests


pytestmark = pytest.mark.e2e

SAMPLE = "data/input/sample_disability_data.csv"
REFRESH_SECONDS = 3  # the page polls the list endpoint this often
# How long to wait for the page to show something: it bounds a hang, it is not a speed requirement
# (a loaded two-core machine runs Chromium, the stack and the tests on the same cores).
SHOW_SECONDS = 5 * (3 * REFRESH_SECONDS + 5)

READ_ROW = """
const tr = document.querySelector('tr[data-run-id="' + CSS.escape(arguments[0]) + '"]');
if (!tr) return null;
const text = (selector) => tr.querySelector(selector).textContent.trim();
return {
  status: tr.dataset.status, record_type: tr.cells[2].textContent, file_path: tr.cells[3].textContent,
  percent: text(".pct"), fill: tr.querySelector(".bar > span").style.width,
  total: text(".total"), success: text(".success"), errors: text(".errors"),
};
"""


def wait_for(condition, timeout: float, what):
    """Poll `condition` until it is truthy; `what` (text, or a function giving it) names it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what() if callable(what) else what}")


def state_text(driver) -> str:
    return driver.execute_script("return document.getElementById('state').textContent")


def shown_row(driver, run_id: str) -> dict | None:
    return driver.execute_script(READ_ROW, run_id)


def number(text: str) -> int:
    return int(re.sub(r"\D", "", text))  # the page formats counts for the reader's locale


def png_facts(data: bytes) -> tuple[int, int, int]:
    """Width, height and how many distinct byte values its pixel data holds."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "the screenshot is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    idat, offset = b"", 8
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        if kind == b"IDAT":
            idat += data[offset + 8:offset + 8 + length]
        offset += 12 + length
    return width, height, len(set(zlib.decompress(idat)))


@pytest.mark.timeout(900)
def test_a_run_triggered_while_the_page_is_open_shows_up_and_completes_without_a_reload(
        local_stack, chromium, tmp_path):
    if not os.path.isfile(os.path.join(local_stack.data_root, SAMPLE)):
        pytest.fail(f"the seed file {SAMPLE} is missing from the repository", pytrace=False)

    # GIVEN the dashboard open, its first refresh done, and a mark that a reload would wipe
    chromium.get(local_stack.api_url + "/")
    wait_for(lambda: "shown, updated" in state_text(chromium), SHOW_SECONDS, "the first refresh")
    page_mark = uuid.uuid4().hex
    chromium.execute_script("window.e2ePageMark = arguments[0]", page_mark)

    # WHEN a migration is triggered over the API
    run_id = local_stack.trigger(file_path=SAMPLE, record_type="disability", output_mode="file")["run_id"]

    # THEN its row appears by itself
    row = wait_for(lambda: shown_row(chromium, run_id), SHOW_SECONDS, f"the row of run {run_id}")
    assert row["record_type"] == "disability"
    assert row["file_path"] == SAMPLE

    # AND once the run has finished, the row shows what the status endpoint says
    final = local_stack.wait_until_finished(run_id)
    assert final["status"] == "completed", final
    row = wait_for(lambda: (r := shown_row(chromium, run_id)) and r["status"] == "completed" and r,
                   SHOW_SECONDS,
                   lambda: f"run {run_id} to show as completed; its row: {shown_row(chromium, run_id)}")
    expected = final["progress"]
    assert row["percent"] == "100.0%"
    assert row["fill"] == "100%"
    assert number(row["total"]) == expected["total_records"] > 0
    assert number(row["success"]) == expected["success_count"]
    assert number(row["errors"]) == expected["error_count"]
    assert expected["success_count"] + expected["error_count"] == expected["total_records"]

    # AND the page was never reloaded
    assert chromium.execute_script("return window.e2ePageMark") == page_mark
    assert "Could not refresh" not in state_text(chromium)

    # AND a screenshot of it is a real picture of the page
    screenshot = tmp_path / "dashboard.png"
    assert chromium.save_screenshot(str(screenshot))
    width, height, distinct = png_facts(screenshot.read_bytes())
    assert [width, height] == chromium.execute_script(
        "return [innerWidth, innerHeight].map((n) => Math.round(n * devicePixelRatio))")
    assert distinct > 32, "the screenshot looks blank"


class StubApi(BaseHTTPRequestHandler):
    """Serves the real dashboard page under `mount` (as API Gateway does under its
    stage), and answers the page's list calls with `list_status`."""

    page = b""
    mount = ""
    list_status = 500

    def do_GET(self):
        if self.path in (self.mount or "/", self.mount + "/"):
            self.answer(200, "text/html; charset=utf-8", self.page)
        elif self.path == self.mount + "/api/v1/migrations?limit=50" and self.list_status == 200:
            self.answer(200, "application/json", json.dumps({"migrations": [], "count": 0}).encode())
        elif self.path == self.mount + "/api/v1/migrations?limit=50":
            self.answer(self.list_status, "application/json",
                        json.dumps({"Code": "InternalServerError", "Message": "boom"}).encode())
        else:
            self.answer(404, "application/json", json.dumps({"Message": "Not Found"}).encode())

    def answer(self, status: int, content_type: str, body: bytes):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def stub_api(local_stack):
    StubApi.page = requests.get(local_stack.api_url + "/", timeout=60).content
    StubApi.mount, StubApi.list_status = "", 500
    server = ThreadingHTTPServer(("127.0.0.1", 0), StubApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def state_is_error(driver) -> bool:
    return driver.execute_script("return document.getElementById('state').classList.contains('bad')")


@pytest.mark.timeout(600)
def test_the_page_says_when_it_cannot_refresh_and_recovers_when_the_api_does(chromium, stub_api):
    # GIVEN the dashboard served by an API that answers its list calls with an error
    # WHEN the page loads
    chromium.get(stub_api + "/")

    # THEN it says, in the error colour, that it could not refresh and why
    wait_for(lambda: "Could not refresh: HTTP 500" in state_text(chromium), SHOW_SECONDS, "the refresh error")
    assert state_is_error(chromium)

    # AND WHEN the API answers again, the page goes on polling and recovers
    StubApi.list_status = 200
    wait_for(lambda: "0 shown, updated" in state_text(chromium), SHOW_SECONDS, "the recovery")
    assert not state_is_error(chromium)


@pytest.mark.timeout(600)
def test_the_page_opened_without_a_trailing_slash_still_finds_the_api_under_its_stage(chromium, stub_api):
    # GIVEN the dashboard served under a stage path, as on API Gateway (/api/)
    StubApi.mount, StubApi.list_status = "/api", 200

    # WHEN it is opened without the trailing slash
    chromium.get(stub_api + "/api")

    # THEN its list calls still go under the stage, and succeed
    wait_for(lambda: "0 shown, updated" in state_text(chromium), SHOW_SECONDS,
             lambda: f"the first refresh; the page says: {state_text(chromium)!r}")


# ------------------------------------------------------------------ the list and the run page
# The tests below save screenshots of what they saw to test-artifacts/screenshots/<test>-<what>.png.
SCREENSHOTS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                           "test-artifacts", "screenshots")
API = "/api/v1/migrations"


def keep_screenshot(driver, request, what: str) -> str:
    os.makedirs(SCREENSHOTS, exist_ok=True)
    path = os.path.join(SCREENSHOTS, f"{request.node.name}-{what}.png")
    driver.set_window_size(1400, max(900, driver.execute_script("return document.body.scrollHeight") + 40))
    assert driver.save_screenshot(path)
    _, _, distinct = png_facts(open(path, "rb").read())
    assert distinct > 32, f"the screenshot {path} looks blank"
    return path


def get(stack, path: str, **params) -> dict:
    response = requests.get(stack.api_url + API + path, params=params, headers=stack.headers, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def every_page(stack, path: str, **params) -> list[dict]:
    rows, offset = [], 0
    while offset is not None:
        page = get(stack, path, offset=offset, limit=1000, **params)
        rows += page["errors"]
        offset = page["next_offset"]
    return rows


def js(driver, script: str, *args):
    return driver.execute_script(script, *args)


def choose(driver, select_id: str, value: str) -> None:
    """Set a filter as a person would (the value, then a change event)."""
    js(driver, "const s = document.getElementById(arguments[0]); s.value = arguments[1];"
               "s.dispatchEvent(new Event('change'));", select_id, value)


def shown_ids(driver) -> list[str]:
    return js(driver, "return [...document.querySelectorAll('#runs tr[data-run-id]')].map((tr) => tr.dataset.runId)")


def fact(driver, key: str) -> str | None:
    return js(driver, "const d = document.querySelector('#run-facts [data-fact=\"' + arguments[0] + '\"]');"
                      "return d ? d.textContent : null", key)


def run_page(driver, stack, run_id: str, status: str | None = None) -> None:
    """Open a run's page and wait until it shows the run (with `status`, if given)."""
    driver.get(f"{stack.api_url}/#/runs/{run_id}")
    wait_for(lambda: page_status(driver) == status if status else page_status(driver), SHOW_SECONDS,
             lambda: f"the page of run {run_id}; it says {state_text(driver)!r}, status {page_status(driver)!r}")


def page_status(driver) -> str | None:
    return js(driver, "return document.getElementById('run-title').dataset.status")


def timeline(driver) -> list[str]:
    return js(driver, "return [...document.querySelectorAll('#timeline li')].map((li) => li.dataset.step)")


def grid(driver) -> list[str]:
    return js(driver, "return [...document.querySelectorAll('#chunk-grid .cell')].map((c) => c.dataset.state)")


def audit_actions(driver) -> list[str]:
    return js(driver, "return [...document.querySelectorAll('#audit tr')].map((tr) => tr.dataset.action)")


def click(driver, element_id: str, confirm: bool = False) -> None:
    if not confirm:
        js(driver, "document.getElementById(arguments[0]).click()", element_id)
        return
    # The page asks before it changes a run; the test answers yes.
    driver.find_element("id", element_id).click()
    wait_for(lambda: _alert(driver), SHOW_SECONDS, "the confirmation").accept()


def _alert(driver):
    try:
        return driver.switch_to.alert
    except Exception:  # NoAlertPresentException: not yet
        return None


def write_file(stack, relative: str, record_type: str, records: int, seed: int, invalid_share: float) -> None:
    from datagen.legacy_files import write_legacy_file
    full = os.path.join(stack.data_root, relative)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    write_legacy_file(record_type, full, records, invalid_share=invalid_share, seed=seed)


@pytest.mark.timeout(900)
def test_the_list_counts_by_status_filters_and_pages_past_its_first_page(local_stack, chromium, request):
    # GIVEN six finished employee runs: three clean, three that rejected some records
    write_file(local_stack, "data/dashboard/clean.csv", "employee", 20, 31, 0.0)
    write_file(local_stack, "data/dashboard/rejects.csv", "employee", 40, 32, 0.05)
    mine = {"clean": [], "rejects": []}
    for kind in ("clean", "rejects") * 3:
        mine[kind].append(local_stack.trigger(file_path=f"data/dashboard/{kind}.csv", record_type="employee",
                                              output_mode="file")["run_id"])
    for run_id in mine["clean"] + mine["rejects"]:
        assert local_stack.wait_until_finished(run_id)["status"] == "completed"

    # WHEN the list is opened and filtered to employee runs, five a page
    chromium.get(local_stack.api_url + "/")
    wait_for(lambda: "shown, updated" in state_text(chromium), SHOW_SECONDS, "the first refresh")
    wait_for(lambda: js(chromium, "return document.getElementById('f-type').options.length") > 1, SHOW_SECONDS,
             "the record types")
    choose(chromium, "f-limit", "5")
    choose(chromium, "f-type", "employee")
    api_first = get(local_stack, "", limit=5, record_type="employee")
    wait_for(lambda: shown_ids(chromium) == [r["run_id"] for r in api_first["migrations"]], SHOW_SECONDS,
             lambda: f"the first page of employee runs; shown {shown_ids(chromium)}")

    # THEN the counts on top are the API's, by status, for employee runs (the stack is shared: runs of other
    # tests may still be ending, so the page's counts are held against the API's as both refresh)
    def page_counts() -> dict:
        shown = js(chromium, "return Object.fromEntries([...document.querySelectorAll('#counts .count')]"
                             ".map((c) => [c.dataset.status, c.querySelector('b').textContent]))")
        return {k: number(v) for k, v in shown.items()}

    wait_for(lambda: page_counts() == get(local_stack, "", limit=5, record_type="employee")["counts_by_status"],
             SHOW_SECONDS, lambda: f"the API's counts; shown {page_counts()}")
    counts = page_counts()
    assert counts["completed_with_rejections"] >= 3 and counts["completed"] >= 3
    keep_screenshot(chromium, request, "list")

    # AND "Older" pages through every employee run, as the API's cursor does, and "Newer" comes back
    expected, cursor = [], None
    while True:
        page = get(local_stack, "", limit=5, record_type="employee", **({"cursor": cursor} if cursor else {}))
        expected.append([r["run_id"] for r in page["migrations"]])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(expected) >= 2
    seen = [shown_ids(chromium)]
    for want in expected[1:]:
        assert not js(chromium, "return document.getElementById('older').disabled")
        click(chromium, "older")
        wait_for(lambda: shown_ids(chromium) == want, SHOW_SECONDS, lambda: f"page {want}: {shown_ids(chromium)}")
        seen.append(want)
    assert seen == expected
    wait_for(lambda: js(chromium, "return document.getElementById('older').disabled"), SHOW_SECONDS, "the last page")
    for want in reversed(expected[:-1]):
        click(chromium, "newer")
        wait_for(lambda: shown_ids(chromium) == want, SHOW_SECONDS, lambda: f"page {want}: {shown_ids(chromium)}")
    assert js(chromium, "return document.getElementById('newer').disabled")

    # AND a run with rejections is shown apart from a clean completion, in the rows and by the status filter
    choose(chromium, "f-limit", "200")
    wait_for(lambda: set(mine["clean"] + mine["rejects"]) <= set(shown_ids(chromium)), SHOW_SECONDS, "my runs")
    labels = js(chromium, "return Object.fromEntries([...document.querySelectorAll('#runs tr[data-run-id]')]"
                          ".map((tr) => [tr.dataset.runId, tr.querySelector('.status').textContent]))")
    assert {labels[r] for r in mine["clean"]} == {"completed"}
    assert {labels[r] for r in mine["rejects"]} == {"completed with rejections"}
    choose(chromium, "f-status", "completed_with_rejections")
    wait_for(lambda: set(mine["rejects"]) <= set(shown_ids(chromium)) and
             not set(mine["clean"]) & set(shown_ids(chromium)), SHOW_SECONDS, "the runs with rejections only")
    choose(chromium, "f-status", "failed")
    wait_for(lambda: not set(mine["clean"] + mine["rejects"]) & set(shown_ids(chromium)), SHOW_SECONDS,
             "none of mine among failed runs")
    # AND the dates filter by creation day (UTC): none tomorrow, mine today
    today = time.strftime("%Y-%m-%d", time.gmtime())
    tomorrow = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400))
    choose(chromium, "f-status", "")
    choose(chromium, "f-since", tomorrow)
    wait_for(lambda: shown_ids(chromium) == [] and "No migrations match" in js(
        chromium, "return document.getElementById('runs').textContent"), SHOW_SECONDS, "an empty page")
    choose(chromium, "f-since", today)
    choose(chromium, "f-until", today)
    wait_for(lambda: set(mine["clean"] + mine["rejects"]) <= set(shown_ids(chromium)), SHOW_SECONDS, "today's runs")
    # AND each row links to its run's page
    js(chromium, "document.querySelector('tr[data-run-id=\"' + arguments[0] + '\"] a').click()", mine["rejects"][0])
    wait_for(lambda: page_status(chromium) == "completed", SHOW_SECONDS, "the run page")
    assert js(chromium, "return location.hash") == f"#/runs/{mine['rejects'][0]}"


@pytest.mark.timeout(900)
def test_the_page_of_a_file_run_with_rejections(local_stack, chromium, request, tmp_path):
    # GIVEN a file-mode run of 2,000 claims, 5 % of them invalid, finished
    write_file(local_stack, "data/dashboard/claims.csv", "claim", 2000, 5, 0.05)
    run_id = local_stack.trigger(file_path="data/dashboard/claims.csv", record_type="claim",
                                 output_mode="file")["run_id"]
    final = local_stack.wait_until_finished(run_id)
    assert final["status"] == "completed" and final["progress"]["error_count"] > 0, final
    chunks = get(local_stack, f"/{run_id}/chunks")

    # WHEN its page is opened
    chromium.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    run_page(chromium, local_stack, run_id, "completed")

    # THEN it shows the run as completed with rejections, with the API's counters and its true steps
    assert js(chromium, "return document.getElementById('run-title').dataset.outcome") == "completed_with_rejections"
    progress = final["progress"]
    assert fact(chromium, "current_step") == progress["current_step"]
    assert number(fact(chromium, "error_count")) == progress["error_count"]
    assert number(fact(chromium, "success_count")) == progress["success_count"]
    assert timeline(chromium) == [s["step"] for s in final["details"]["steps"]]
    assert "api_integration" not in timeline(chromium) and "api_integration" not in fact(chromium, "current_step")
    # AND a grid of its chunks, all done, and its throughput line with a point per chunk
    wait_for(lambda: len(grid(chromium)) == chunks["chunks_total"] > 0, SHOW_SECONDS, "the chunk grid")
    assert set(grid(chromium)) == {"done"}
    assert js(chromium, "return document.querySelector('#throughput polyline').dataset.points") == \
        str(len(chunks["throughput"]))

    # AND its error report as a table, fifty rows a page
    report = every_page(local_stack, f"/{run_id}/errors")
    shown_rows = "return [...document.querySelectorAll('#errors tr[data-rule]')].map((tr) => [tr.cells[0]" \
                 ".textContent, tr.dataset.rule])"
    first = [[str(r["row"]), r["rule"]] for r in report[:50]]
    wait_for(lambda: js(chromium, shown_rows) == first, SHOW_SECONDS, "the first page of errors")
    click(chromium, "e-next")
    second = [[str(r["row"]), r["rule"]] for r in report[50:100]]
    wait_for(lambda: js(chromium, shown_rows) == second, SHOW_SECONDS, "the second page of errors")
    # AND filtered by a rule, only that rule's rows
    rule = max(final["details"]["errors_by_rule"], key=final["details"]["errors_by_rule"].get)
    choose(chromium, "e-rule", rule)
    of_rule = [[str(r["row"]), r["rule"]] for r in report if r["rule"] == rule][:50]
    wait_for(lambda: js(chromium, shown_rows) == of_rule, SHOW_SECONDS, f"the rows of rule {rule}")
    keep_screenshot(chromium, request, "run")

    # AND the report downloads, as CSV (of the chosen rule) and as JSON Lines (every row)
    click(chromium, "dl-csv")
    csv_file = tmp_path / f"errors-{run_id}-{rule}.csv"
    wait_for(lambda: csv_file.exists() and csv_file.read_text().count("\n") > 0, SHOW_SECONDS, "the CSV")
    import csv as csv_module
    rows = list(csv_module.DictReader(csv_file.read_text().splitlines()))
    assert [(int(r["row"]), r["rule"]) for r in rows] == [(r["row"], r["rule"]) for r in report if r["rule"] == rule]
    choose(chromium, "e-rule", "")
    click(chromium, "dl-jsonl")
    jsonl = tmp_path / f"errors-{run_id}.jsonl"
    wait_for(lambda: jsonl.exists() and jsonl.read_text().count("\n") == len(report), SHOW_SECONDS, "the JSON Lines")
    assert [json.loads(line) for line in jsonl.read_text().splitlines()] == report

    # AND the reconciliation report, once the API serves it: its flag, and its download
    answer = requests.get(f"{local_stack.api_url}{API}/{run_id}/reconciliation", headers=local_stack.headers,
                          timeout=60)
    if answer.status_code == 200:
        expected = "balanced" if answer.json()["balanced"] else "not balanced"
        wait_for(lambda: js(chromium, "return document.getElementById('recon-flag').textContent") == expected,
                 SHOW_SECONDS, "the reconciliation flag")
        click(chromium, "dl-recon")
        saved = tmp_path / f"reconciliation-{run_id}.json"
        wait_for(lambda: saved.exists() and saved.stat().st_size, SHOW_SECONDS, "the reconciliation download")
        assert json.loads(saved.read_text()) == answer.json()
    else:
        wait_for(lambda: js(chromium, "return document.getElementById('recon-state').textContent"), SHOW_SECONDS,
                 "what the page says of the reconciliation report")
    # AND nothing could not be read
    assert "Could not" not in state_text(chromium)


@pytest.mark.timeout(900)
def test_the_cancel_button_stops_a_slow_api_run_where_it_is(local_stack, chromium, request):
    from tests.e2e.faults import set_target_faults, work_queue_depth
    # GIVEN an api-mode run slow enough to be still going (a slow target, one record a call)
    write_file(local_stack, "data/dashboard/slow.csv", "claim", 3000, 41, 0.0)
    set_target_faults(local_stack, latency_ms=500)
    try:
        run_id = local_stack.trigger(file_path="data/dashboard/slow.csv", record_type="claim", output_mode="api",
                                     batch_size=1)["run_id"]
        # WHEN its page shows it delivering
        run_page(chromium, local_stack, run_id, "running")
        wait_for(lambda: not js(chromium, "return document.getElementById('cancel').disabled"), SHOW_SECONDS,
                 "the Cancel button")
        assert js(chromium, "return document.getElementById('retry').disabled")
        live = "live_records" in local_stack.status(run_id)["progress"]  # the run's live progress
        if live:  # the bar moves during the chunk's delivery, before any chunk is counted
            wait_for(lambda: js(chromium, "return parseFloat(document.getElementById('run-pct').textContent)") > 0,
                     SHOW_SECONDS, "the bar to move")
            wait_for(lambda: "in_progress" in grid(chromium), SHOW_SECONDS, "a chunk in progress")
        # AND Cancel is clicked, and confirmed
        click(chromium, "cancel", confirm=True)
        # THEN the run is cancelled, the page says so, and it shows the step where it stopped
        wait_for(lambda: page_status(chromium) == "cancelled", SHOW_SECONDS, "the page to show the cancel")
        wait_for(lambda: "cancelled successfully" in js(chromium, "return document.getElementById('run-message')"
                                                                 ".textContent"), SHOW_SECONDS, "the answer")
        status = local_stack.status(run_id, details=True)
        assert status["status"] == "cancelled"
        assert status["progress"]["current_step"] not in ("completed", "initializing")
        wait_for(lambda: fact(chromium, "current_step") == status["progress"]["current_step"], SHOW_SECONDS,
                 "the step where it stopped")
        assert timeline(chromium)[-1] == "cancelled"
        assert timeline(chromium) == [s["step"] for s in status["details"]["steps"]]
        assert js(chromium, "return document.getElementById('cancel').disabled")
        assert js(chromium, "return document.getElementById('retry').disabled")
        keep_screenshot(chromium, request, "run")
    finally:
        set_target_faults(local_stack)
    # AND the worker lets go of it (nothing of it left on the work queue), for the tests that follow
    wait_for(lambda: work_queue_depth(local_stack) == 0, 300, "the work queue to drain")


@pytest.mark.timeout(600)
def test_a_report_that_could_not_be_built_is_built_again_from_its_page(local_stack, chromium, request):
    from tests.e2e.faults import set_target_faults
    # GIVEN a run whose reconciliation report cannot be written: a folder stands where the report goes (as a
    # full or read-only disk would stop it), made while the run is still delivering to a slow target
    write_file(local_stack, "data/dashboard/unreported.csv", "absence", 40, 43, 0.0)
    set_target_faults(local_stack, latency_ms=300)
    try:
        run_id = local_stack.trigger(file_path="data/dashboard/unreported.csv", record_type="absence",
                                     output_mode="api", batch_size=1, output_dir="data/dashboard-reports")["run_id"]
        blocker = os.path.join(local_stack.data_root, "data/dashboard-reports", run_id, "reconciliation.json")
        os.makedirs(blocker)
        assert local_stack.wait_until_finished(run_id, timeout=300)["status"] == "completed"
    finally:
        set_target_faults(local_stack)
    # WHEN every attempt to build it has failed (its message reached the dead-letter queue)
    wait_for(lambda: (local_stack.status(run_id)["reconciliation"] or {}).get("failed"), 120, "the report's failure")
    # THEN its page says the report is not built, and offers to build it again
    run_page(chromium, local_stack, run_id, "completed")
    wait_for(lambda: js(chromium, "return document.getElementById('recon-flag').textContent") == "report not built",
             SHOW_SECONDS * 2, "the report flagged as not built")
    said = js(chromium, "return document.getElementById('recon-state').textContent")
    assert said.startswith("Not built: ") and "could not be built on any attempt" in said
    assert not js(chromium, "return document.getElementById('recon-rebuild').disabled")
    keep_screenshot(chromium, request, "report-not-built")
    # WHEN the cause is mended, and the button is clicked and confirmed
    os.rmdir(blocker)
    click(chromium, "recon-rebuild", confirm=True)
    # THEN the page says so, and shows the report once a worker has built it, balanced
    wait_for(lambda: "being built again" in js(chromium, "return document.getElementById('run-message').textContent"),
             SHOW_SECONDS, "the rebuild's answer")
    wait_for(lambda: js(chromium, "return document.getElementById('recon-flag').textContent") == "balanced",
             SHOW_SECONDS * 2, "the report built again")
    assert js(chromium, "return document.getElementById('recon-rebuild').disabled")
    assert not js(chromium, "return document.getElementById('dl-recon').disabled")
    assert [a["action"] for a in get(local_stack, f"/{run_id}/audit")["audit"]] == ["started", "report_requested"]
    wait_for(lambda: audit_actions(chromium) == ["started", "report_requested"], SHOW_SECONDS, "the audit trail")


@pytest.mark.timeout(900)
def test_the_retry_button_processes_the_failed_chunks_again(chromium, request, tmp_path):
    from local_stack.child import start_stack
    from tests.e2e.faults import SMALL_CHUNKS, set_target_faults, write_inputs
    # GIVEN a stack of its own whose chunks fail for good quickly (a retry budget of 1 s, messages back
    # after 1 s), and a run whose every chunk failed while the target answered 5xx
    (tmp_path / "data").mkdir()
    stack = start_stack(str(tmp_path), str(tmp_path / "stack.log"), workers=2,
                        extra_env={**SMALL_CHUNKS, "RETRY_BUDGET_SECONDS": "1", "LOCAL_RETRY_SECONDS": "1"})
    try:
        write_inputs(stack.data_root, [("data/absence.csv", "absence", 1000, 13)])
        set_target_faults(stack, error_rate=1.0)
        run_id = stack.trigger(file_path="data/absence.csv", record_type="absence", output_mode="api",
                               batch_size=50)["run_id"]
        failed = stack.wait_until_finished(run_id, timeout=750)
        assert failed["status"] == "failed" and failed["details"]["chunks"]["failed"] >= 2, failed
        set_target_faults(stack)
        # WHEN its page is opened: every chunk failed, and Retry is offered
        run_page(chromium, stack, run_id, "failed")
        wait_for(lambda: grid(chromium) and set(grid(chromium)) == {"failed"}, SHOW_SECONDS, "the failed chunks")
        assert not js(chromium, "return document.getElementById('retry').disabled")
        assert js(chromium, "return document.getElementById('cancel').disabled")
        keep_screenshot(chromium, request, "failed")
        # AND Retry is clicked, and confirmed
        click(chromium, "retry", confirm=True)
        # THEN the page says the chunks were queued again, and follows the same run to its end
        wait_for(lambda: "queued again" in js(chromium, "return document.getElementById('run-message').textContent"),
                 SHOW_SECONDS, "the retry's answer")
        wait_for(lambda: page_status(chromium) == "completed", SHOW_SECONDS * 2, "the retried run to complete")
        wait_for(lambda: set(grid(chromium)) == {"done"}, SHOW_SECONDS, "every chunk done")
        assert "retry" in timeline(chromium)
        assert stack.status(run_id)["status"] == "completed"
        assert js(chromium, "return document.getElementById('retry').disabled")
        # AND its audit trail says it was started, then retried, by whom
        wait_for(lambda: audit_actions(chromium) == ["started", "retried"], SHOW_SECONDS, "the audit trail")
        assert "anonymous" in js(chromium, "return document.querySelector('#audit tr:last-child').textContent")
        keep_screenshot(chromium, request, "retried")
        # AND a refusal of the API is shown with its detail (a retry with nothing left to retry: 409)
        js(chromium, "document.getElementById('retry').disabled = false")
        click(chromium, "retry", confirm=True)
        wait_for(lambda: "HTTP 409" in js(chromium, "return document.getElementById('run-message').textContent"),
                 SHOW_SECONDS, "the refusal")
        assert "no failed chunks" in js(chromium, "return document.getElementById('run-message').textContent")
    finally:
        stack.stop()
