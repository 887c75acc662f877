"""Run the local stack as a child process on free ports (tests and benchmarks).

The stack runs in a process group of its own (its workers and multiprocessing's
resource tracker join it). `start_stack` waits for it to answer, however slowly
a loaded machine lets it start, and a start that fails, for whatever reason
(the child exited, the deadline passed, an exception or Ctrl-C in the caller),
stops the whole group before the error goes on. `StackProcess.stop` stops the
whole group too, and waits until none of it is left.
"""
from __future__ import annotations

import atexit
import errno
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

import requests

from local_stack.__main__ import READY_BANNER
from local_stack.environment import PROJECT_DIR

# How long a start may take before it counts as failed. A two-core CI machine
# under load starts the stack (moto, the deployment, the workers, the API) in
# tens of seconds, so this is generous on purpose: it only bounds a hang.
STARTUP_SECONDS = float(os.environ.get("LOCAL_STACK_STARTUP_SECONDS", "300"))
# Each readiness probe: a short connect and read timeout. A probe that times
# out means "not yet", never "failed".
PROBE_TIMEOUT = (3.0, 10.0)
PROBE_INTERVAL = 0.1
# stop(): the stack's own shutdown (SIGTERM to its main process) gets this long,
# then the whole group gets SIGTERM, then SIGKILL.
GRACEFUL_STOP_SECONDS = 30.0
GROUP_TERM_SECONDS = 10.0
# A start whose ports were taken meanwhile (free_port is a race) is tried again on new ones.
START_ATTEMPTS = 3
LOG_TAIL_LINES = 60
TERMINAL = ("completed", "failed", "cancelled")


class StackStartError(RuntimeError):
    """The local stack did not start; the message ends with the tail of its log."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------ process groups
def _group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group `pgid`."""
    if not os.path.isdir("/proc"):  # not Linux: ask the kernel whether the group exists at all
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        except PermissionError:
            pass
        return [pgid]
    members = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="utf-8", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue  # it ended meanwhile
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": state, ppid, pgrp, ...
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(name))
    return members


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _wait_group_gone(pgid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _group_members(pgid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _die_with_parent() -> list[str]:
    """A command prefix that gives the child SIGTERM when the process that started it dies (Linux).

    So a test run killed outright (SIGKILL, pytest-timeout's thread method) does
    not leave the stack behind: the stack's SIGTERM handler stops its workers.
    util-linux's setpriv sets it and execs in place, so the child's pid is the
    stack's; where setpriv is missing, nothing is added. (The signal comes when
    the *thread* that started the child ends: start stacks from a thread that
    outlives them, as tests and the benchmark do from the main thread.)
    """
    setpriv = shutil.which("setpriv") if sys.platform.startswith("linux") else None
    return [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []


# ----------------------------------------------------------------- the stack
@dataclass(eq=False)  # identity: kept in a set of running stacks
class StackProcess:
    api_url: str
    target_url: str
    emulator_url: str
    data_root: str
    process: subprocess.Popen
    log_path: str
    pgid: int = field(init=False)
    key: str | None = None  # sent by the helpers below; with AUTH=on, the stack's first admin key

    def __post_init__(self) -> None:
        self.pgid = self.process.pid  # start_new_session: the child leads its own group

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"} if self.key else {}

    def admin_key(self) -> str | None:
        """The admin key a stack with AUTH=on printed when it started."""
        found = re.search(r"admin key of tenant 'default': (\S+)", self.log())
        return found.group(1) if found else None

    def trigger(self, **body) -> dict:
        response = requests.post(f"{self.api_url}/api/v1/migrations/trigger", json=body, headers=self.headers,
                                 timeout=60)
        assert response.status_code == 200, response.text
        return response.json()

    def status(self, run_id: str, details: bool = False) -> dict:
        response = requests.get(f"{self.api_url}/api/v1/migrations/status/{run_id}",
                                params={"include_details": str(details).lower()}, headers=self.headers, timeout=60)
        assert response.status_code == 200, response.text
        return response.json()

    def cancel(self, run_id: str) -> requests.Response:
        return requests.post(f"{self.api_url}/api/v1/migrations/cancel/{run_id}", headers=self.headers, timeout=60)

    def wait_until_finished(self, run_id: str, timeout: float = 600, poll: float = 0.25) -> dict:
        """The run's status once it is terminal. `timeout` bounds a hang; it is not a speed requirement."""
        deadline = time.monotonic() + timeout
        status: dict = {}
        while time.monotonic() < deadline:
            status = self.status(run_id, details=True)
            if status["status"] in TERMINAL:
                return status
            time.sleep(poll)
        raise AssertionError(f"run {run_id} did not finish in {timeout}s: {status}")

    def target_count(self) -> dict:
        return requests.get(f"{self.target_url}/records/count", timeout=60).json()

    def log(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            return "\n".join(self.log().splitlines()[-lines:])
        except OSError as err:
            return f"(no log: {err})"

    def members(self) -> list[int]:
        """The stack's processes still alive: its main process, workers, resource tracker."""
        return _group_members(self.pgid)

    def ready(self) -> bool:
        """Whether the stack answers: its banner is printed (the API is bound) and the API answers (200, or
        401 from a stack with AUTH=on).

        A slow answer or a refused connection is "not yet", not a failure.
        """
        try:
            if READY_BANNER not in self.log():
                return False
        except OSError:
            return False
        try:
            response = requests.get(f"{self.api_url}/api/v1/migrations/running", timeout=PROBE_TIMEOUT)
        except requests.RequestException:  # ConnectionError, ReadTimeout, ConnectTimeout, ...
            return False
        return response.status_code in (200, 401)

    def wait_ready(self, timeout: float = STARTUP_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while True:
            code = self.process.poll()
            if code is not None:
                raise StackStartError(f"the local stack exited with code {code} before it answered; "
                                      f"the end of its log ({self.log_path}):\n{self.log_tail()}")
            if self.ready():
                if self.process.poll() is None:  # the answer was its own, not from a process that took its port
                    return
                continue
            if time.monotonic() > deadline:
                raise StackStartError(f"the local stack did not answer within {timeout:g}s; "
                                      f"the end of its log ({self.log_path}):\n{self.log_tail()}")
            time.sleep(PROBE_INTERVAL)

    def stop(self) -> None:
        """Stop every process of the stack, and wait until none is left.

        SIGTERM to the main process first (it stops its workers and servers),
        then SIGTERM to the whole group, then SIGKILL. Safe to call twice.
        """
        try:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(timeout=GRACEFUL_STOP_SECONDS)
                except subprocess.TimeoutExpired:
                    pass
            # Whatever is left of the group (the main process if it did not stop, workers whose
            # parent died before it could stop them, the resource tracker) goes now.
            if not _wait_group_gone(self.pgid, 5.0):
                _signal_group(self.pgid, signal.SIGTERM)
                if not _wait_group_gone(self.pgid, GROUP_TERM_SECONDS):
                    _signal_group(self.pgid, signal.SIGKILL)
                    _wait_group_gone(self.pgid, GROUP_TERM_SECONDS)
            try:
                self.process.wait(timeout=GROUP_TERM_SECONDS)
            except subprocess.TimeoutExpired:
                pass
        finally:
            _RUNNING.discard(self)


# Stacks started and not yet stopped: stopped at interpreter exit, whatever the caller forgot.
_RUNNING: set[StackProcess] = set()


@atexit.register
def _stop_leftovers() -> None:
    for stack in list(_RUNNING):
        stack.stop()


def _port_taken(stack: StackProcess) -> bool:
    return stack.process.poll() is not None and any(
        sign in stack.log_tail() for sign in ("is already in use", "Address already in use",
                                              f"[Errno {errno.EADDRINUSE}]"))


def start_stack(data_root: str, log_path: str, workers: int = 2, extra_env: dict | None = None,
                startup_seconds: float | None = None) -> StackProcess:
    """Start the local stack on free ports and wait until it answers.

    Waits up to `startup_seconds` (default STARTUP_SECONDS, or the environment's
    LOCAL_STACK_STARTUP_SECONDS). On any failure the stack's whole process group
    is stopped before the error is raised, so a failed start leaves nothing behind.
    """
    timeout = STARTUP_SECONDS if startup_seconds is None else startup_seconds
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(extra_env or {})}
    for attempt in range(1, START_ATTEMPTS + 1):
        api, emulator, target = free_port(), free_port(), free_port()
        with open(log_path, "w") as log:
            process = subprocess.Popen(
                [*_die_with_parent(), sys.executable, "-m", "local_stack", "--api-port", str(api),
                 "--emulator-port", str(emulator), "--target-port", str(target), "--workers", str(workers),
                 "--data-root", data_root],
                cwd=PROJECT_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        stack = StackProcess(f"http://127.0.0.1:{api}", f"http://127.0.0.1:{target}",
                             f"http://127.0.0.1:{emulator}", data_root, process, log_path)
        _RUNNING.add(stack)
        try:
            stack.wait_ready(timeout)
            stack.key = stack.admin_key()
            return stack
        except StackStartError:
            retry = attempt < START_ATTEMPTS and _port_taken(stack)
            stack.stop()
            if not retry:
                raise
        except BaseException:  # an exception or KeyboardInterrupt in the caller: nothing may be left behind
            stack.stop()
            raise
    raise AssertionError("unreachable")
