"""Manifests: an upload's run options, in a JSON file beside the uploaded file.

A file put under `incoming/<record_type>/` (or `incoming/<tenant>/<record_type>/`) starts a run with the
stage's defaults. A manifest beside it, named as the file plus `.manifest.json`
(`incoming/claim/march.csv` -> `incoming/claim/march.csv.manifest.json`), is a JSON object that may set any
field of the trigger request (chalicelib.models.MigrationRequest: output_mode, batch_size, input_format,
metadata, max_error_rate, validate_only, authentication, notify, ...) but `file_path` and `record_type`,
which the key gives, and the tenant, which the folder gives. It is checked as a trigger body is, and read as
one is (chalicelib.api.json_document: UTF-8, at most 256 KiB, no key twice). Its own upload starts nothing.

The order: **the manifest first, then the file.** The manifest is read when the file's notification is
handled; one that is not there then does not apply (the run takes the defaults, and its metadata says it
had no manifest), and one put there later applies to the file's next upload, not to a run already started.
A manifest is kept as it is: the next upload of the same file reads it again.

The run's metadata names what it was made from: `source` (`upload`), `object_key` and `version_id` (null
when the bucket does not version its objects), and with a manifest, `manifest_key` and
`manifest_version_id`. The manifest's own `metadata` is kept beside those keys; they win over its own.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from chalicelib.api import MAX_BODY_BYTES, json_document
from chalicelib.errors import InvalidRequest, MalformedRequest

MANIFEST_SUFFIX = ".manifest.json"
SET_BY_THE_KEY = ("file_path", "record_type")


def is_manifest(key: str) -> bool:
    return key.endswith(MANIFEST_SUFFIX)


def manifest_key(key: str) -> str:
    """The key of the manifest of the file at `key`."""
    return key + MANIFEST_SUFFIX


@dataclass(frozen=True)
class Manifest:
    key: str
    version_id: str | None
    raw: bytes   # as stored, at most one byte past the limit: `parse_manifest` says whether it can be used


def parse_manifest(raw: bytes) -> dict[str, Any]:
    """The fields a manifest sets, or InvalidRequest saying why it cannot be used ("manifest: ...")."""
    if len(raw) > MAX_BODY_BYTES:
        raise InvalidRequest(f"manifest: larger than {MAX_BODY_BYTES // 1024} KiB ({MAX_BODY_BYTES} bytes)")
    try:
        options = json_document(raw, "manifest")
    except MalformedRequest as err:  # a 400 to a trigger; here, like every other reason, a failed run's
        raise InvalidRequest(str(err.detail)) from None
    if not isinstance(options, dict):
        raise InvalidRequest("manifest: must be a JSON object of trigger request fields")
    for field in SET_BY_THE_KEY:
        if field in options:
            raise InvalidRequest(f"manifest: {field} is given by the uploaded file's key; a manifest cannot set it")
    return options


def merged_request(defaults: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """The trigger body of an upload: the stage's defaults, then what the manifest sets. The upload's own
    metadata keys (source, object and manifest keys and versions) are kept over the manifest's."""
    body = {**defaults, **options}
    if isinstance(options.get("metadata"), dict):  # anything else is left for the trigger to refuse
        body["metadata"] = {**options["metadata"], **defaults.get("metadata", {})}
    return body


def read_manifest(s3_client: Callable[[], Any], bucket: str, key: str) -> Manifest | None:
    """The manifest beside the object at `key`, None if there is none; InvalidRequest if this function may
    not read it. S3's other troubles (throttling, a 5xx) are raised as they are: the notification is
    then handled again later."""
    from botocore.exceptions import ClientError
    name = manifest_key(key)
    try:
        response = s3_client().get_object(Bucket=bucket, Key=name)
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchKey", "404", "NotFound"):
            return None
        if err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 403 or code == "AccessDenied":
            raise InvalidRequest(f"manifest: could not be read ({code})") from None
        raise
    body = response["Body"]
    try:
        raw = body.read(MAX_BODY_BYTES + 1)  # one byte past the limit is enough to refuse it
    finally:
        body.close()
    return Manifest(name, response.get("VersionId"), raw)
