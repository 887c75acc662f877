"""What `file_path` a run gets for the FILE an operator names.

The service reads files relative to its own data root (the project folder for `make run`, the data bucket
on a deployed stage), never the operator's disk. So:
- `s3://...` is sent as it is;
- with `--upload s3://bucket/prefix/`, a local file is uploaded there first and the run reads the object;
- a local file under the current folder is sent as its path relative to that folder (run `migrate` from the
  data root, as `make run`'s is the project folder);
- anything else that is no local file is sent as written: a path under the service's data root.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

# Keys under it start a migration by themselves (docs/api.md, "Upload a file"): an upload there and then a
# trigger would migrate the file twice.
UPLOAD_PREFIX = "incoming/"


class FileProblem(Exception):
    """FILE or --upload cannot be used as given."""


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def parse_s3(uri: str) -> S3Location:
    if not uri.startswith("s3://"):
        raise FileProblem(f"--upload must be an s3://bucket/prefix/ URI, not {uri!r}")
    bucket, _, key = uri[len("s3://"):].partition("/")
    if not bucket:
        raise FileProblem(f"--upload names no bucket: {uri!r}")
    return S3Location(bucket, key)


def upload_target(local_path: str, upload: str) -> S3Location:
    """Where `local_path` goes for `--upload`: under the prefix if it ends with "/" (or is empty), else that key."""
    where = parse_s3(upload)
    key = where.key
    if not key or key.endswith("/"):
        key += os.path.basename(local_path)
    if key.startswith(UPLOAD_PREFIX):
        raise FileProblem(f"--upload: keys under {UPLOAD_PREFIX} start a migration by themselves; upload "
                          f"elsewhere (e.g. s3://{where.bucket}/cli-uploads/) or drop it there with a manifest")
    return S3Location(where.bucket, key)


def service_path(file: str, cwd: str | None = None) -> str:
    """The `file_path` to send for FILE when nothing is uploaded."""
    if file.startswith("s3://"):
        return file
    if not os.path.exists(file):
        return file  # a path the service reads under its data root
    if not os.path.isfile(file):
        raise FileProblem(f"{file} is not a file")
    here = os.path.realpath(cwd or os.getcwd())
    full = os.path.realpath(file)
    if full != here and not full.startswith(here + os.sep):
        raise FileProblem(f"{file} is outside the current folder, and the service reads files relative to its "
                          f"data root: run migrate from the data root (the project folder for `make run`), "
                          f"or upload the file with --upload s3://<data bucket>/<prefix>/")
    return os.path.relpath(full, here).replace(os.sep, "/")


def upload(local_path: str, upload_uri: str) -> S3Location:
    """Upload a local file with boto3 (its usual credentials and region; AWS_ENDPOINT_URL reaches an emulator)."""
    if not os.path.isfile(local_path):
        raise FileProblem(f"--upload needs a local file; {local_path} is not one")
    target = upload_target(local_path, upload_uri)
    try:
        import boto3  # only here: every other command works without it
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        raise FileProblem("--upload needs boto3: pip install 'migrate-cli[upload]' (the project's venv has it)") \
            from None
    try:
        boto3.client("s3").upload_file(local_path, target.bucket, target.key)
    except ClientError as err:
        error = err.response.get("Error", {})
        raise FileProblem(f"upload to {target} refused: {error.get('Code', '?')}: {error.get('Message', '')}") \
            from None
    except BotoCoreError as err:  # no credentials, no region, endpoint unreachable: messages hold no secret
        raise FileProblem(f"upload to {target} failed: {err}") from None
    return target
