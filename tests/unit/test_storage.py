"""User paths resolve under the data root only."""
from __future__ import annotations

import os

import pytest

from chalicelib.errors import InputFileError, InvalidRequest
from chalicelib.storage import ETAG_VERSION, DataRoot, LocalFile, S3Object


def no_s3():
    raise AssertionError("S3 must not be touched to resolve a path")


@pytest.fixture
def root(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "in.csv").write_text("x")
    return DataRoot(str(tmp_path), {"stage-bucket"}, no_s3)


def test_relative_path_resolves_under_the_root(root, tmp_path):
    resolved = root.resolve("data/in.csv", "file_path")
    assert isinstance(resolved, LocalFile)
    assert resolved.path == os.path.join(os.path.realpath(tmp_path), "data", "in.csv")
    assert resolved.uri == "data/in.csv"
    assert resolved.exists()


@pytest.mark.parametrize("path", ["../x.csv", "data/../../x.csv", "/etc/passwd", "~/x.csv", "C:/x.csv",
                                  "data\\in.csv", "", ".", "a/\x00b"])
def test_escaping_paths_are_refused(root, path):
    with pytest.raises(InvalidRequest) as raised:
        root.resolve(path, "file_path")
    assert raised.value.detail.startswith("file_path: ")


def test_link_leading_outside_is_refused(root, tmp_path_factory, tmp_path):
    outside = tmp_path_factory.mktemp("outside") / "secret.csv"
    outside.write_text("x")
    os.symlink(outside, tmp_path / "data" / "link.csv")
    with pytest.raises(InvalidRequest, match="outside the data root"):
        root.resolve("data/link.csv", "file_path")


def test_only_the_stage_bucket_is_accepted(root):
    resolved = root.resolve("s3://stage-bucket/incoming/disability/a.csv", "file_path")
    assert isinstance(resolved, S3Object)
    assert (resolved.bucket, resolved.key) == ("stage-bucket", "incoming/disability/a.csv")
    with pytest.raises(InvalidRequest, match="not this stage's data bucket"):
        root.resolve("s3://other-bucket/a.csv", "file_path")
    with pytest.raises(InvalidRequest, match=r"\.\."):
        root.resolve("s3://stage-bucket/a/../../b.csv", "file_path")


def test_s3_data_root_maps_relative_paths_to_keys():
    root = DataRoot("s3://stage-bucket/", {"stage-bucket"}, no_s3)
    resolved = root.resolve("data/input/sample.csv", "file_path")
    assert resolved.uri == "s3://stage-bucket/data/input/sample.csv"
    prefixed = DataRoot("s3://stage-bucket/tenant-a", {"stage-bucket"}, no_s3)
    assert prefixed.resolve("x.csv", "file_path").key == "tenant-a/x.csv"


def test_local_part_files_are_replaced_whole(tmp_path):
    part = LocalFile(str(tmp_path / "out" / "part.jsonl"), "out/part.jsonl")
    part.write_bytes(b"first\n")
    part.write_bytes(b"second\n")
    assert part.read_range(0, 100) == b"second\n"
    assert os.listdir(tmp_path / "out") == ["part.jsonl"]


def test_a_local_write_that_fails_leaves_no_copy_beside_the_outputs(tmp_path):
    # GIVEN a folder where the report goes (as a full or read-only disk would stop the write)
    (tmp_path / "out" / "reconciliation.json").mkdir(parents=True)
    report = LocalFile(str(tmp_path / "out" / "reconciliation.json"), "out/reconciliation.json")
    # WHEN it is written, THEN the write fails, and leaves no temporary file holding the report
    with pytest.raises(IsADirectoryError):
        report.write_bytes(b'{"balanced": true}')
    assert os.listdir(tmp_path / "out") == ["reconciliation.json"]


@pytest.mark.parametrize("root, path, refused", [
    ("s3://records-bucket/", "incoming/claim", True),         # the bucket's upload prefix
    ("s3://records-bucket/", "s3://records-bucket/incoming", True),
    ("s3://records-bucket/", "data/output", False),
    ("s3://records-bucket/data/", "incoming/claim", False),   # data/incoming/... is not the upload prefix
    ("s3://records-bucket/", "incomings/x", False),
])
def test_outputs_never_land_where_uploads_start_migrations(root, path, refused):
    data_root = DataRoot(root, {"records-bucket"}, lambda: None)
    if refused:
        with pytest.raises(InvalidRequest, match=r"^output_dir: must be outside incoming/"):
            data_root.output_folder(path)
    else:
        assert data_root.output_folder(path).key.endswith(path.removeprefix("s3://records-bucket/"))


def test_an_output_folder_the_workers_could_not_write_is_refused_at_trigger(tmp_path):
    from tests.unit.fakes import local_data_root
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a-file").write_text("x")
    (tmp_path / "locked").mkdir(mode=0o555)
    root = local_data_root(tmp_path)
    with pytest.raises(InvalidRequest, match="is a file"):
        root.output_folder("data/a-file/out")
    if os.geteuid() != 0:  # root writes anywhere
        with pytest.raises(InvalidRequest, match="not writable"):
            root.output_folder("locked/out")
    assert root.output_folder("data/new/deeper").uri == "data/new/deeper"


# ------------------------------------------------------------------ a run's input, pinned to the version planned
def test_a_pinned_local_file_reads_while_it_is_the_same_and_refuses_one_put_in_its_place(tmp_path):
    path = tmp_path / "in.csv"
    path.write_bytes(b"id\n1\n2\n")
    pinned = LocalFile(str(path), "in.csv").pin()
    assert pinned.version and pinned.read_range(3, 5) == b"1\n" and pinned.read_bytes() == b"id\n1\n2\n"
    assert b"".join(pinned.iter_blocks(2)) == b"id\n1\n2\n"
    # a file of the same size renamed over it (a copy finished, an editor's save) is another file
    (tmp_path / "new.csv").write_bytes(b"id\n7\n8\n")
    os.replace(tmp_path / "new.csv", path)
    for read in (lambda: pinned.read_range(3, 5), pinned.read_bytes, lambda: list(pinned.iter_blocks())):
        with pytest.raises(InputFileError, match=r"^the file changed after the run was queued \(") as raised:
            read()
        assert "7" not in str(raised.value) and "8" not in str(raised.value)  # no content in the message
    # unpinned, the file is read as it is now; pinned again, too
    assert LocalFile(str(path), "in.csv").read_range(3, 5) == b"7\n"
    assert LocalFile(str(path), "in.csv").pin().read_range(3, 5) == b"7\n"


def test_a_pinned_local_file_written_in_place_is_refused(tmp_path):
    path = tmp_path / "in.csv"
    path.write_bytes(b"id\n1\n2\n")
    pinned = LocalFile(str(path), "in.csv").pin()
    with open(path, "r+b") as f:  # the same inode and size, other bytes...
        f.seek(3)
        f.write(b"9")
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # ...written a moment later
    with pytest.raises(InputFileError, match="changed after the run was queued"):
        pinned.read_range(3, 5)


def test_a_pinned_local_file_that_is_gone_says_so(tmp_path):
    (tmp_path / "a-folder").mkdir()
    (tmp_path / "a-file").write_bytes(b"x")
    for name in ("missing.csv", "a-folder", "a-file/under-a-file.csv"):
        with pytest.raises(InputFileError, match="file not found"):
            LocalFile(str(tmp_path / name), name).pin()


@pytest.fixture
def bucket():
    import boto3
    from moto import mock_aws
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="stage-bucket")
        yield s3


def test_a_pinned_object_in_a_versioned_bucket_is_read_as_planned_after_it_is_uploaded_again(bucket):
    bucket.put_bucket_versioning(Bucket="stage-bucket", VersioningConfiguration={"Status": "Enabled"})
    bucket.put_object(Bucket="stage-bucket", Key="in.csv", Body=b"id\n1\n2\n")
    pinned = S3Object("stage-bucket", "in.csv", lambda: bucket).pin()
    first = bucket.head_object(Bucket="stage-bucket", Key="in.csv")["VersionId"]
    assert pinned.version == first
    bucket.put_object(Bucket="stage-bucket", Key="in.csv", Body=b"id\n7\n8\n9\n")
    # the run reads the file it planned: its bytes, its size
    assert pinned.read_range(3, 5) == b"1\n" and pinned.read_bytes() == b"id\n1\n2\n"
    assert b"".join(pinned.iter_blocks()) == b"id\n1\n2\n" and pinned.size() == 7 and pinned.exists()
    assert S3Object("stage-bucket", "in.csv", lambda: bucket).read_range(3, 5) == b"7\n"  # unpinned: the new one
    # a version deleted since (its lifecycle expired it) is refused, and says why
    bucket.delete_object(Bucket="stage-bucket", Key="in.csv", VersionId=first)
    for read in (lambda: pinned.read_range(3, 5), pinned.exists, pinned.size):
        with pytest.raises(InputFileError, match=r"changed after the run was queued \(the version it planned was"):
            read()
    assert not S3Object("stage-bucket", "gone.csv", lambda: bucket).exists()  # unpinned, a missing key is no error


@pytest.mark.parametrize("versioning", [None, "Suspended"])
def test_a_pinned_object_in_a_bucket_without_versions_is_refused_once_replaced(bucket, versioning):
    if versioning:
        bucket.put_bucket_versioning(Bucket="stage-bucket", VersioningConfiguration={"Status": versioning})
    bucket.put_object(Bucket="stage-bucket", Key="in.csv", Body=b"id\n1\n2\n")
    pinned = S3Object("stage-bucket", "in.csv", lambda: bucket).pin()
    assert pinned.version.startswith(ETAG_VERSION) and pinned.read_range(3, 5) == b"1\n"
    bucket.put_object(Bucket="stage-bucket", Key="in.csv", Body=b"id\n7\n8\n")
    with pytest.raises(InputFileError, match=r"changed after the run was queued \(the object was replaced\)"):
        pinned.read_range(3, 5)
    for read in (lambda: list(pinned.iter_blocks()), pinned.exists):
        with pytest.raises(InputFileError, match="the object was replaced"):
            read()
