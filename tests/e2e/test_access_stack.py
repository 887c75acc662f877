"""`AUTH=on make run`: the local stack asking for keys, over real HTTP, with the admin command and the dashboard.

One stack with AUTH=on for the module (the session's other stack stays open,
as `make run` is by default, and the rest of the suite covers that mode).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from urllib.parse import urlparse

import pytest
import requests

from local_stack.child import start_stack
from local_stack.environment import PROJECT_DIR
from tests.e2e.test_dashboard import SAMPLE, SHOW_SECONDS, shown_row, state_text, wait_for

pytestmark = pytest.mark.e2e

API = "/api/v1/migrations"


@pytest.fixture(scope="module")
def keyed_stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("keyed-root")
    shutil.copytree(os.path.join(PROJECT_DIR, "data", "input"), root / "data" / "input")
    stack = start_stack(str(root), str(root / "local-stack.log"), workers=1, extra_env={"AUTH": "on"})
    try:
        yield stack
    finally:
        stack.stop()


def keys_command(stack, *args: str) -> subprocess.CompletedProcess:
    """`python -m tools.keys --local ...` against this stack's emulator, as an operator runs it."""
    env = {**os.environ, "EMULATOR_PORT": str(urlparse(stack.emulator_url).port)}
    return subprocess.run([sys.executable, "-m", "tools.keys", "--local", *args], cwd=PROJECT_DIR, env=env,
                          capture_output=True, text=True, timeout=120)


def issued_key(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_the_stack_starts_with_an_admin_key_and_refuses_callers_without_one(keyed_stack):
    assert keyed_stack.key and keyed_stack.key.startswith("rmk_")
    refused = requests.get(keyed_stack.api_url + API, timeout=60)
    assert refused.status_code == 401
    wrong = requests.get(keyed_stack.api_url + API, headers={"Authorization": "Bearer rmk_nope"}, timeout=60)
    assert wrong.status_code == 403
    assert requests.get(keyed_stack.api_url + API, headers=keyed_stack.headers, timeout=60).status_code == 200
    # the page itself holds no data: it is served, and asks for a key before it shows runs
    assert requests.get(keyed_stack.api_url + "/", timeout=60).status_code == 200


def test_the_admin_command_issues_a_key_that_works_and_revokes_it(keyed_stack):
    key = issued_key(keys_command(keyed_stack, "issue", "--tenant", "acme", "--role", "viewer",
                                  "--description", "auditors"))
    headers = {"Authorization": f"Bearer {key}"}
    assert requests.get(keyed_stack.api_url + API, headers=headers, timeout=60).json()["count"] == 0
    trigger = requests.post(keyed_stack.api_url + API + "/trigger", headers=headers, timeout=60,
                            json={"file_path": SAMPLE, "record_type": "disability", "output_mode": "file"})
    assert trigger.status_code == 403  # a viewer
    listed = keys_command(keyed_stack, "list", "--tenant", "acme")
    assert listed.returncode == 0 and key not in listed.stdout
    (entry,) = json.loads(listed.stdout)
    assert entry["description"] == "auditors" and entry["role"] == "viewer"
    assert keys_command(keyed_stack, "revoke", entry["key_id"]).returncode == 0
    assert requests.get(keyed_stack.api_url + API, headers=headers, timeout=60).status_code == 403


def test_the_admin_command_refuses_a_bad_role_or_tenant(keyed_stack):
    for args in (("--role", "root"), ("--role", "viewer", "--tenant", "Acme Corp")):
        result = keys_command(keyed_stack, "issue", *args)
        assert result.returncode != 0 and "rmk_" not in result.stdout


def test_the_dashboard_asks_for_a_key_and_then_shows_the_tenants_runs(keyed_stack, chromium):
    from selenium.webdriver.common.by import By
    run_id = keyed_stack.trigger(file_path=SAMPLE, record_type="disability", output_mode="file")["run_id"]
    chromium.get(keyed_stack.api_url + "/")
    wait_for(lambda: chromium.find_element(By.ID, "signin").is_displayed(), SHOW_SECONDS, "the key form")
    assert shown_row(chromium, run_id) is None
    chromium.find_element(By.ID, "key").send_keys(keyed_stack.key)
    chromium.find_element(By.CSS_SELECTOR, "#signin button").click()
    wait_for(lambda: shown_row(chromium, run_id), SHOW_SECONDS, lambda: f"the run's row ({state_text(chromium)})")
    assert not chromium.find_element(By.ID, "signin").is_displayed()
    keyed_stack.wait_until_finished(run_id)
