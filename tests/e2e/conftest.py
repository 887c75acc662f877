"""The local stack, started once per session as a real process on free ports.

Tests drive it over real HTTP: the API, the sandbox target and the emulator.
Its data root is a temporary folder holding a copy of data/input, so outputs
never land in the working tree.
"""
from __future__ import annotations

import os
import shutil

import pytest

from local_stack.child import StackProcess, start_stack
from local_stack.environment import PROJECT_DIR


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory) -> StackProcess:
    root = tmp_path_factory.mktemp("data-root")
    shutil.copytree(os.path.join(PROJECT_DIR, "data", "input"), root / "data" / "input")
    stack = start_stack(str(root), str(root / "local-stack.log"))
    yield stack
    stack.stop()
