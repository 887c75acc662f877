"""The sandbox target API: a stand-in for the new platform's REST API, with teeth.

POST /records/<endpoint> takes {"records": [...]} and answers 200, or 207 with
a result per record when some are rejected. Every call needs credentials: the
bearer token, the API key (X-API-Key), basic auth (user `migration`) with the
same secret, or an access token from POST /oauth/token (client credentials:
client id `migration-client`, the secret as client secret).

An Idempotency-Key seen before gets the first answer again and nothing is
counted twice; GET /records/count says what arrived (calls, records, distinct
records, per endpoint); DELETE /records forgets it all.

Faults, set with PUT /faults (JSON), GET /faults, or query parameters on a
single call (?latency_ms=50&error_rate=0.2): added latency, a rate limit that
answers 429 with Retry-After, random 429s and 5xx, dropped connections (before
or after the batch is taken, so retries must rely on idempotency keys), and
per-record rejections. It keeps counts and hashes, never the records, unless
a test asks it to (`{"keep_records": true}`): then GET /records/<endpoint>
gives back every record taken, in file order, exactly as it arrived
(`?run=<run id>` for one run's).

It also shows what the service says when a run ends (docs/notifications.md):
GET /events lists the run-end events the local stack's EventBridge routed to it
(local_stack/run_events.py), and POST /webhooks is a webhook receiver that checks
each call's signature with WEBHOOK_SECRET, as docs/notifications.md shows a
receiver should, and keeps it; GET /webhooks lists the calls, each with
`signature_valid`. `?fail_first=<n>` on the webhook URL answers 500 to the first
n calls of each event, for the retries to be seen.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import secrets
import threading
import time
from dataclasses import asdict, dataclass, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

OAUTH_CLIENT_ID = "migration-client"
BASIC_USER = "migration"
# The key webhook calls to POST /webhooks are checked with: a run names it as `notify.secret`.
WEBHOOK_SECRET = "local-webhook-secret-change-me"
WEBHOOK_TOLERANCE_SECONDS = 300


@dataclass
class Faults:
    latency_ms: float = 0.0          # added to every records call
    rate_limit_per_s: float = 0.0    # 0: none; else a token bucket, 429 + Retry-After past it
    retry_after_s: float = 1.0
    throttle_rate: float = 0.0       # share of calls answered 429 at random
    error_rate: float = 0.0          # share of calls answered 500/502/503 at random
    error_burst: int = 1             # a 5xx comes in bursts of this many calls
    drop_rate: float = 0.0           # share of calls whose connection is closed without an answer
    reject_rate: float = 0.0         # share of records rejected (207 with per-record results)
    token_ttl_s: float = 300.0       # lifetime of OAuth access tokens
    seed: int | None = None
    keep_records: bool = False       # keep the records taken, served by GET /records/<endpoint> (tests only)

    def update(self, values: dict) -> None:
        known = {f.name: f.type for f in fields(self)}
        for key, value in values.items():
            if key not in known:
                raise ValueError(f"unknown fault {key!r} (known: {', '.join(known)})")
            if key == "keep_records":
                if not isinstance(value, bool) and value not in ("true", "false"):
                    raise ValueError("keep_records must be true or false")
                self.keep_records = value in (True, "true")
                continue
            setattr(self, key, None if value is None else (int(value) if key in ("error_burst", "seed")
                                                             else float(value)))


class TargetState:
    def __init__(self, token: str):
        self.token = token
        self.lock = threading.Lock()
        self.faults = Faults()
        self.random = random.Random()
        self.access_tokens: dict[str, float] = {}
        self.events: list[dict] = []     # run-end events, as EventBridge delivered them (GET /events)
        self.webhooks: list[dict] = []   # webhook calls received (GET /webhooks)
        self.webhook_failures: dict[str, int] = {}  # event id -> 500s answered (fail_first)
        self.reset()

    def record_event(self, event: dict) -> None:
        with self.lock:
            self.events.append(event)

    def reset(self) -> None:
        self.calls = self.duplicate_calls = self.records = self.rejected = 0
        self.throttled = self.errors = self.dropped = self.unauthorized = 0
        self.answers: dict[str, tuple[int, dict]] = {}   # idempotency key -> first answer
        self.distinct: set[bytes] = set()
        self.by_endpoint: dict[str, int] = {}
        self.kept: dict[str, dict[str, dict]] = {}  # endpoint -> idempotency key:index -> record (keep_records)
        self.bucket = (0.0, time.monotonic())
        self.burst_left = 0
        self.in_flight = self.peak_in_flight = 0

    def snapshot(self) -> dict:
        with self.lock:
            return {"calls": self.calls, "duplicate_calls": self.duplicate_calls, "records": self.records,
                    "distinct_records": len(self.distinct), "rejected_records": self.rejected,
                    "throttled": self.throttled, "errors": self.errors, "dropped": self.dropped,
                    "unauthorized": self.unauthorized, "peak_in_flight": self.peak_in_flight,
                    "by_endpoint": dict(self.by_endpoint)}

    def authorized(self, headers) -> bool:
        secret = self.token
        auth = headers.get("Authorization", "")
        if headers.get("X-API-Key") == secret or auth == f"Bearer {secret}":
            return True
        if auth == "Basic " + base64.b64encode(f"{BASIC_USER}:{secret}".encode()).decode():
            return True
        if auth.startswith("Bearer "):
            with self.lock:
                expires = self.access_tokens.get(auth[len("Bearer "):])
            return expires is not None and expires > time.monotonic()
        return False

    def rate_limited(self, faults: Faults) -> bool:
        """A token bucket of `rate_limit_per_s`, holding one second of calls."""
        if not faults.rate_limit_per_s:
            return False
        level, at = self.bucket
        now = time.monotonic()
        level = min(faults.rate_limit_per_s, level + (now - at) * faults.rate_limit_per_s)
        if level < 1:
            self.bucket = (level, now)
            return True
        self.bucket = (level - 1, now)
        return False


class _Drop(Exception):
    """Close the connection without answering."""


class _Handler(BaseHTTPRequestHandler):
    server_version = "SandboxTarget/2"
    protocol_version = "HTTP/1.1"  # keep-alive, as real APIs: the client reuses its connections
    # One write per answer, sent at once: headers and body written apart meet
    # Nagle's algorithm and a delayed ACK, adding 40 ms to every call.
    wbufsize = -1
    disable_nagle_algorithm = True
    state: TargetState

    def log_message(self, *args) -> None:  # quiet: the stack logs what matters
        pass

    def _answer(self, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self) -> None:
        path = urlsplit(self.path).path.rstrip("/")
        if path == "/records/count":
            self._answer(200, self.state.snapshot())
        elif path == "/faults":
            self._answer(200, asdict(self.state.faults))
        elif path.startswith("/records/"):
            run = parse_qs(urlsplit(self.path).query).get("run", [None])[0]
            with self.state.lock:
                kept = self.state.kept.get(path[len("/records/"):], {})
                records = [kept[key] for key in sorted(kept, key=_batch_order)
                           if run is None or key.startswith(f"{run}:")]
            self._answer(200, {"records": records})
        elif path == "/health":
            self._answer(200, {"status": "ok"})
        elif path in ("/events", "/webhooks"):
            with self.state.lock:
                kept = list(self.state.events if path == "/events" else self.state.webhooks)
            self._answer(200, {path[1:]: kept})
        else:
            self._answer(404, {"detail": "not found"})

    def do_PUT(self) -> None:
        if urlsplit(self.path).path.rstrip("/") != "/faults":
            return self._answer(404, {"detail": "not found"})
        try:
            with self.state.lock:
                self.state.faults = Faults()
                self.state.faults.update(json.loads(self._body() or b"{}"))
                if self.state.faults.seed is not None:
                    self.state.random.seed(self.state.faults.seed)
            self._answer(200, asdict(self.state.faults))
        except (ValueError, TypeError) as err:
            self._answer(400, {"detail": str(err)})

    def do_DELETE(self) -> None:
        if urlsplit(self.path).path.rstrip("/") == "/records":
            with self.state.lock:
                self.state.reset()
            self._answer(200, {"reset": True})
        else:
            self._answer(404, {"detail": "not found"})

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        raw = self._body()
        if parts == ["oauth", "token"]:
            return self._token(raw)
        if parts == ["webhooks"]:
            return self._webhook(raw, parse_qs(url.query))
        if len(parts) != 2 or parts[0] != "records":
            return self._answer(404, {"detail": "POST /records/<endpoint>"})
        faults = Faults(**asdict(self.state.faults))
        try:
            faults.update({k: v[0] for k, v in parse_qs(url.query).items()})
        except (ValueError, TypeError) as err:
            return self._answer(400, {"detail": str(err)})
        with self.state.lock:
            self.state.in_flight += 1
            self.state.peak_in_flight = max(self.state.peak_in_flight, self.state.in_flight)
        try:
            self._records(parts[1], raw, faults)
        except _Drop:
            self.close_connection = True
            self.connection.close()
        finally:
            with self.state.lock:
                self.state.in_flight -= 1

    def _token(self, raw: bytes) -> None:
        form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        client = (form.get("client_id"), form.get("client_secret"))
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            client = tuple(base64.b64decode(auth[6:]).decode().split(":", 1))
        if form.get("grant_type") != "client_credentials" or client != (OAUTH_CLIENT_ID, self.state.token):
            return self._answer(401, {"error": "invalid_client"})
        token = secrets.token_urlsafe(24)
        ttl = self.state.faults.token_ttl_s
        with self.state.lock:
            self.state.access_tokens[token] = time.monotonic() + ttl
        self._answer(200, {"access_token": token, "token_type": "Bearer", "expires_in": ttl})

    def _webhook(self, raw: bytes, query: dict) -> None:
        """A webhook receiver, as docs/notifications.md says to write one: check, keep, answer 2xx."""
        timestamp = self.headers.get("X-Timestamp", "")
        valid = verify_signature(WEBHOOK_SECRET, timestamp, raw, self.headers.get("X-Signature", ""))
        event_id = self.headers.get("X-Event-Id", "")
        try:
            event = json.loads(raw)
        except ValueError:
            event = None
        with self.state.lock:
            failed = self.state.webhook_failures.get(event_id, 0)
            if failed < int(query.get("fail_first", ["0"])[0]):
                self.state.webhook_failures[event_id] = failed + 1
                status = 500
            else:
                status = 204 if valid else 401
            self.state.webhooks.append({"event_id": event_id, "timestamp": timestamp, "signature_valid": valid,
                                        "answered": status, "event": event})
        if status == 204:
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._answer(status, {"detail": "failing on purpose (fail_first)" if status == 500
                                  else "signature does not match"})

    def _records(self, endpoint: str, raw: bytes, faults: Faults) -> None:
        state = self.state
        if faults.latency_ms:
            time.sleep(faults.latency_ms / 1000)
        if not state.authorized(self.headers):
            with state.lock:
                state.calls += 1
                state.unauthorized += 1
            return self._answer(401, {"detail": "missing or wrong credentials"})
        try:
            records = json.loads(raw)["records"]
            assert isinstance(records, list)
        except (ValueError, KeyError, AssertionError):
            return self._answer(400, {"detail": 'body must be {"records": [...]}'})
        key = self.headers.get("Idempotency-Key")
        with state.lock:
            state.calls += 1
            draw = state.random.random
            if key and key in state.answers:
                state.duplicate_calls += 1
                status, body = state.answers[key]
                replay = True
            else:
                replay = False
                if state.rate_limited(faults) or draw() < faults.throttle_rate:
                    state.throttled += 1
                    return self._answer(429, {"detail": "slow down"},
                                        {"Retry-After": f"{faults.retry_after_s:g}"})
                if state.burst_left or draw() < faults.error_rate:
                    state.burst_left = (state.burst_left or faults.error_burst) - 1
                    state.errors += 1
                    return self._answer(state.random.choice([500, 502, 503]), {"detail": "target unavailable"})
                drop = draw() < faults.drop_rate
                if drop and draw() < 0.5:
                    state.dropped += 1
                    raise _Drop  # dropped before the batch was taken
                status, body = self._take(endpoint, records, faults, key)
                if drop:
                    state.dropped += 1
                    raise _Drop  # taken, but the answer is lost: the retry must not count twice
        self._answer(status, {**body, "duplicate": replay})

    def _take(self, endpoint: str, records: list, faults: Faults, key: str | None) -> tuple[int, dict]:
        """Count the batch (the lock is held) and remember the answer for its key."""
        state = self.state
        results = []
        for index, record in enumerate(records):
            if faults.reject_rate and state.random.random() < faults.reject_rate:
                results.append({"index": index, "status": "rejected", "reason": "target refused the record"})
                state.rejected += 1
                continue
            results.append({"index": index, "status": "accepted"})
            if faults.keep_records:
                state.kept.setdefault(endpoint, {})[f"{key}:{index}"] = record
            digest = hashlib.blake2b(json.dumps(record, sort_keys=True).encode(), digest_size=16).digest()
            state.distinct.add(endpoint.encode() + digest)
            state.records += 1
            state.by_endpoint[endpoint] = state.by_endpoint.get(endpoint, 0) + 1
        accepted = sum(r["status"] == "accepted" for r in results)
        answer = (200, {"accepted": accepted}) if accepted == len(records) else \
            (207, {"accepted": accepted, "results": results})
        if key:
            state.answers[key] = answer
        return answer


def verify_signature(secret: str, timestamp: str, body: bytes, signature: str,
                     tolerance_seconds: int = WEBHOOK_TOLERANCE_SECONDS) -> bool:
    """A webhook call is the service's, its body the one signed, and it is recent: docs/notifications.md's check."""
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > tolerance_seconds:
        return False  # no time, or too old: a replay
    expected = "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def _batch_order(key: str) -> tuple:
    """Kept records in file order: keys are run:chunk:batch:index."""
    run, *numbers = key.rsplit(":", 3)
    return (run, *(int(n) if n.isdigit() else 0 for n in numbers))


class _RoomyServer(ThreadingHTTPServer):
    request_queue_size = 128  # workers open many connections at once; the default queue is 5


def make_server(port: int, token: str, host: str = "127.0.0.1", faults: dict | None = None) -> ThreadingHTTPServer:
    state = TargetState(token)
    if faults:
        state.faults.update(faults)
    handler = type("SandboxHandler", (_Handler,), {"state": state})
    server = _RoomyServer((host, port), handler)
    server.daemon_threads = True
    server.state = state  # type: ignore[attr-defined]
    return server


if __name__ == "__main__":
    import argparse
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--token", default="your-api-token")
    parser.add_argument("--faults", default="{}", help='JSON, e.g. {"latency_ms": 20, "error_rate": 0.1}')
    args = parser.parse_args()
    make_server(args.port, args.token, faults=json.loads(args.faults)).serve_forever()
