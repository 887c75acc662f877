"""User paths resolve under the data root only."""
from __future__ import annotations

import os

import pytest

from chalicelib.errors import InvalidRequest
from chalicelib.storage import DataRoot, LocalFile, S3Object


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
