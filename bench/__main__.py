"""`python -m bench`: the service's speed, as ratios to bare pandas in the same run.

These machines are shared and noisy, so every figure is paired with a baseline
measured in the same process, interleaved with it, and the best of the rounds
is kept for each side.

(a) worker path alone (plan, ranged read, map, validate, write JSON Lines) vs
    bare pandas `read_csv` + `to_json(orient="records", lines=True)`, in records/s;
(b) the same file end to end through the local stack in file mode, vs (a)'s
    bare pandas time;
(c) trigger latency for a tiny file and for the 1M-record file.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

import pandas as pd

from chalicelib.delivery import write_error_part, write_part
from chalicelib.planner import plan_delimited
from chalicelib.reader import read_chunk
from chalicelib.record_types import load_specs, transform
from chalicelib.storage import LocalFile
from datagen.legacy_files import write_legacy_file
from local_stack.child import start_stack

CHUNK_RECORDS = 25_000
CHUNK_BYTES = 16 * 1024 * 1024


def bare_pandas(path: str, out: str) -> float:
    started = time.perf_counter()
    pd.read_csv(path).to_json(out, orient="records", lines=True)
    return time.perf_counter() - started


def worker_path(path: str, out_dir: str, record_type: str = "disability") -> float:
    """What process_work does to a file, minus the AWS calls: every chunk in turn."""
    spec = load_specs()[record_type]
    source = LocalFile(path, os.path.basename(path))
    output = LocalFile(out_dir, "out")
    started = time.perf_counter()
    plan = plan_delimited(source.iter_blocks(), CHUNK_RECORDS, CHUNK_BYTES)
    for number, chunk in enumerate(plan.chunks, start=1):
        frame = read_chunk(source.read_range(chunk.start, chunk.end), plan.header, chunk.first_row)
        result = transform(frame.frame, spec, frame.rows)
        write_part(output, number, result.documents)
        if result.errors:
            write_error_part(output, number, [e.to_dict() for e in result.errors])
    return time.perf_counter() - started


def trigger_latency(stack, path: str, rounds: int) -> list[float]:
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        answer = stack.trigger(file_path=path, record_type="disability", output_mode="file",
                               output_dir="bench-output")
        timings.append(time.perf_counter() - started)
        stack.cancel(answer["run_id"])  # the runs exist only to be timed
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds of (a); best kept")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    args = parser.parse_args(argv)

    work = tempfile.mkdtemp(prefix="records-migration-bench-")
    results: dict = {"records": args.records, "cpu_count": os.cpu_count()}
    try:
        inputs = os.path.join(work, "data", "input")
        os.makedirs(inputs)
        big = os.path.join(inputs, "bench_disability.csv")
        tiny = os.path.join(inputs, "tiny_disability.csv")
        started = time.perf_counter()
        invalid = write_legacy_file("disability", big, args.records, seed=11)
        write_legacy_file("disability", tiny, 10, seed=12)
        print(f"generated {args.records:,} records ({invalid:,} invalid), "
              f"{os.path.getsize(big) / 1e6:.0f} MB, in {time.perf_counter() - started:.1f}s", flush=True)

        # (a) worker path vs bare pandas, interleaved
        baseline, ours = [], []
        for round_ in range(args.rounds):
            baseline.append(bare_pandas(big, os.path.join(work, "baseline.jsonl")))
            out = os.path.join(work, f"worker-out-{round_}")
            ours.append(worker_path(big, out))
            shutil.rmtree(out)
            print(f"  round {round_ + 1}: bare pandas {baseline[-1]:.2f}s, worker path {ours[-1]:.2f}s", flush=True)
        base_s, ours_s = min(baseline), min(ours)
        results["a"] = {
            "bare_pandas_seconds": round(base_s, 2), "bare_pandas_records_per_s": round(args.records / base_s),
            "worker_path_seconds": round(ours_s, 2), "worker_path_records_per_s": round(args.records / ours_s),
            "ratio_worker_to_pandas_throughput": round(base_s / ours_s, 2), "target": ">= 1.0"}
        print(f"(a) worker path {args.records / ours_s:,.0f} records/s vs bare pandas "
              f"{args.records / base_s:,.0f} records/s: ratio {base_s / ours_s:.2f} (target >= 1.0)", flush=True)

        rel_big, rel_tiny = "data/input/bench_disability.csv", "data/input/tiny_disability.csv"

        # (c) trigger latency, on a stack with no workers: the runs stay
        # pending, so no planner competes with the API for the CPU.
        stack = start_stack(work, os.path.join(work, "latency-stack.log"), workers=0)
        try:
            trigger_latency(stack, rel_tiny, 5)  # warm up the API's clients
            tiny_l, big_l = [], []
            for _ in range(20):
                tiny_l += trigger_latency(stack, rel_tiny, 1)
                big_l += trigger_latency(stack, rel_big, 1)
        finally:
            stack.stop()
        tiny_ms, big_ms = statistics.median(tiny_l) * 1000, statistics.median(big_l) * 1000
        spread = statistics.quantiles(tiny_l, n=4)
        results["c"] = {"tiny_median_ms": round(tiny_ms, 1), "big_median_ms": round(big_ms, 1),
                        "ratio_big_to_tiny": round(big_ms / tiny_ms, 2),
                        "tiny_interquartile_ms": [round(q * 1000, 1) for q in (spread[0], spread[2])],
                        "target": "equal within noise"}
        print(f"(c) trigger latency: tiny file {tiny_ms:.1f} ms, {args.records:,}-record file {big_ms:.1f} ms "
              f"(medians of 20; tiny's interquartile range {results['c']['tiny_interquartile_ms']} ms)",
              flush=True)

        # (b) end to end through the local stack
        stack = start_stack(work, os.path.join(work, "local-stack.log"), workers=args.workers)
        try:
            started = time.perf_counter()
            answer = stack.trigger(file_path=rel_big, record_type="disability", output_mode="file",
                                   output_dir="bench-output", max_error_rate=0.5)
            status = stack.wait_until_finished(answer["run_id"], timeout=1800, poll=0.1)
            elapsed = time.perf_counter() - started
            progress = status["progress"]
            assert status["status"] == "completed", status
            assert progress["processed_records"] == progress["total_records"] == args.records, progress
            results["b"] = {"end_to_end_seconds": round(elapsed, 2), "workers": args.workers,
                            "ratio_to_bare_pandas_time": round(elapsed / base_s, 2), "target": "<= 1.5",
                            "success": progress["success_count"], "errors": progress["error_count"]}
            print(f"(b) end to end through the local stack ({args.workers} workers): {elapsed:.2f}s, "
                  f"{elapsed / base_s:.2f} x bare pandas (target <= 1.5); "
                  f"{progress['success_count']:,} written, {progress['error_count']:,} rejected", flush=True)
        finally:
            stack.stop()
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
