"""A run in api mode while the sandbox target throttles, fails and drops connections."""
from __future__ import annotations

import json

import pytest
import requests

from datagen.legacy_files import write_legacy_file
from local_stack.child import start_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def faulty_stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults-root")
    (root / "data" / "input").mkdir(parents=True)
    write_legacy_file("claim", str(root / "data" / "input" / "claims.csv"), 20_000, seed=21)
    faults = {"latency_ms": 5, "throttle_rate": 0.05, "error_rate": 0.05, "drop_rate": 0.02,
              "reject_rate": 0.01, "retry_after_s": 0.1, "seed": 5}
    stack = start_stack(str(root), str(root / "stack.log"), workers=2,
                        extra_env={"TARGET_FAULTS": json.dumps(faults), "CHUNK_RECORDS": "2500"})
    yield stack
    stack.stop()


@pytest.mark.parametrize("authentication", ["bearer_token", "oauth2_client_credentials"])
def test_every_record_lands_exactly_once_despite_faults(faulty_stack, authentication):
    # GIVEN a target that answers 429 and 5xx to one call in ten, drops connections
    # (sometimes after taking the batch) and rejects one record in a hundred
    requests.delete(f"{faulty_stack.target_url}/records", timeout=60)  # each run counts from zero
    before = faulty_stack.target_count()
    auth = {"type": "bearer_token", "token": "your-api-token"} if authentication == "bearer_token" else {
        "type": "oauth2_client_credentials", "token_url": f"{faulty_stack.target_url}/oauth/token",
        "client_id": "migration-client", "client_secret": "your-api-token"}
    # WHEN 20,000 claims are migrated in batches of 50
    answer = faulty_stack.trigger(file_path="data/input/claims.csv", record_type="claim", output_mode="api",
                                  batch_size=50, authentication=auth, max_error_rate=0.2)
    status = faulty_stack.wait_until_finished(answer["run_id"], timeout=1500)  # bounds a hang only
    after = faulty_stack.target_count()
    # THEN the run completed and every record is either at the target once or reported
    progress = status["progress"]
    assert status["status"] == "completed", status
    delivered = after["distinct_records"] - before["distinct_records"]
    assert delivered == after["records"] - before["records"] == progress["success_count"]
    assert progress["success_count"] + progress["error_count"] == progress["total_records"] == 20_000
    assert after["throttled"] > before["throttled"] and after["dropped"] > before["dropped"]
    errors = requests.get(f"{faulty_stack.api_url}/api/v1/migrations/{answer['run_id']}/errors",
                          params={"limit": 1000}, timeout=60).json()
    assert errors["by_rule"].get("target_rejected", 0) == after["rejected_records"] - before["rejected_records"]
