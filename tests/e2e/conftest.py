"""The local stack, started once per session as a real process on free ports.

Tests drive it over real HTTP: the API, the sandbox target and the emulator.
Its data root is a temporary folder holding a copy of data/input, so outputs
never land in the working tree.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest
import requests

PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STARTUP_SECONDS = 90


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LocalStack:
    api_url: str
    target_url: str
    emulator_url: str
    data_root: str
    process: subprocess.Popen
    log_path: str

    def trigger(self, **body) -> dict:
        response = requests.post(f"{self.api_url}/api/v1/migrations/trigger", json=body, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    def status(self, run_id: str, details: bool = False) -> dict:
        response = requests.get(f"{self.api_url}/api/v1/migrations/status/{run_id}",
                                params={"include_details": str(details).lower()}, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    def wait_until_finished(self, run_id: str, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.status(run_id, details=True)
            if status["status"] in ("completed", "failed", "cancelled"):
                return status
            time.sleep(0.25)
        raise AssertionError(f"run {run_id} did not finish in {timeout}s: {status}")

    def target_count(self) -> dict:
        return requests.get(f"{self.target_url}/records/count", timeout=10).json()

    def log(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()


def start_stack(data_root: str, log_path: str, workers: int = 2, extra_env: dict | None = None) -> LocalStack:
    api, emulator, target = free_port(), free_port(), free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(extra_env or {})}
    log = open(log_path, "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "local_stack", "--api-port", str(api), "--emulator-port", str(emulator),
         "--target-port", str(target), "--workers", str(workers), "--data-root", data_root],
        cwd=PROJECT_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    stack = LocalStack(f"http://127.0.0.1:{api}", f"http://127.0.0.1:{target}", f"http://127.0.0.1:{emulator}",
                       data_root, process, log_path)
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the local stack exited early:\n{stack.log()}")
        try:
            if requests.get(f"{stack.api_url}/api/v1/migrations/running", timeout=2).status_code == 200:
                return stack
        except requests.ConnectionError:
            pass
        time.sleep(0.3)
    stop_stack(stack)
    raise RuntimeError(f"the local stack did not answer within {STARTUP_SECONDS}s:\n{stack.log()}")


def stop_stack(stack: LocalStack) -> None:
    if stack.process.poll() is None:
        stack.process.send_signal(signal.SIGTERM)
        try:
            stack.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(stack.process.pid, signal.SIGKILL)
            stack.process.wait()


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory) -> LocalStack:
    root = tmp_path_factory.mktemp("data-root")
    shutil.copytree(os.path.join(PROJECT_DIR, "data", "input"), root / "data" / "input")
    stack = start_stack(str(root), str(root / "local-stack.log"))
    yield stack
    stop_stack(stack)
