"""Uploads that start migrations: S3 notifications for `incoming/<record_type>/...`
(the default tenant's) and `incoming/<tenant>/<record_type>/...` (a named tenant's run).

S3 reaches Lambda through the uploads queue (DESIGN 7). The run id is derived
from the object and its event sequencer, so a redelivered notification finds
its run already there instead of starting a second one.

A manifest beside the file sets the run's options (chalicelib.manifests: upload
it first); its own upload starts nothing. An upload that cannot start a run (a
key under no known folder, an unknown record type, a bad manifest, a file gone
or unreadable) is never only a log line: it becomes a run of the folder's tenant
(the default tenant's when the folder names none), failed at once with the 4xx
detail a trigger would have answered, listed and announced like any other end.
"""
from __future__ import annotations

import json
import logging
import re
import uuid
from dataclasses import dataclass
from urllib.parse import unquote_plus

from chalicelib.access import DEFAULT_TENANT, TENANT_PATTERN, Caller, Role
from chalicelib.errors import InvalidRequest, MalformedRequest, PayloadTooLarge, cut
from chalicelib.manifests import is_manifest, merged_request, parse_manifest, read_manifest
from chalicelib.observability import log
from chalicelib.storage import UPLOAD_PREFIX

RUN_NAMESPACE = uuid.UUID("0f8a5d4e-6a43-4f53-9c2e-51b1f1f3c0a7")
# What a trigger answers with a 4xx that no later attempt would change: here, a failed run's reason.
# (A 429, the tenant's active runs at their cap, is raised instead: the queue brings the upload back later.)
REFUSALS = (InvalidRequest, MalformedRequest, PayloadTooLarge)
FOLDER_SHAPES = "incoming/<record_type>/ or incoming/<tenant>/<record_type>/"


@dataclass(frozen=True)
class Upload:
    """An object S3 says was created under incoming/, and the run it asks for."""

    run_id: str
    bucket: str
    key: str
    version_id: str | None   # S3's, when the bucket versions its objects
    tenant: str
    record_type: str         # the folder's name for it ("" when the key names none)
    problem: str | None = None  # why the key alone cannot start a run

    @property
    def file_path(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def caller(self) -> Caller:
        return Caller("upload", self.tenant, Role.OPERATOR)

    def metadata(self) -> dict:
        return {"source": "upload", "object_key": self.key, "version_id": self.version_id}


def upload_requests(body: str, record_types: set[str]) -> list[Upload]:
    """The uploads an S3 notification tells of: created objects under incoming/, folder markers left out."""
    event = json.loads(body)
    if event.get("Event") == "s3:TestEvent":
        return []  # S3 sends this once when the notification is set up
    wanted = []
    for record in event.get("Records", []):
        if not record.get("eventName", "").startswith("ObjectCreated"):
            continue
        bucket = record["s3"]["bucket"]["name"]
        stored = record["s3"]["object"]
        key = unquote_plus(stored["key"])
        if not key.startswith(UPLOAD_PREFIX) or key.endswith("/"):
            log("upload ignored: a folder, or not under incoming/", logging.INFO, key=cut(key, 200))
            continue
        version_id = stored.get("versionId")
        identity = stored.get("sequencer") or version_id or stored.get("eTag", "")
        run_id = str(uuid.uuid5(RUN_NAMESPACE, f"{bucket}/{key}/{identity}"))
        wanted.append(Upload(run_id, bucket, key, version_id, *_tenant_and_record_type(key, record_types)))
    return wanted


def _tenant_and_record_type(key: str, record_types: set[str]) -> tuple[str, str, str | None]:
    """Whose run an upload is, of which record type, and why the key cannot start one (None if it may)."""
    parts = key.split("/")
    if len(parts) < 3:
        return DEFAULT_TENANT, "", f"file_path: an upload starts a migration only under {FOLDER_SHAPES}"
    # A tenant is never named like a record type, so the second part says which it is.
    if parts[1] in record_types or len(parts) < 4:
        return DEFAULT_TENANT, parts[1], None
    if not re.fullmatch(TENANT_PATTERN, parts[1]):
        # No tenant has this name: the bucket's owner, the default tenant, is told.
        return DEFAULT_TENANT, parts[2], (f"file_path: {cut(parts[1])!r} is neither a record type nor a tenant "
                                          f"name; an upload starts a migration only under {FOLDER_SHAPES}")
    return parts[1], parts[2], None


def handle_upload_message(components, body: str) -> None:
    for upload in upload_requests(body, set(components.specs)):
        if is_manifest(upload.key):
            # Read when its file's notification is handled: a manifest starts nothing of its own.
            log("manifest uploaded: it applies to the next upload of its file", key=cut(upload.key, 200))
            continue
        if components.store.get(upload.run_id) is not None:
            log("upload handled already: its notification came again", run_id=upload.run_id)
            continue
        start_or_record_failure(components, upload)


def start_or_record_failure(components, upload: Upload) -> None:
    """Start the upload's run with its manifest's options, or record why it cannot start as a failed run."""
    from botocore.exceptions import ClientError
    metadata = upload.metadata()
    request = {"file_path": upload.file_path, "record_type": upload.record_type,
               "output_mode": components.settings.upload_output_mode, "metadata": metadata}
    try:
        if upload.problem:
            raise InvalidRequest(upload.problem)
        manifest = read_manifest(lambda: components.client("s3"), upload.bucket, upload.key)
        if manifest is not None:  # named in the metadata first, so that a run it fails says which it was
            metadata.update(manifest_key=manifest.key, manifest_version_id=manifest.version_id)
            request = merged_request(request, parse_manifest(manifest.raw))
        # The run reads the object this notification is for, even if it is uploaded again before it is planned.
        answer = components.service.trigger(upload.caller, request, run_id=upload.run_id,
                                            input_version=upload.version_id)
        log("upload started a migration", run_id=answer["run_id"], record_type=upload.record_type,
            manifest=manifest is not None)
    except REFUSALS as refused:
        reason = str(refused.detail)
    except ClientError as err:
        # The file is there but this function may not read it (a key policy, a KMS key): no attempt will.
        if err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") != 403:
            raise
        reason = f"file_path: the file could not be read ({err.response.get('Error', {}).get('Code', '403')})"
    else:
        return
    components.service.record_failed_upload(upload.caller, upload.run_id, request, reason, metadata)
