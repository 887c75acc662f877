"""Uploads without I/O: which run an S3 notification asks for, whose it is, and what a manifest beside the file
sets (chalicelib.uploads, chalicelib.manifests)."""
from __future__ import annotations

import json

import pytest

from chalicelib.errors import InvalidRequest
from chalicelib.manifests import is_manifest, manifest_key, merged_request, parse_manifest
from chalicelib.models import MigrationRequest
from chalicelib.uploads import upload_requests

TYPES = {"claim", "disability", "employee"}
BUCKET = "records-migration-data-test-123456789012"


def notification(*keys: str, version_id: str | None = None, sequencer: str = "0055AED6DCD90281E5",
                 event: str = "ObjectCreated:Put") -> str:
    objects = [{"key": key.replace(" ", "+"), "sequencer": sequencer, "eTag": "9dd4e461",
                **({"versionId": version_id} if version_id else {})} for key in keys]
    return json.dumps({"Records": [{"eventName": event, "s3": {"bucket": {"name": BUCKET}, "object": o}}
                                   for o in objects]})


# ------------------------------------------------------------------------ keys

@pytest.mark.parametrize("key, tenant, record_type", [
    ("incoming/claim/march export.csv", "default", "claim"),
    ("incoming/claim/2026/03/march.csv", "default", "claim"),
    ("incoming/acme/claim/march.csv", "acme", "claim"),
    ("incoming/acme/pension/march.csv", "acme", "pension"),  # the trigger says the record type is unknown
    ("incoming/pension/march.csv", "default", "pension"),
])
def test_the_folders_say_whose_run_it_is_and_of_which_record_type(key, tenant, record_type):
    [upload] = upload_requests(notification(key), TYPES)
    assert (upload.tenant, upload.record_type, upload.problem) == (tenant, record_type, None)
    assert upload.file_path == f"s3://{BUCKET}/{key}" and upload.caller.principal == "upload"


@pytest.mark.parametrize("key, problem", [
    ("incoming/march.csv", "file_path: an upload starts a migration only under incoming/<record_type>/ or "
                           "incoming/<tenant>/<record_type>/"),
    ("incoming/Not_A_Tenant/claim/march.csv", "file_path: 'Not_A_Tenant' is neither a record type nor a tenant "
                                              "name; an upload starts a migration only under "
                                              "incoming/<record_type>/ or incoming/<tenant>/<record_type>/"),
])
def test_a_key_under_no_known_folder_shape_is_the_default_tenants_with_the_reason(key, problem):
    [upload] = upload_requests(notification(key), TYPES)
    assert (upload.tenant, upload.problem) == ("default", problem)


def test_test_events_removals_folders_and_keys_outside_incoming_ask_for_nothing():
    assert upload_requests(json.dumps({"Event": "s3:TestEvent", "Bucket": BUCKET}), TYPES) == []
    assert upload_requests(notification("incoming/claim/x.csv", event="ObjectRemoved:Delete"), TYPES) == []
    assert upload_requests(notification("incoming/claim/", "data/x.csv"), TYPES) == []


def test_the_run_id_is_the_same_for_the_same_notification_and_another_for_another_upload():
    first = upload_requests(notification("incoming/claim/x.csv"), TYPES)[0].run_id
    assert upload_requests(notification("incoming/claim/x.csv"), TYPES)[0].run_id == first
    assert upload_requests(notification("incoming/claim/x.csv", sequencer="0055AED6DCD90281E6"),
                           TYPES)[0].run_id != first


def test_the_metadata_names_the_object_and_its_version():
    [versioned] = upload_requests(notification("incoming/claim/x.csv", version_id="3HL4kqtJlcpXroDTDmJ"), TYPES)
    assert versioned.metadata() == {"source": "upload", "object_key": "incoming/claim/x.csv",
                                    "version_id": "3HL4kqtJlcpXroDTDmJ"}
    [plain] = upload_requests(notification("incoming/claim/x.csv"), TYPES)
    assert plain.metadata()["version_id"] is None


def test_a_manifest_is_named_after_its_file():
    assert manifest_key("incoming/claim/march.csv") == "incoming/claim/march.csv.manifest.json"
    assert is_manifest("incoming/claim/march.csv.manifest.json") and not is_manifest("incoming/claim/march.csv")


# ------------------------------------------------------------------------ manifests

DEFAULTS = {"file_path": f"s3://{BUCKET}/incoming/claim/x.csv", "record_type": "claim", "output_mode": "api",
            "metadata": {"source": "upload", "object_key": "incoming/claim/x.csv", "version_id": None}}


def test_a_manifest_sets_any_request_option_and_keeps_the_uploads_own_metadata():
    options = parse_manifest(json.dumps({
        "output_mode": "file", "batch_size": 50, "max_error_rate": 0.25, "validate_only": True,
        "input_format": {"delimiter": "|"}, "metadata": {"ticket": "MIG-7", "object_key": "spoofed"},
        "notify": {"webhook_url": "https://hooks.example.com/x", "secret": "0123456789abcdef"}}).encode())
    body = merged_request(DEFAULTS, options)
    request = MigrationRequest.from_body(body, sorted(TYPES))
    assert (request.output_mode.value, request.batch_size, request.max_error_rate, request.validate_only,
            request.input_format.delimiter) == ("file", 50, 0.25, True, "|")
    assert request.metadata == {"ticket": "MIG-7", "source": "upload", "object_key": "incoming/claim/x.csv",
                                "version_id": None}
    assert request.file_path == DEFAULTS["file_path"] and request.notify.webhook_url == "https://hooks.example.com/x"


def test_without_a_manifest_the_stages_defaults_make_a_valid_request():
    request = MigrationRequest.from_body(merged_request(DEFAULTS, {}), sorted(TYPES))
    assert (request.output_mode.value, request.batch_size) == ("api", 100)


@pytest.mark.parametrize("raw, detail", [
    (b"{not json", "manifest is not valid JSON: JSONDecodeError at position 1"),
    (b'["output_mode"]', "manifest: must be a JSON object of trigger request fields"),
    (b'{"batch_size": 5, "batch_size": 6}', "manifest gives the key 'batch_size' twice in one object: which value "
                                            "is meant is unclear"),
    (b"\xff{}", "manifest is not UTF-8: undecodable byte at position 0"),
    (b'{"file_path": "data/input/other.csv"}', "manifest: file_path is given by the uploaded file's key; a "
                                               "manifest cannot set it"),
    (b'{"record_type": "employee"}', "manifest: record_type is given by the uploaded file's key; a manifest "
                                     "cannot set it"),
    (b" " * (256 * 1024 + 1), "manifest: larger than 256 KiB (262144 bytes)"),
])
def test_a_manifest_that_cannot_be_used_says_why(raw, detail):
    with pytest.raises(InvalidRequest) as caught:
        parse_manifest(raw)
    assert caught.value.detail == detail


@pytest.mark.parametrize("options, detail", [
    ({"colour": "blue"}, "colour: unknown field (allowed: "),
    ({"batch_size": 0}, "batch_size: must be between 1 and 1000"),
    ({"output_mode": "fax"}, "output_mode: must be one of api, file"),
    ({"metadata": "x"}, "metadata: must be an object"),
    ({"authentication": {"type": "bearer_token", "token": "t0k3n-in-a-manifest"}, "batch_size": "5"},
     "batch_size: must be an integer"),
])
def test_a_manifests_bad_field_is_refused_as_a_trigger_refuses_it_without_its_value(options, detail):
    with pytest.raises(InvalidRequest) as caught:
        MigrationRequest.from_body(merged_request(DEFAULTS, parse_manifest(json.dumps(options).encode())),
                                   sorted(TYPES))
    assert caught.value.detail.startswith(detail)
    assert "t0k3n-in-a-manifest" not in caught.value.detail
