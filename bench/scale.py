"""10M records through the local stack, beside 1M records in the same run.

Each file (default 1M and 10M disability records, generated into the bench's
temporary folder) is migrated in file mode through one local stack with its
workers, timed from the trigger to the run's end. At the end the counters
must be exact: total_records is the file's record count, success + error =
total = processed, every chunk done and none failed, the documents written
are the successes, and the reconciliation report is balanced. The figure is
the ratio of the larger run's time to the smaller's, against the ratio of
their record counts (target: within 11x for 10x the records).

`python -m bench.scale [--records N N ...] [--workers W]` prints the figures as
JSON; `bench_scale` returns them.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

import requests

from bench.memory import DEFAULT_RECORDS, generated_file
from local_stack.child import start_stack

RECORD_TYPE = "disability"
TARGET = 11.0  # the 10M run may take at most this many times the 1M run


def _report(stack, run_id: str, timeout: float = 600) -> dict:
    """The run's reconciliation report, once a worker has built it (409 until then)."""
    deadline = time.monotonic() + timeout
    while True:
        answer = requests.get(f"{stack.api_url}/api/v1/migrations/{run_id}/reconciliation",
                              headers=stack.headers, timeout=60)
        if answer.status_code == 200:
            return answer.json()
        if answer.status_code != 409 or time.monotonic() > deadline:
            raise AssertionError(f"no reconciliation report for {run_id}: {answer.status_code} {answer.text[:500]}")
        time.sleep(0.5)


def _documents_written(folder: str) -> int:
    total = 0
    for name in os.listdir(folder):
        if name.startswith("part-") and name.endswith(".jsonl"):
            with open(os.path.join(folder, name), "rb") as f:
                total += sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 24), b""))
    return total


def migrate(stack, work: str, relative: str, records: int) -> dict:
    """One run in file mode, timed from the trigger to its end, and its exact counters checked."""
    started = time.perf_counter()
    answer = stack.trigger(file_path=relative, record_type=RECORD_TYPE, output_mode="file",
                           output_dir="scale-output", max_error_rate=0.5)
    run_id = answer["run_id"]
    status = stack.wait_until_finished(run_id, timeout=7200, poll=0.5)
    elapsed = time.perf_counter() - started
    progress, chunks = status["progress"], status["details"]["chunks"]
    report = _report(stack, run_id)
    written = _documents_written(os.path.join(work, "scale-output", run_id))
    checks = {
        "completed": status["status"] == "completed",
        "total_records": progress["total_records"] == records,
        "success_plus_error": progress["success_count"] + progress["error_count"] == progress["total_records"]
        == progress["processed_records"],
        "chunks_done": chunks["done"] == chunks["total"] and not chunks["failed"],
        "documents_written": written == progress["success_count"],
        "reconciliation_balanced": report.get("balanced") is True,
    }
    shutil.rmtree(os.path.join(work, "scale-output", run_id), ignore_errors=True)
    result = {"records": records, "seconds": round(elapsed, 1), "records_per_s": round(records / elapsed),
              "success": progress["success_count"], "errors": progress["error_count"], "chunks": chunks["total"],
              "checks": checks, "exact": all(checks.values())}
    print(f"  scale: {records:,} records through the local stack in {elapsed:.1f}s ({records / elapsed:,.0f} "
          f"records/s), {chunks['total']:,} chunks; {progress['success_count']:,} written, "
          f"{progress['error_count']:,} rejected; exact: {result['exact']}"
          + ("" if result["exact"] else f" {checks}"), flush=True)
    assert result["exact"], (checks, status, report.get("checks"))
    return result


def bench_scale(work: str, sizes: tuple[int, ...] = DEFAULT_RECORDS, workers: int = 2) -> dict:
    files = {records: generated_file(work, records) for records in sizes}
    stack = start_stack(work, os.path.join(work, "scale-stack.log"), workers=workers)
    try:
        runs = {records: migrate(stack, work, files[records], records) for records in sorted(sizes)}
    finally:
        stack.stop()
    small, large = min(sizes), max(sizes)
    ratio = runs[large]["seconds"] / runs[small]["seconds"]
    print(f"scale: {large:,} records took {ratio:.2f} x the time of {small:,} ({large / small:g} x the records; "
          f"target <= {TARGET:g})", flush=True)
    return {"workers": workers, "by_records": {str(k): v for k, v in runs.items()},
            "ratio_time_large_to_small": round(ratio, 2), "records_ratio": large / small,
            "holds": ratio <= TARGET, "target": f"<= {TARGET:g}"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, nargs="+", default=list(DEFAULT_RECORDS))
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--work", help="a folder holding (or to hold) the generated files; kept")
    args = parser.parse_args(argv)
    work = args.work or tempfile.mkdtemp(prefix="records-migration-bench-scale-")
    try:
        print(json.dumps(bench_scale(work, tuple(args.records), args.workers), indent=2))
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
