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
  status: text(".status"), record_type: tr.cells[2].textContent, file_path: tr.cells[3].textContent,
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
