"""Starting and stopping the local stack on a machine that may be slow: nothing of it is ever left behind.

A slow answer is waited for; a start that fails (the child exits, the caller is
interrupted, a port was taken meanwhile) stops every process it started, its
workers included, before the error goes on.
"""
from __future__ import annotations

import socket
import subprocess
import sys

import pytest
import requests

from local_stack import child
from local_stack.child import StackProcess, StackStartError, start_stack
from local_stack.environment import PROJECT_DIR
from tests.e2e.faults import wait_for, worker_pids

pytestmark = pytest.mark.e2e


@pytest.fixture
def started(monkeypatch) -> list[StackProcess]:
    """Every stack start_stack starts during the test, whether or not the start succeeds."""
    stacks: list[StackProcess] = []
    wait_ready = StackProcess.wait_ready

    def recording(self, *args, **kwargs):
        stacks.append(self)
        return wait_ready(self, *args, **kwargs)

    monkeypatch.setattr(StackProcess, "wait_ready", recording)
    yield stacks
    for stack in stacks:
        stack.stop()


def assert_nothing_left(stack: StackProcess) -> None:
    assert stack.process.poll() is not None, "the stack's main process is still running"
    assert stack.members() == [], f"processes of the stack are left: {stack.members()}"


def test_a_slow_answer_is_waited_for_not_taken_for_a_crash(tmp_path, monkeypatch, started):
    # GIVEN an API that, once up, is too slow to answer the first readiness probes in time
    real_get = requests.get
    slow = {"left": 5}

    def slow_get(url, *args, **kwargs):
        if url.endswith("/api/v1/migrations/running") and slow["left"]:
            slow["left"] -= 1
            raise requests.ReadTimeout(f"simulated: {url} answered too slowly")
        return real_get(url, *args, **kwargs)

    monkeypatch.setattr(child.requests, "get", slow_get)
    (tmp_path / "data").mkdir()
    # WHEN the stack is started
    stack = start_stack(str(tmp_path), str(tmp_path / "stack.log"), workers=0)
    # THEN start_stack waited through the timeouts and returned the stack, answering
    assert slow["left"] == 0
    assert stack.process.poll() is None
    assert real_get(f"{stack.api_url}/api/v1/migrations/running", timeout=60).status_code == 200
    # AND stop() leaves nothing of it
    stack.stop()
    assert_nothing_left(stack)


def test_a_child_that_exits_fails_the_start_with_its_log_and_leaves_nothing(tmp_path, started):
    # GIVEN a setting that makes the stack's main process fail while it starts
    (tmp_path / "data").mkdir()
    # WHEN the stack is started with it
    with pytest.raises(StackStartError, match="exited with code 1 before it answered") as failure:
        start_stack(str(tmp_path), str(tmp_path / "stack.log"), workers=2,
                    extra_env={"TARGET_FAULTS": "not JSON"})
    # THEN the error shows the end of its log, which says why
    assert "JSONDecodeError" in str(failure.value)
    # AND nothing of it is left
    assert len(started) == 1
    assert_nothing_left(started[0])


def test_an_interrupted_start_stops_the_workers_it_started(tmp_path, monkeypatch, started):
    # GIVEN a start interrupted (Ctrl-C in the test run) once the stack's worker processes exist,
    # before the stack answers
    def interrupted_once_workers_exist(self) -> bool:
        if len(worker_pids(self)) == 2:
            raise KeyboardInterrupt
        return False

    monkeypatch.setattr(StackProcess, "ready", interrupted_once_workers_exist)
    (tmp_path / "data").mkdir()
    # WHEN the stack is started
    with pytest.raises(KeyboardInterrupt):
        start_stack(str(tmp_path), str(tmp_path / "stack.log"), workers=2)
    # THEN the interrupt goes on, and neither the stack nor its workers are left
    assert len(started) == 1
    assert_nothing_left(started[0])


def test_a_port_taken_meanwhile_is_tried_again_on_new_ports(tmp_path, monkeypatch, started):
    # GIVEN the API's port taken by someone else between the choice of ports and the stack's start
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    real_free_port = child.free_port
    ports = iter([taken.getsockname()[1]])
    monkeypatch.setattr(child, "free_port", lambda: next(ports, None) or real_free_port())
    (tmp_path / "data").mkdir()
    try:
        # WHEN the stack is started
        stack = start_stack(str(tmp_path), str(tmp_path / "stack.log"), workers=2)
        # THEN the first attempt failed on the taken port and left nothing; the second one answers
        assert len(started) == 2 and started[1] is stack
        assert_nothing_left(started[0])
        assert stack.api_url != started[0].api_url
        assert requests.get(f"{stack.api_url}/api/v1/migrations/running", timeout=60).status_code == 200
        assert wait_for(lambda: len(worker_pids(stack)) == 2, 300, "the second stack's workers")
    finally:
        taken.close()
    stack.stop()
    assert_nothing_left(stack)


@pytest.mark.parametrize("which", ["api", "emulator", "target"])
def test_a_port_in_use_is_a_one_line_error_naming_it(tmp_path, which):
    # GIVEN one of the stack's ports held by another program
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    ports = {name: str(port) if name == which else str(child.free_port()) for name in ("api", "emulator", "target")}
    try:
        # WHEN `make run` starts on it
        result = subprocess.run(
            [sys.executable, "-m", "local_stack", "--data-root", str(tmp_path), "--workers", "1",
             *[arg for name, value in ports.items() for arg in (f"--{name}-port", value)]],
            cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120)
    finally:
        taken.close()
    # THEN it exits at once with one line that names the port, and no traceback
    assert result.returncode == 1
    assert result.stderr.strip() == (f"error: port {port} ({which}) is already in use on 127.0.0.1: stop what "
                                     f"holds it, or choose another port with --{which}-port")
