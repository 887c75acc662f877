"""The sandbox target API: a stand-in for the new platform's REST API.

POST /records/<endpoint> takes {"records": [...]} with a bearer token and an
Idempotency-Key; a key seen before is answered 200 again and not counted twice.
GET /records/count reports what arrived (calls, records, distinct records, per
endpoint); DELETE /records forgets everything. It keeps counts and hashes, not
the records themselves.
"""
from __future__ import annotations

import hashlib
import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class TargetState:
    def __init__(self, token: str):
        self.token = token
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.calls = 0
        self.duplicate_calls = 0
        self.records = 0
        self.keys: set[str] = set()
        self.distinct: set[bytes] = set()
        self.by_endpoint: dict[str, int] = {}

    def snapshot(self) -> dict:
        with self.lock:
            return {"calls": self.calls, "duplicate_calls": self.duplicate_calls, "records": self.records,
                    "distinct_records": len(self.distinct), "by_endpoint": dict(self.by_endpoint)}


class _Handler(BaseHTTPRequestHandler):
    server_version = "SandboxTarget/1"
    state: TargetState

    def log_message(self, *args) -> None:  # quiet: the stack logs what matters
        pass

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.split("?")[0] in ("/records/count", "/records/count/"):
            self._answer(200, self.state.snapshot())
        elif self.path == "/health":
            self._answer(200, {"status": "ok"})
        else:
            self._answer(404, {"detail": "not found"})

    def do_DELETE(self) -> None:
        if self.path.rstrip("/") == "/records":
            with self.state.lock:
                self.state.reset()
            self._answer(200, {"reset": True})
        else:
            self._answer(404, {"detail": "not found"})

    def do_POST(self) -> None:
        parts = self.path.split("?")[0].strip("/").split("/")
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if len(parts) != 2 or parts[0] != "records":
            return self._answer(404, {"detail": "POST /records/<endpoint>"})
        if self.headers.get("Authorization") != f"Bearer {self.state.token}":
            return self._answer(401, {"detail": "missing or wrong bearer token"})
        try:
            records = json.loads(raw)["records"]
            assert isinstance(records, list)
        except (ValueError, KeyError, AssertionError):
            return self._answer(400, {"detail": 'body must be {"records": [...]}'})
        key = self.headers.get("Idempotency-Key")
        with self.state.lock:
            self.state.calls += 1
            if key and key in self.state.keys:
                self.state.duplicate_calls += 1
                return self._answer(200, {"accepted": len(records), "duplicate": True})
            if key:
                self.state.keys.add(key)
            self.state.records += len(records)
            self.state.by_endpoint[parts[1]] = self.state.by_endpoint.get(parts[1], 0) + len(records)
            for record in records:
                digest = hashlib.blake2b(json.dumps(record, sort_keys=True).encode(), digest_size=16).digest()
                self.state.distinct.add(parts[1].encode() + digest)
        self._answer(HTTPStatus.OK, {"accepted": len(records), "duplicate": False})


def make_server(port: int, token: str, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    state = TargetState(token)
    handler = type("SandboxHandler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    server.state = state  # type: ignore[attr-defined]
    return server


if __name__ == "__main__":
    import argparse
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--token", default="your-api-token")
    args = parser.parse_args()
    make_server(args.port, args.token).serve_forever()
