"""Uploads that start migrations: S3 notifications for `incoming/<record_type>/...`
(the default tenant's) and `incoming/<tenant>/<record_type>/...` (a named tenant's run).

S3 reaches Lambda through the uploads queue (DESIGN 7). The run id is derived
from the object and its event sequencer, so a redelivered notification finds
its run already there instead of starting a second one.
"""
from __future__ import annotations

import json
import logging
import re
import uuid
from urllib.parse import unquote_plus

from chalicelib.access import DEFAULT_TENANT, TENANT_PATTERN, Caller, Role
from chalicelib.errors import InvalidRequest
from chalicelib.observability import log
from chalicelib.storage import UPLOAD_PREFIX

RUN_NAMESPACE = uuid.UUID("0f8a5d4e-6a43-4f53-9c2e-51b1f1f3c0a7")


def upload_requests(body: str, record_types: set[str], output_mode: str = "api") -> list[tuple[str, Caller, dict]]:
    """The (run id, on whose behalf, trigger body) an S3 notification asks for."""
    event = json.loads(body)
    if event.get("Event") == "s3:TestEvent":
        return []  # S3 sends this once when the notification is set up
    wanted = []
    for record in event.get("Records", []):
        if not record.get("eventName", "").startswith("ObjectCreated"):
            continue
        bucket = record["s3"]["bucket"]["name"]
        key = unquote_plus(record["s3"]["object"]["key"])
        parts = key.split("/")
        if len(parts) < 3 or not key.startswith(UPLOAD_PREFIX) or not parts[-1]:
            log("upload ignored: not under incoming/<record_type>/", logging.WARNING, key=key)
            continue
        # A tenant is never named like a record type, so the second part says which it is.
        tenant, record_type = (DEFAULT_TENANT, parts[1]) if parts[1] in record_types or len(parts) < 4 \
            else (parts[1], parts[2])
        if not re.fullmatch(TENANT_PATTERN, tenant):
            log("upload ignored: not a tenant's folder", logging.WARNING, key=key)
            continue
        sequencer = record["s3"]["object"].get("sequencer") or record["s3"]["object"].get("eTag", "")
        run_id = str(uuid.uuid5(RUN_NAMESPACE, f"{bucket}/{key}/{sequencer}"))
        wanted.append((run_id, Caller("upload", tenant, Role.OPERATOR), {
            "file_path": f"s3://{bucket}/{key}",
            "record_type": record_type,
            "output_mode": output_mode,
            "metadata": {"source": "upload", "object_key": key},
        }))
    return wanted


def handle_upload_message(components, body: str) -> None:
    for run_id, caller, request in upload_requests(body, set(components.specs), components.settings.upload_output_mode):
        try:
            answer = components.service.trigger(caller, request, run_id=run_id)
            log("upload started a migration", run_id=answer["run_id"], record_type=request["record_type"])
        except InvalidRequest as err:
            # Nobody is waiting on this request to read a 4xx: say it in the log.
            log("upload could not start a migration", logging.WARNING, key=request["metadata"]["object_key"],
                reason=str(err.detail))
