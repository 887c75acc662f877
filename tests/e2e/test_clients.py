"""The clients and the API reference, run against the local stack.

- `client/test_async_migration.py` follows a migration to the end, and its
  `endpoints` command passes every check;
- the aiohttp example's client class completes a run, and docs/api.md shows
  the example exactly as the file holds it;
- every curl command of docs/api.md answers with the status and the shape that
  the page documents.
"""
from __future__ import annotations

import asyncio
import csv
import importlib.util
import json
import os
import re
import subprocess
import sys
import uuid

import pytest
import requests

from tests.e2e.faults import wait_for, work_queue_depth

pytestmark = pytest.mark.e2e

PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(PROJECT_DIR, "client", "test_async_migration.py")
EXAMPLE = os.path.join(PROJECT_DIR, "client", "aiohttp_example.py")
API_DOC = os.path.join(PROJECT_DIR, "docs", "api.md")
SAMPLE = "data/input/sample_disability_data.csv"
DOC_BASE_URL = "http://127.0.0.1:8000"
FINISHED = ("completed", "failed", "cancelled")
UUID_PATTERN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def run_script(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, SCRIPT, *args], cwd=PROJECT_DIR, capture_output=True, text=True,
                          timeout=timeout)


def active_runs(stack) -> int:
    return requests.get(f"{stack.api_url}/api/v1/migrations/running", timeout=60).json()["count"]


def load_example():
    spec = importlib.util.spec_from_file_location("aiohttp_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------ the test script
def test_script_follows_a_migration_to_completion(local_stack):
    # GIVEN the local stack with nothing else running, and the target's counts before
    quiet = active_runs(local_stack) == 0
    before = local_stack.target_count()

    # WHEN the test script triggers the disability sample and follows it
    result = run_script("--base-url", local_stack.api_url, "--poll", "0.2")

    # THEN it exits 0, printing progress lines and a completed summary
    assert result.returncode == 0, result.stdout + result.stderr
    summary = re.search(r"^Summary: run (\S+) completed$", result.stdout, re.MULTILINE)
    assert summary, result.stdout
    assert re.search(r"^\[\s*\d+\.\d+s\] completed\s+completed\s+(\d+)/\1 records \(100\.0%\)",
                     result.stdout, re.MULTILINE), result.stdout
    # AND the service agrees: every record was processed, and the delivered ones reached the target once
    status = local_stack.status(summary.group(1), details=True)
    assert status["status"] == "completed"
    progress = status["progress"]
    assert progress["total_records"] > 0
    assert progress["processed_records"] == progress["total_records"]
    assert f"{progress['success_count']} succeeded, {progress['error_count']} failed" in result.stdout
    after = local_stack.target_count()
    if quiet and active_runs(local_stack) == 0:
        assert after["records"] - before["records"] == progress["success_count"]


def test_script_exits_1_when_the_run_does_not_complete(local_stack):
    # GIVEN a file the service cannot find
    # WHEN the test script is asked to migrate it
    result = run_script("--base-url", local_stack.api_url, "--file", "data/input/no_such_file.csv")

    # THEN the trigger is refused with a 422 and the script exits 1, saying why
    assert result.returncode == 1
    assert "422" in result.stderr and "file_path" in result.stderr, result.stderr


def test_script_checks_every_endpoint(local_stack):
    # GIVEN the local stack
    # WHEN the test script checks the endpoints
    result = run_script("endpoints", "--base-url", local_stack.api_url, "--poll", "0.2")

    # THEN every check passes and the script exits 0
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith(("PASS", "FAIL"))]
    assert not [line for line in lines if line.startswith("FAIL")], result.stdout
    for check in ("POST /trigger", "GET /status/{run_id} (no details)", "include_details=true", "GET /running",
                  "GET /migrations?limit=20", "record-types", "finished run -> 409", "unknown run} -> 404",
                  "invalid body -> 422", "malformed JSON -> 400"):
        assert any(check in line for line in lines), f"no check for {check!r}:\n{result.stdout}"
    assert "All checks passed" in result.stdout


# --------------------------------------------------------------- the aiohttp example
def test_aiohttp_client_completes_a_run(local_stack):
    # GIVEN the example's client class, pointed at the local stack
    example = load_example()
    seen = []

    async def scenario():
        async with example.MigrationClient(local_stack.api_url) as client:
            # WHEN it triggers the sample and waits for the run
            run = await client.trigger(SAMPLE, "disability", "api", batch_size=10,
                                       authentication={"type": "bearer_token", "token": "your-api-token"},
                                       metadata={"test": "aiohttp"})
            running = await client.running()
            final = await client.wait(run["run_id"], poll_seconds=0.2, timeout=600, on_progress=seen.append)
            errors = []
            for run_id in (run["run_id"], str(uuid.uuid4())):
                try:
                    await client.cancel(run_id)
                except example.MigrationApiError as err:
                    errors.append(err)
            return run, running, final, errors

    run, running, final, errors = asyncio.run(scenario())

    # THEN the run was queued, reported while it moved, and completed with every record processed
    assert run["status"] == "pending" and run["message"] == "Migration queued successfully"
    assert set(running) == {"running_migrations", "count"}
    assert seen and seen[-1]["status"] == "completed"
    assert final["status"] == "completed" and final["metadata"] == {"test": "aiohttp"}
    assert final["progress"]["processed_records"] == final["progress"]["total_records"] > 0
    assert final["details"]["output_mode"] == "api" and final["details"]["batch_size"] == 10
    # AND cancel raises the API's errors: 409 for the finished run, 404 for an unknown one
    assert [e.status for e in errors] == [409, 404]
    assert errors[1].detail.startswith("Migration run not found: ")


def test_aiohttp_example_main_runs_as_written(local_stack, capsys):
    # GIVEN the example module as the docs show it
    example = load_example()

    # WHEN its main() runs against the local stack
    code = asyncio.run(example.main(local_stack.api_url))

    # THEN it printed the run's progress and its completion, and returned 0
    out = capsys.readouterr().out
    assert code == 0, out
    assert re.search(r"^run \S+ queued$", out, re.MULTILINE), out
    assert re.search(r"^completed\s+completed\s+(\d+)/\1 \(100\.0%\)", out, re.MULTILINE), out
    assert re.search(r"^run \S+ completed in [\d.]+s: \d+ delivered, \d+ rejected$", out, re.MULTILINE), out


def test_api_doc_shows_the_aiohttp_example_as_it_is():
    # GIVEN docs/api.md and client/aiohttp_example.py
    with open(EXAMPLE, encoding="utf-8") as f:
        source = f.read()

    # WHEN the page's Python blocks are read
    blocks = [code for lang, code in fenced_blocks(read_doc()) if lang == "python"]

    # THEN one of them is the example file, word for word
    assert source.strip() in [b.strip() for b in blocks]


# ------------------------------------------------------------- the curl commands
def read_doc() -> str:
    with open(API_DOC, encoding="utf-8") as f:
        return f.read()


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    return re.findall(r"^```(\w*)\n(.*?)^```$", text, re.MULTILINE | re.DOTALL)


def documented_commands() -> list[tuple[str, int, object]]:
    """(curl command, documented HTTP status, documented body) for every curl block of the page."""
    blocks = fenced_blocks(read_doc())
    commands = []
    for i, (lang, code) in enumerate(blocks):
        curls = [line for line in code.splitlines() if line.startswith("curl ")]
        if lang != "sh" or not curls:
            continue
        assert len(curls) == 1, f"one curl command per block:\n{code}"
        assert i + 1 < len(blocks) and blocks[i + 1][0] == "http", f"no answer block after:\n{code}"
        head, _, body = blocks[i + 1][1].partition("\n\n")
        match = re.fullmatch(r"HTTP/1\.1 (\d{3}) [A-Za-z ]+", head.strip())
        assert match, f"answer block without a status line: {head!r}"
        commands.append((code.strip(), int(match.group(1)), json.loads(body)))
    return commands


def shape_problems(documented, actual, where: str = "answer") -> list[str]:
    """Where the actual answer's keys differ from the documented ones (values are not compared)."""
    if isinstance(documented, dict) and isinstance(actual, dict):
        if documented and all(UUID_PATTERN.fullmatch(k) for k in documented):  # keyed by run id
            example = next(iter(documented.values()))
            return [p for k, v in actual.items() for p in shape_problems(example, v, f"{where}[{k}]")]
        problems = []
        if set(documented) != set(actual):
            problems.append(f"{where}: documented keys {sorted(documented)}, answered {sorted(actual)}")
        for key in set(documented) & set(actual):
            if key not in ("metadata", "by_rule", "errors_by_rule"):  # keyed by data, not by the API
                problems += shape_problems(documented[key], actual[key], f"{where}.{key}")
        return problems
    if isinstance(documented, list) and isinstance(actual, list) and documented and actual:
        return shape_problems(documented[0], actual[0], f"{where}[0]")
    return []


def run_curl(command: str, api_url: str, run_id: str) -> tuple[int, object]:
    command = command.replace(DOC_BASE_URL, api_url) + " -w '\\n%{http_code}'"
    result = subprocess.run(["bash", "-c", command], env={**os.environ, "RUN_ID": run_id},
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{command}\n{result.stderr}"
    body, _, code = result.stdout.rpartition("\n")
    try:
        return int(code), json.loads(body)
    except ValueError:
        raise AssertionError(f"{command}\nanswered {code}, not JSON: {body[:500]}") from None


def write_long_file(data_root: str) -> str:
    """A copy of the sample, repeated to tens of thousands of records, so a run of it stays active a while."""
    with open(os.path.join(data_root, SAMPLE), newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, records = rows[0], rows[1:]
    relative = f"data/input/long_disability_{uuid.uuid4().hex[:8]}.csv"
    with open(os.path.join(data_root, relative), "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for _ in range(max(1, 30000 // max(1, len(records)))):
            writer.writerows(records)
    return relative


def start_long_run(stack) -> str:
    # batch_size 1 makes one target call per record; a wrong token makes the target refuse every
    # call before counting it, so the run stays active for a while and leaves the target's counts alone.
    return stack.trigger(file_path=write_long_file(stack.data_root), record_type="disability", output_mode="api",
                         batch_size=1, authentication={"type": "bearer_token", "token": "not-the-target-token"},
                         max_error_rate=1.0)["run_id"]


def test_every_curl_command_of_the_api_doc(local_stack):
    # GIVEN the curl commands of docs/api.md, each with its documented answer
    commands = documented_commands()
    assert len(commands) >= 12
    paths = " ".join(c for c, _, _ in commands)
    for path in ("/trigger", "/status/$RUN_ID", "include_details=true", "/running", "/cancel/$RUN_ID",
                 "/migrations?limit=", "/record-types"):
        assert path in paths, f"docs/api.md has no curl example for {path}"

    # WHEN each runs in order, against the local stack, with RUN_ID set as the page tells the reader:
    # the run the first trigger queued, or, to cancel with success, a run that is still active
    run_id, long_run, triggered = None, None, []
    for command, documented_status, documented_body in commands:
        if "/cancel/$RUN_ID" in command and documented_status == 200:
            long_run = long_run or start_long_run(local_stack)
            current = long_run
        else:
            current = run_id or str(uuid.uuid4())
        status, body = run_curl(command, local_stack.api_url, current)

        # THEN each answers with the documented status and the documented shape
        assert status == documented_status, f"{command}\n(RUN_ID={current}) answered {status}: {body}"
        assert not shape_problems(documented_body, body), (command, shape_problems(documented_body, body))
        if status >= 400:
            assert isinstance(body.get("detail"), str) and body["detail"]
        if "/trigger" in command and status == 200:
            triggered.append(body["run_id"])
            # the reader sets RUN_ID from the first trigger's answer; the later examples show it ended
            run_id = run_id or body["run_id"]
            assert local_stack.wait_until_finished(body["run_id"])["status"] == "completed"

    # AND the runs the page triggers complete, and the run it cancels is cancelled
    assert len(triggered) >= 2
    assert all(local_stack.status(r)["status"] == "completed" for r in triggered)
    assert long_run and local_stack.status(long_run)["status"] == "cancelled"
    settle_quietly(local_stack, long_run)


def settle_quietly(stack, run_id: str, timeout: float = 300) -> None:
    """Wait until the cancelled run's worker noticed the cancel and let go: the work queue holds nothing.

    A message leaves the queue only once its handler returned, so an empty queue
    (visible and held messages alike) means no worker is still in a chunk of the
    run. This waits for that to happen; it does not ask how soon.
    """
    wait_for(lambda: work_queue_depth(stack) == 0, timeout, f"the workers to let go of cancelled run {run_id}")
