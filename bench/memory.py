"""A worker's peak memory, file size against file size: it must depend on the chunk, never the file.

For each file (1M and 10M records by default) a fresh interpreter does what a
worker does to it, minus the AWS calls: plan the file (hashing it as it goes,
like `Worker.plan`), write plan.json, then for every chunk in turn the ranged
read and what `Worker.process_chunk` does with it in file mode
(bench.chunk_work: map, validate, write the part and the error part, take the
control totals). It reports its peak resident set (VmHWM from /proc/self/status,
which is ru_maxrss) once planned and at the end. A fresh process per file, so
neither file's peak hides in the other's. The two end peaks must be within
10 % of each other.

`python -m bench.memory [--records N N ...] [--work DIR]` prints the figures as JSON;
`bench_memory` returns them. `generated_file` is shared with bench.scale.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

from local_stack.environment import PROJECT_DIR

RECORD_TYPE = "disability"
DEFAULT_RECORDS = (1_000_000, 10_000_000)
TARGET = 0.10  # the larger file's peak may exceed the smaller's by at most this share


def generated_file(work: str, records: int) -> str:
    """A disability file of `records` records under `work` (written once; relative to `work`)."""
    from datagen.legacy_files import write_legacy_file
    relative = f"data/input/scale_{records}.csv"
    path = os.path.join(work, relative)
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        started = time.perf_counter()
        invalid = write_legacy_file(RECORD_TYPE, path + ".tmp", records, seed=21)
        os.replace(path + ".tmp", path)
        print(f"  generated {records:,} records ({invalid:,} invalid), {os.path.getsize(path) / 1e6:,.0f} MB, "
              f"in {time.perf_counter() - started:.0f}s", flush=True)
    return relative


def _peak_kib() -> int:
    """The process's peak resident set so far, in KiB (VmHWM; ru_maxrss where /proc is missing)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _child(path: str, out_dir: str, chunk_records: int, chunk_bytes: int) -> dict:
    """In a fresh interpreter: a worker's work on every chunk of `path`, and the peaks it reached."""
    from bench.chunk_work import process_chunk_data
    from chalicelib.inputs import plan_file
    from chalicelib.models import InputFormat
    from chalicelib.records import load_specs
    from chalicelib.reconciliation import HashingSource, write_plan
    from chalicelib.storage import LocalFile

    spec, fmt = load_specs()[RECORD_TYPE], InputFormat()
    imported = _peak_kib()
    started = time.perf_counter()
    source = HashingSource(LocalFile(path, os.path.basename(path)))
    plan = plan_file(source, fmt, spec, chunk_records, chunk_bytes, "bench-memory")
    sha256, size = source.identity()
    output = LocalFile(out_dir, "out")
    write_plan(output, "bench-memory", plan, sha256, size)
    planned, plan_seconds = _peak_kib(), time.perf_counter() - started

    def process_chunk(chunk) -> tuple[int, int]:
        # A function, as Worker.process_chunk is one: what a chunk holds is freed when it returns, not
        # kept alive by a loop variable while the next chunk is read.
        mapped = process_chunk_data(output, chunk.chunk, source.read_range(chunk.start, chunk.end), plan.header,
                                    fmt, spec, chunk.first_row)
        assert mapped.records == chunk.rows, (chunk, mapped.records)
        return mapped.records, mapped.result.document_count

    records = documents = 0
    for chunk in plan.chunks:
        read, written = process_chunk(chunk)
        records, documents = records + read, documents + written
    assert records == plan.total_records
    return {"records": records, "documents": documents, "chunks": len(plan.chunks), "file_bytes": size,
            "peak_after_import_mib": round(imported / 1024, 1), "peak_after_planning_mib": round(planned / 1024, 1),
            "peak_mib": round(_peak_kib() / 1024, 1), "planning_seconds": round(plan_seconds, 1),
            "seconds": round(time.perf_counter() - started, 1)}


def peak_of(path: str, out_dir: str, chunk_records: int, chunk_bytes: int) -> dict:
    done = subprocess.run([sys.executable, "-m", "bench.memory", "--child", path, out_dir,
                           str(chunk_records), str(chunk_bytes)],
                          cwd=PROJECT_DIR, capture_output=True, text=True, timeout=7200)
    if done.returncode:
        raise RuntimeError(f"the worker's process failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_memory(work: str, sizes: tuple[int, ...] = DEFAULT_RECORDS, chunk_records: int = 25_000,
                 chunk_bytes: int = 16 << 20) -> dict:
    figures = {}
    for records in sizes:
        path = os.path.join(work, generated_file(work, records))
        out = os.path.join(work, f"memory-out-{records}")
        figures[records] = peak_of(path, out, chunk_records, chunk_bytes)
        shutil.rmtree(out, ignore_errors=True)
        f = figures[records]
        print(f"  memory: {records:,} records ({f['file_bytes'] / 1e6:,.0f} MB, {f['chunks']:,} chunks): peak RSS "
              f"{f['peak_mib']} MiB (after import {f['peak_after_import_mib']}, after planning "
              f"{f['peak_after_planning_mib']}) in {f['seconds']}s", flush=True)
    small, large = figures[min(sizes)], figures[max(sizes)]
    ratio = large["peak_mib"] / small["peak_mib"]
    print(f"memory flat in file size: peak RSS {small['peak_mib']} MiB for {min(sizes):,} records, "
          f"{large['peak_mib']} MiB for {max(sizes):,}: ratio {ratio:.3f} (target <= {1 + TARGET:.2f})", flush=True)
    return {"chunk_records": chunk_records, "chunk_bytes": chunk_bytes,
            "by_records": {str(k): v for k, v in figures.items()}, "ratio_peak_large_to_small": round(ratio, 3),
            "holds": ratio <= 1 + TARGET, "target": f"<= {1 + TARGET:.2f}"}


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv and argv[0] == "--child":
        path, out_dir, chunk_records, chunk_bytes = argv[1:5]
        print(json.dumps(_child(path, out_dir, int(chunk_records), int(chunk_bytes))))
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, nargs="+", default=list(DEFAULT_RECORDS))
    parser.add_argument("--work", help="a folder holding (or to hold) the generated files; kept")
    args = parser.parse_args(argv)
    work = args.work or tempfile.mkdtemp(prefix="records-migration-bench-memory-")
    try:
        print(json.dumps(bench_memory(work, tuple(args.records)), indent=2))
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
