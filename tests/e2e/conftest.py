"""The local stack, started once per session as a real process on free ports.

Tests drive it over real HTTP: the API, the sandbox target and the emulator.
Its data root is a temporary folder holding a copy of data/input, so outputs
never land in the working tree.

No test here may depend on how fast the machine is: deadlines only bound a
hang (they are generous, so a loaded two-core CI machine passes), and speed is
measured by `make bench`, not asserted by tests.
"""
from __future__ import annotations

import os
import shutil

import pytest

from local_stack.child import StackProcess, start_stack
from local_stack.environment import PROJECT_DIR
from tests.e2e.browser import headless_chromium, missing_browser


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory) -> StackProcess:
    root = tmp_path_factory.mktemp("data-root")
    shutil.copytree(os.path.join(PROJECT_DIR, "data", "input"), root / "data" / "input")
    # start_stack waits as long as a loaded machine needs, and stops what it started if the start fails.
    stack = start_stack(str(root), str(root / "local-stack.log"))
    try:
        yield stack
    finally:  # after the last test, whatever its outcome: every process of the stack, workers included
        stack.stop()


@pytest.fixture
def chromium(tmp_path):
    """A real headless Chromium, quit whatever the test's outcome."""
    problem = missing_browser()
    if problem:
        pytest.fail(problem, pytrace=False)
    driver = headless_chromium(str(tmp_path / "chromium-profile"), page_load_timeout=300)
    yield driver
    driver.quit()
