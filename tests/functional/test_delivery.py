"""API delivery against the sandbox target over real HTTP on loopback, faults included."""
from __future__ import annotations

import json
import threading
import time

import pytest
import requests

from chalicelib.credentials import ApiKey, Authenticator, Basic, BearerToken, OAuth2ClientCredentials
from chalicelib.delivery import ApiDelivery, DeliveryFailed
from local_stack.sandbox_target import BASIC_USER, OAUTH_CLIENT_ID, make_server
from tests.functional.conftest import SERVER_POLL_SECONDS

SECRET = "sandbox-secret"


@pytest.fixture
def target():
    server = make_server(0, SECRET)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": SERVER_POLL_SECONDS}, daemon=True).start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()


def set_faults(target, **faults) -> None:
    assert requests.put(f"{target.url}/faults", json={"seed": 7, **faults}, timeout=5).status_code == 200


def documents(n: int) -> tuple[list[str], list[int]]:
    return [json.dumps({"claim_number": f"DC{i:08d}", "source_row": i}) for i in range(1, n + 1)], \
        list(range(1, n + 1))


def deliver(target, n: int, batch_size: int = 10, credentials=None, max_in_flight: int = 4,
            budget: float = 30.0, should_stop=lambda: False, run_id="run", chunk=1, sleep=time.sleep):
    session = requests.Session()
    credentials = credentials or BearerToken(token=SECRET)
    delivery = ApiDelivery(session, f"{target.url}/records/claims", Authenticator(credentials, session),
                           batch_size, max_in_flight=max_in_flight, retry_budget_seconds=budget, sleep=sleep)
    docs, rows = documents(n)
    return delivery.deliver(run_id, chunk, docs, rows, should_stop)


def test_batches_of_batch_size_with_one_idempotency_key_each(target):
    outcome = deliver(target, 95, batch_size=10)
    counts = target.state.snapshot()
    assert outcome.delivered == 95 and outcome.rejected == [] and outcome.calls == 10
    assert counts["calls"] == 10 and counts["distinct_records"] == 95
    assert sorted(target.state.answers) == sorted(f"run:1:{b}" for b in range(10))


def test_redelivered_chunk_is_not_counted_twice_by_the_target(target):
    first = deliver(target, 50)
    again = deliver(target, 50)  # the same run and chunk: the same keys
    counts = target.state.snapshot()
    assert first.delivered == again.delivered == 50
    assert counts["records"] == 50 and counts["duplicate_calls"] == 5


def test_per_record_rejections_are_errors_with_the_target_reason(target):
    set_faults(target, reject_rate=0.2)
    outcome = deliver(target, 200, batch_size=25)
    counts = target.state.snapshot()
    assert outcome.delivered == counts["distinct_records"] == 200 - counts["rejected_records"]
    assert len(outcome.rejected) == counts["rejected_records"] > 0
    assert all(reason == "target rejected the record: target refused the record" for _, reason in outcome.rejected)
    assert [row for row, _ in outcome.rejected] == sorted(row for row, _ in outcome.rejected)


def test_a_4xx_refuses_the_batch_and_is_not_retried(target):
    outcome = deliver(target, 30, credentials=BearerToken(token="wrong"))
    assert outcome.delivered == 0 and len(outcome.rejected) == 30
    assert outcome.rejected[0] == (1, "target answered 401: missing or wrong credentials")
    assert outcome.calls == 3 and outcome.retries == 0


def test_faults_are_retried_until_every_record_lands_exactly_once(target):
    # GIVEN a target that throttles, fails, and drops connections (sometimes after taking the batch)
    set_faults(target, throttle_rate=0.1, error_rate=0.1, drop_rate=0.05, retry_after_s=0.05)
    # WHEN 1,000 records are delivered in batches of 10
    outcome = deliver(target, 1000, batch_size=10, max_in_flight=8)
    counts = target.state.snapshot()
    # THEN every record arrived once, after retries
    assert outcome.delivered == 1000 and outcome.rejected == []
    assert counts["distinct_records"] == counts["records"] == 1000
    assert counts["throttled"] > 0 and counts["errors"] > 0 and counts["dropped"] > 0
    assert outcome.retries >= counts["throttled"] + counts["errors"] + counts["dropped"] - counts["duplicate_calls"]


def test_retry_after_is_honoured_and_429_halves_the_calls_in_flight(target):
    set_faults(target, rate_limit_per_s=20, retry_after_s=0.3)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(seconds)

    outcome = deliver(target, 400, batch_size=5, max_in_flight=8, sleep=sleep)
    assert outcome.delivered == 400 and outcome.throttled > 0
    assert 0.3 in slept  # the target's Retry-After, not our own backoff
    assert target.state.snapshot()["peak_in_flight"] <= 8


def test_the_retry_budget_bounds_a_chunk_then_it_fails(target):
    # GIVEN a target that always fails, and a budget of one second of waiting to retry
    set_faults(target, error_rate=1.0)
    slept: list[float] = []
    with pytest.raises(DeliveryFailed, match="retry budget ran out"):
        deliver(target, 20, budget=1.0, sleep=slept.append)
    # THEN the chunk gave up having waited no more than its budget, whatever the machine's speed
    assert slept and sum(slept) <= 1.0


def test_calls_run_concurrently_up_to_the_bound(target):
    # The target sees eight calls at once, and never more; the speed it brings is measured by make bench.
    set_faults(target, latency_ms=50)
    outcome = deliver(target, 400, batch_size=10, max_in_flight=8)
    assert outcome.delivered == 400
    assert target.state.snapshot()["peak_in_flight"] == 8


def test_cancel_stops_between_calls(target):
    # GIVEN a cancel that lands once four batches have been sent
    def cancelled() -> bool:
        return target.state.snapshot()["calls"] >= 4
    # WHEN ten batches are delivered one at a time
    outcome = deliver(target, 100, batch_size=10, max_in_flight=1, should_stop=cancelled)
    # THEN no batch starts after it, and what went out is counted
    assert outcome.stopped and outcome.delivered == 40 and target.state.snapshot()["records"] == 40


@pytest.mark.parametrize("credentials", [
    ApiKey(header="X-API-Key", key=SECRET),
    Basic(username=BASIC_USER, password=SECRET),
    BearerToken(token=SECRET),
    {"type": "api_key", "key": SECRET},  # as kept in Secrets Manager: the Authenticator reads the stored form
])
def test_credential_types(target, credentials):
    assert deliver(target, 10, credentials=credentials).delivered == 10


def oauth(target, **extra) -> OAuth2ClientCredentials:
    return OAuth2ClientCredentials.model_validate({
        "token_url": f"{target.url}/oauth/token", "client_id": OAUTH_CLIENT_ID, "client_secret": SECRET,
        "scope": "records:write", **extra})


def test_oauth2_token_is_fetched_once_and_cached(target):
    session = requests.Session()
    auth = Authenticator(oauth(target), session)
    first = auth.headers()
    assert first == auth.headers()
    assert first["Authorization"].startswith("Bearer ") and len(target.state.access_tokens) == 1
    assert deliver(target, 20, credentials=oauth(target)).delivered == 20


def test_oauth2_token_expired_at_the_target_is_fetched_again(target):
    # GIVEN tokens that live half a second, and a client clock that never moves (so only a 401 tells)
    set_faults(target, token_ttl_s=0.5)
    session = requests.Session()
    frozen = Authenticator(oauth(target, scope="frozen"), session, clock=lambda: 0.0)
    delivery = ApiDelivery(session, f"{target.url}/records/claims", frozen, 10, max_in_flight=1)
    docs, rows = documents(20)
    assert delivery.deliver("run", 1, docs[:10], rows[:10], lambda: False).delivered == 10
    time.sleep(0.6)
    # WHEN the next call meets a 401
    outcome = delivery.deliver("run", 2, docs[10:], rows[10:], lambda: False)
    # THEN a new token was fetched and the batch went through
    assert outcome.delivered == 10 and len(target.state.access_tokens) == 2


def test_wrong_oauth_client_secret_fails_the_chunk_for_a_retry(target):
    from chalicelib.credentials import TokenUnavailable
    with pytest.raises(TokenUnavailable, match="answered 401"):
        deliver(target, 10, credentials=oauth(target, client_secret="nope", scope="other"))


@pytest.mark.timeout(60)
def test_many_retries_with_few_places_in_flight_never_deadlock(target):
    # GIVEN two places in flight and a target failing half the calls
    set_faults(target, error_rate=0.5, throttle_rate=0.2, retry_after_s=0.01)
    # WHEN a hundred batches are delivered
    outcome = deliver(target, 500, batch_size=5, max_in_flight=2, budget=1e9,
                      sleep=lambda s: time.sleep(min(s, 0.01)))
    # THEN they all land (a batch waiting to retry keeps its place, so no queued batch starves the pool)
    assert outcome.delivered == 500 and target.state.snapshot()["distinct_records"] == 500
