"""Files under the data root: local folders or the stage's S3 bucket (DESIGN 9).

`DataRoot.resolve` is the only way a user-supplied path becomes something the
service reads or writes. It refuses absolute paths, `..`, links that lead
outside the root and buckets that are not the stage's own.
"""
from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from typing import Callable, Iterator, Protocol

from chalicelib.errors import InvalidRequest, cut

BLOCK_SIZE = 8 * 1024 * 1024


class StoredFile(Protocol):
    uri: str

    def exists(self) -> bool: ...
    def size(self) -> int: ...
    def read_range(self, start: int, end: int) -> bytes: ...
    def read_bytes(self) -> bytes: ...
    def iter_blocks(self, block_size: int = BLOCK_SIZE) -> Iterator[bytes]: ...
    def write_bytes(self, data: bytes) -> None: ...
    def child(self, name: str) -> "StoredFile": ...


@dataclass(frozen=True)
class LocalFile:
    path: str
    uri: str

    def exists(self) -> bool:
        return os.path.isfile(self.path)

    def size(self) -> int:
        return os.path.getsize(self.path)

    def read_range(self, start: int, end: int) -> bytes:
        with open(self.path, "rb") as f:
            f.seek(start)
            return f.read(end - start)

    def read_bytes(self) -> bytes:
        with open(self.path, "rb") as f:
            return f.read()

    def iter_blocks(self, block_size: int = BLOCK_SIZE) -> Iterator[bytes]:
        with open(self.path, "rb") as f:
            while block := f.read(block_size):
                yield block

    def write_bytes(self, data: bytes) -> None:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        # Write then rename, so a reader never sees half a part file and a
        # redelivered chunk simply replaces its own part.
        tmp = f"{self.path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, self.path)

    def child(self, name: str) -> "LocalFile":
        return LocalFile(os.path.join(self.path, name), posixpath.join(self.uri, name))


@dataclass(frozen=True)
class S3Object:
    bucket: str
    key: str
    client_factory: Callable[[], object]

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def exists(self) -> bool:
        from botocore.exceptions import ClientError
        try:
            self.client_factory().head_object(Bucket=self.bucket, Key=self.key)
            return True
        except ClientError as err:
            if err.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def size(self) -> int:
        return self.client_factory().head_object(Bucket=self.bucket, Key=self.key)["ContentLength"]

    def read_range(self, start: int, end: int) -> bytes:
        if end <= start:
            return b""
        response = self.client_factory().get_object(
            Bucket=self.bucket, Key=self.key, Range=f"bytes={start}-{end - 1}")
        return response["Body"].read()

    def read_bytes(self) -> bytes:
        return self.client_factory().get_object(Bucket=self.bucket, Key=self.key)["Body"].read()

    def iter_blocks(self, block_size: int = BLOCK_SIZE) -> Iterator[bytes]:
        body = self.client_factory().get_object(Bucket=self.bucket, Key=self.key)["Body"]
        yield from body.iter_chunks(block_size)

    def write_bytes(self, data: bytes) -> None:
        self.client_factory().put_object(Bucket=self.bucket, Key=self.key, Body=data)

    def child(self, name: str) -> "S3Object":
        return S3Object(self.bucket, posixpath.join(self.key, name), self.client_factory)


# Where an uploaded file starts a migration by itself (DESIGN 7): keys under it in the data bucket.
UPLOAD_PREFIX = "incoming/"


class DataRoot:
    """Resolves user paths against the stage's data root."""

    def __init__(self, root: str, stage_buckets: set[str], s3_client_factory: Callable[[], object]):
        self._root = root
        self._buckets = {b for b in stage_buckets if b}
        self._s3 = s3_client_factory

    def resolve(self, path: str, field: str) -> StoredFile:
        if path.startswith("s3://"):
            bucket, _, key = path[len("s3://"):].partition("/")
            if bucket not in self._buckets:
                raise InvalidRequest(f"{field}: bucket {cut(bucket)!r} is not this stage's data bucket")
            return S3Object(bucket, _safe_relative(key, field), self._s3)
        relative = _safe_relative(path, field)
        if self._root.startswith("s3://"):
            bucket, _, prefix = self._root[len("s3://"):].partition("/")
            return S3Object(bucket, posixpath.join(prefix, relative) if prefix else relative, self._s3)
        root = os.path.realpath(self._root)
        full = os.path.realpath(os.path.join(root, relative))
        if full != root and not full.startswith(root + os.sep):
            raise InvalidRequest(f"{field}: path leads outside the data root")
        return LocalFile(full, relative)


    def relative(self, file: StoredFile) -> str:
        """Where a resolved file lies under the data root (in the bucket, for an s3:// path)."""
        if isinstance(file, LocalFile):
            return file.uri
        prefix = self._root[len("s3://"):].partition("/")[2] if self._root.startswith("s3://") else ""
        return file.key[len(prefix):] if prefix and file.key.startswith(prefix) else file.key

    def output_folder(self, path: str) -> StoredFile:
        """Where a run writes its outputs: never under the upload prefix, where each part it wrote would
        start a migration of the service's own output."""
        folder = self.resolve(path, "output_dir")
        where = folder.key if isinstance(folder, S3Object) else folder.uri
        if (where.rstrip("/") + "/").startswith(UPLOAD_PREFIX):
            raise InvalidRequest(f"output_dir: must be outside {UPLOAD_PREFIX}, where an uploaded file starts a "
                                 f"migration (the service would read its own outputs)")
        if isinstance(folder, LocalFile):
            _writable_folder(folder.path)
        return folder


def _writable_folder(path: str) -> None:
    """Refuse at trigger a local output folder the workers could not write, rather than fail the run later:
    a part of the path that is a file, or a nearest existing folder that is not writable. (In S3 every key
    under the data root is writable by the stage's own policy.)"""
    existing = path
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise InvalidRequest("output_dir: a part of the path is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InvalidRequest("output_dir: the folder is not writable by the service")


def _safe_relative(path: str, field: str) -> str:
    if not path or "\x00" in path or "\\" in path:
        raise InvalidRequest(f"{field}: not a valid path")
    if path.startswith("/") or path.startswith("~") or (len(path) > 1 and path[1] == ":"):
        raise InvalidRequest(f"{field}: must be relative to the data root, not absolute")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidRequest(f"{field}: must not contain '..'")
    if not parts:
        raise InvalidRequest(f"{field}: not a valid path")
    return "/".join(parts)


def part_name(chunk: int) -> str:
    """The file a chunk's documents (and, under errors/, its error rows) are written to: named after
    the chunk, so a chunk processed again replaces its own part (DESIGN 4)."""
    return f"part-{chunk:06d}.jsonl"
