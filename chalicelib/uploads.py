"""Uploads that start migrations: S3 notifications for `incoming/<record_type>/...`.

S3 reaches Lambda through the uploads queue (DESIGN 7). The run id is derived
from the object and its event sequencer, so a redelivered notification finds
its run already there instead of starting a second one.
"""
from __future__ import annotations

import json
import logging
import uuid
from urllib.parse import unquote_plus

from chalicelib.errors import InvalidRequest
from chalicelib.observability import log
from chalicelib.storage import UPLOAD_PREFIX

RUN_NAMESPACE = uuid.UUID("0f8a5d4e-6a43-4f53-9c2e-51b1f1f3c0a7")


def upload_requests(body: str, output_mode: str = "api") -> list[tuple[str, dict]]:
    """The (run id, trigger body) pairs an S3 notification asks for."""
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
        sequencer = record["s3"]["object"].get("sequencer") or record["s3"]["object"].get("eTag", "")
        run_id = str(uuid.uuid5(RUN_NAMESPACE, f"{bucket}/{key}/{sequencer}"))
        wanted.append((run_id, {
            "file_path": f"s3://{bucket}/{key}",
            "record_type": parts[1],
            "output_mode": output_mode,
            "metadata": {"source": "upload", "object_key": key},
        }))
    return wanted


def handle_upload_message(components, body: str) -> None:
    for run_id, request in upload_requests(body, components.settings.upload_output_mode):
        try:
            answer = components.service.trigger(request, run_id=run_id)
            log("upload started a migration", run_id=answer["run_id"], record_type=request["record_type"])
        except InvalidRequest as err:
            # Nobody is waiting on this request to read a 4xx: say it in the log.
            log("upload could not start a migration", logging.WARNING, key=request["metadata"]["object_key"],
                reason=str(err.detail))
