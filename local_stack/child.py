"""Run the local stack as a child process on free ports (tests and benchmarks)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

import requests

from local_stack.environment import PROJECT_DIR

STARTUP_SECONDS = 90
TERMINAL = ("completed", "failed", "cancelled")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class StackProcess:
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

    def cancel(self, run_id: str) -> requests.Response:
        return requests.post(f"{self.api_url}/api/v1/migrations/cancel/{run_id}", timeout=30)

    def wait_until_finished(self, run_id: str, timeout: float = 120, poll: float = 0.25) -> dict:
        deadline = time.monotonic() + timeout
        status: dict = {}
        while time.monotonic() < deadline:
            status = self.status(run_id, details=True)
            if status["status"] in TERMINAL:
                return status
            time.sleep(poll)
        raise AssertionError(f"run {run_id} did not finish in {timeout}s: {status}")

    def target_count(self) -> dict:
        return requests.get(f"{self.target_url}/records/count", timeout=10).json()

    def log(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def start_stack(data_root: str, log_path: str, workers: int = 2, extra_env: dict | None = None) -> StackProcess:
    api, emulator, target = free_port(), free_port(), free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(extra_env or {})}
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "local_stack", "--api-port", str(api), "--emulator-port", str(emulator),
             "--target-port", str(target), "--workers", str(workers), "--data-root", data_root],
            cwd=PROJECT_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    stack = StackProcess(f"http://127.0.0.1:{api}", f"http://127.0.0.1:{target}",
                         f"http://127.0.0.1:{emulator}", data_root, process, log_path)
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
    stack.stop()
    raise RuntimeError(f"the local stack did not answer within {STARTUP_SECONDS}s:\n{stack.log()}")
