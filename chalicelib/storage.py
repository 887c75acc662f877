"""Files under the data root: local folders or the stage's S3 bucket (DESIGN 9).

`DataRoot.resolve` is the only way a user-supplied path becomes something the
service reads or writes. It refuses absolute paths, `..`, links that lead
outside the root and buckets that are not the stage's own.

A run reads its input many times (the plan, each chunk, a retry, the reconciliation report), so the input
is pinned when the run is queued: `pin()` takes the version the file is at, `at_version()` reads that
version only. In S3 (the data bucket keeps versions) a pinned read asks for that VersionId, so a file
uploaded again under the same key while a run goes on leaves the run reading the file it planned; a
bucket without versions pins the ETag and a changed object is refused (If-Match). A local file is
pinned by its inode, size and modification time, checked around each read: it has no old version to
read, so a changed file is refused. Refused reads raise InputFileError and name no content.
"""
from __future__ import annotations

import contextlib
import os
import posixpath
import stat
from dataclasses import dataclass
from typing import Callable, Iterator, Protocol

from chalicelib.errors import InputFileError, InvalidRequest, cut

BLOCK_SIZE = 8 * 1024 * 1024
ETAG_VERSION = "etag:"  # a pin of an object in a bucket without versions: its ETag, not a VersionId
CHANGED = "the file changed after the run was queued"
GONE = "file not found (it was moved or deleted after the run was queued)"


class StoredFile(Protocol):
    uri: str
    version: str | None  # the version reads are pinned to, or None: whatever the file holds now

    def pin(self) -> "StoredFile": ...
    def at_version(self, version: str | None) -> "StoredFile": ...
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
    version: str | None = None

    def pin(self) -> "LocalFile":
        try:
            found = os.stat(self.path)
        except (FileNotFoundError, NotADirectoryError):
            found = None
        if found is None or not stat.S_ISREG(found.st_mode):  # a folder is no file to migrate
            raise InputFileError(GONE)
        return self.at_version(_local_version(found))

    def at_version(self, version: str | None) -> "LocalFile":
        return LocalFile(self.path, self.uri, version)

    def exists(self) -> bool:
        return os.path.isfile(self.path)

    def size(self) -> int:
        return os.path.getsize(self.path)

    def read_range(self, start: int, end: int) -> bytes:
        with self._open() as f:
            f.seek(start)
            data = f.read(end - start)
            self._check(f)  # and after: a file written to while it was read is refused too
            return data

    def read_bytes(self) -> bytes:
        with self._open() as f:
            data = f.read()
            self._check(f)
            return data

    def iter_blocks(self, block_size: int = BLOCK_SIZE) -> Iterator[bytes]:
        with self._open() as f:
            while block := f.read(block_size):
                self._check(f)
                yield block

    def _open(self):
        f = open(self.path, "rb")
        try:
            self._check(f)
        except BaseException:
            f.close()
            raise
        return f

    def _check(self, f) -> None:
        """The open file is the pinned version: the same inode (not a file renamed over it), size and
        modification time (not written to in place)."""
        if self.version is not None and _local_version(os.fstat(f.fileno())) != self.version:
            raise InputFileError(f"{CHANGED} (another file, or its size or modification time is not what it was)")

    def write_bytes(self, data: bytes) -> None:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        # Write then rename, so a reader never sees half a part file and a
        # redelivered chunk simply replaces its own part.
        tmp = f"{self.path}.{os.getpid()}.tmp"
        try:
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, self.path)
        except BaseException:
            # A write that failed (a full disk, a folder where the file goes) leaves nothing beside the outputs:
            # a stray copy of a part or a report would be read as one.
            with contextlib.suppress(FileNotFoundError):
                os.remove(tmp)
            raise

    def child(self, name: str) -> "LocalFile":
        return LocalFile(os.path.join(self.path, name), posixpath.join(self.uri, name))


def _local_version(found: os.stat_result) -> str:
    return f"{found.st_ino}:{found.st_size}:{found.st_mtime_ns}"


@dataclass(frozen=True)
class S3Object:
    bucket: str
    key: str
    client_factory: Callable[[], object]
    version: str | None = None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def pin(self) -> "S3Object":
        from botocore.exceptions import ClientError
        try:
            head = self.client_factory().head_object(Bucket=self.bucket, Key=self.key)
        except ClientError as err:
            if err.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                raise InputFileError(GONE) from None
            raise
        version_id = head.get("VersionId")
        # A bucket without versions answers no VersionId (or "null", when versioning was suspended).
        return self.at_version(version_id if version_id and version_id != "null" else ETAG_VERSION + head["ETag"])

    def at_version(self, version: str | None) -> "S3Object":
        return S3Object(self.bucket, self.key, self.client_factory, version)

    def _pinned(self) -> dict:
        """The arguments that read the pinned version: its VersionId, or its ETag (If-Match) in a bucket
        without versions."""
        if self.version is None:
            return {}
        if self.version.startswith(ETAG_VERSION):
            return {"IfMatch": self.version[len(ETAG_VERSION):]}
        return {"VersionId": self.version}

    def _request(self, operation: str, **kwargs) -> dict:
        """HeadObject or GetObject of the pinned version; InputFileError when it is gone or replaced."""
        from botocore.exceptions import ClientError
        try:
            return getattr(self.client_factory(), operation)(Bucket=self.bucket, Key=self.key, **self._pinned(),
                                                             **kwargs)
        except ClientError as err:
            code = err.response["Error"]["Code"]
            if self.version is not None and code in ("PreconditionFailed", "412"):
                raise InputFileError(f"{CHANGED} (the object was replaced)") from None
            if self.version is not None and code in ("NoSuchVersion", "NoSuchKey", "404", "NotFound"):
                raise InputFileError(f"{CHANGED} (the version it planned was deleted)") from None
            raise

    def exists(self) -> bool:
        """Whether the object is there; pinned, InputFileError if its version was replaced or deleted (a
        file that changed is not a file that was never there)."""
        from botocore.exceptions import ClientError
        try:
            self._request("head_object")
            return True
        except ClientError as err:
            if err.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def size(self) -> int:
        return self._request("head_object")["ContentLength"]

    def read_range(self, start: int, end: int) -> bytes:
        if end <= start:
            return b""
        return self._request("get_object", Range=f"bytes={start}-{end - 1}")["Body"].read()

    def read_bytes(self) -> bytes:
        return self._request("get_object")["Body"].read()

    def iter_blocks(self, block_size: int = BLOCK_SIZE) -> Iterator[bytes]:
        yield from self._request("get_object")["Body"].iter_chunks(block_size)

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
