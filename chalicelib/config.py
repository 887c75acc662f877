"""Stage settings: every environment setting the service reads, with its default, in one place.

Chalice sets a stage's environment variables on the Lambda function; the local
stack sets the same variables from `.chalice/config.json`. The handlers read
them on first use (bootstrap), so tests can set the environment before the
first request; app.py reads the event sources' queue names and concurrency at
import, through the same `Settings.from_environ`, so both agree on defaults.
"""
from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    stage: str
    runs_table_name: str
    work_queue_name: str
    work_dlq_name: str
    uploads_queue_name: str
    worker_max_concurrency: int
    upload_output_mode: str
    log_level: str
    data_root: str
    data_bucket: str
    target_api_url: str
    target_credentials_secret: str
    run_secrets_prefix: str
    chunk_records: int
    chunk_bytes: int
    stalled_after_seconds: int
    replan_after_seconds: int
    marker_ttl_seconds: int
    max_calls_in_flight: int
    retry_budget_seconds: float
    # who may call (docs/security.md)
    auth: str
    access_table_name: str
    iam_callers: str
    cors_allow_origin: str
    rate_limit_per_minute: int
    max_active_runs_per_tenant: int
    # where user-supplied URLs (an OAuth2 token_url) may point
    outbound_allowlist: tuple[str, ...]
    outbound_allow_private: bool
    # A delimited file of at least plan_fanout_bytes is planned by several workers, a range of
    # plan_range_bytes each; every plan cuts a chunk on that grid (chalicelib.inputs.ranges).
    plan_range_bytes: int = 256 * 1024 * 1024
    plan_fanout_bytes: int = 512 * 1024 * 1024

    @classmethod
    def from_environ(cls, environ: os._Environ | dict | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        # Without STAGE (a test, a tool importing app.py) the default is the dev stage; `chalice package`
        # imports app.py with the stage's variables set, as Lambda runs it.
        stage = env.get("STAGE", "dev")
        return cls(
            stage=stage,
            runs_table_name=env.get("RUNS_TABLE_NAME", f"records-migration-runs-{stage}"),
            work_queue_name=env.get("WORK_QUEUE_NAME", f"records-migration-work-{stage}"),
            work_dlq_name=env.get("WORK_DLQ_NAME", f"records-migration-work-dlq-{stage}"),
            uploads_queue_name=env.get("UPLOADS_QUEUE_NAME", f"records-migration-uploads-{stage}"),
            # The most worker functions at once (the work queue's event source), which with
            # max_calls_in_flight bounds what the target sees.
            worker_max_concurrency=int(env.get("WORKER_MAX_CONCURRENCY", "10")),
            # How a run started by an upload delivers.
            upload_output_mode=env.get("UPLOAD_OUTPUT_MODE", "api"),
            log_level=env.get("LOG_LEVEL", "INFO"),
            data_root=env.get("DATA_ROOT", "."),
            data_bucket=env.get("DATA_BUCKET", ""),
            target_api_url=env.get("TARGET_API_URL", "").rstrip("/"),
            target_credentials_secret=env.get("TARGET_CREDENTIALS_SECRET", ""),
            run_secrets_prefix=env.get("RUN_SECRETS_PREFIX", f"records-migration/{stage}/runs/"),
            chunk_records=int(env.get("CHUNK_RECORDS", "25000")),
            # A chunk also ends at this many bytes, so wide records keep a
            # worker's memory bounded whatever the record count.
            chunk_bytes=int(env.get("CHUNK_BYTES", str(16 * 1024 * 1024))),
            stalled_after_seconds=int(env.get("STALLED_AFTER_SECONDS", "1800")),
            # A run not planned after this long has probably lost its plan message.
            replan_after_seconds=int(env.get("REPLAN_AFTER_SECONDS", "300")),
            marker_ttl_seconds=int(env.get("MARKER_TTL_SECONDS", str(30 * 24 * 3600))),
            # Calls to the target in flight per worker; the stage caps the number of
            # workers (the event source's maximum concurrency), so the target sees
            # at most their product.
            max_calls_in_flight=int(env.get("MAX_CALLS_IN_FLIGHT", "8")),
            # Seconds a chunk may spend waiting to retry before it fails and SQS
            # retries it; well inside the worker's 900 s timeout.
            retry_budget_seconds=float(env.get("RETRY_BUDGET_SECONDS", "120")),
            # `off` (open: the local stack's default), `keys` (API keys, the default of every
            # deployed stage; `on` means the same) or `iam` (SigV4, for machine callers).
            auth=_auth_mode(env.get("AUTH", "off" if stage == "local" else "keys")),
            access_table_name=env.get("ACCESS_TABLE_NAME", f"records-migration-access-{stage}"),
            # With AUTH=iam: a JSON object from caller ARN to {"tenant": ..., "role": ...}.
            iam_callers=env.get("IAM_CALLERS", "{}"),
            # One origin that browsers may call the API from; empty: CORS closed.
            cors_allow_origin=env.get("CORS_ALLOW_ORIGIN", ""),
            rate_limit_per_minute=int(env.get("RATE_LIMIT_PER_MINUTE", "600")),
            max_active_runs_per_tenant=int(env.get("MAX_ACTIVE_RUNS_PER_TENANT", "20")),
            # URL prefixes (scheme://host[:port][/path]) a user-supplied URL must start with,
            # comma-separated; the stage's target is always on the list.
            outbound_allowlist=tuple(u.strip() for u in env.get("OUTBOUND_ALLOWLIST", "").split(",") if u.strip()),
            # Loopback and private addresses for user-supplied URLs: refused unless the stage allows them
            # (the local stage, for its sandbox). Cloud metadata addresses are refused always.
            outbound_allow_private=env.get("OUTBOUND_ALLOW_PRIVATE", "false").lower() == "true",
            # Planning fans out above this size, in ranges of PLAN_RANGE_BYTES (docs/planning.md).
            plan_range_bytes=max(64, int(env.get("PLAN_RANGE_BYTES", str(256 * 1024 * 1024)))),
            plan_fanout_bytes=int(env.get("PLAN_FANOUT_BYTES", str(512 * 1024 * 1024))),
        )


AUTH_MODES = {"off": "off", "keys": "keys", "on": "keys", "iam": "iam"}


def _auth_mode(value: str) -> str:
    mode = AUTH_MODES.get(value.strip().lower())
    if mode is None:
        raise ValueError(f"AUTH must be one of {', '.join(AUTH_MODES)}, not {value!r}")
    return mode
