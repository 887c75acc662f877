"""The API's cold start: what importing the app (and answering a request that reads no file) loads.

Every function shares app.py, so what only workers need must be imported when a
worker is wired, not with the module: pandas and numpy (the readers and the
transform engine), requests (delivery) and boto3 (until a client is made).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

from local_stack.environment import PROJECT_DIR

HEAVY = ("numpy", "pandas", "requests", "boto3")
PROBE = """
import json, sys
import app
loaded = {"import": sorted(m for m in HEAVY if m in sys.modules)}
app.record_types()
app.record_type_layout("claim")
loaded["request"] = sorted(m for m in HEAVY if m in sys.modules)
print(json.dumps(loaded))
"""


def test_the_api_imports_neither_pandas_nor_numpy():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "STAGE"))}
    done = subprocess.run([sys.executable, "-c", f"HEAVY = {HEAVY!r}\n{PROBE}"], cwd=PROJECT_DIR, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    # importing the app loads none of them; answering a request wires the service, whose AWS clients
    # need boto3, and no worker library
    assert loaded["import"] == []
    assert set(loaded["request"]) <= {"boto3"}


def test_a_worker_is_wired_with_specs_whose_values_are_checked():
    from chalicelib import bootstrap
    specs = bootstrap.checked_record_specs()
    assert set(specs) == set(bootstrap.record_specs())
