"""`python -m bench`: the service's speed, as ratios to baselines measured in the same run.

These machines are shared and noisy, so every figure is paired with a baseline
measured in the same process, interleaved with it, and the best of the rounds
is kept for each side. Each timed section also prints the load before and after it and
the share of CPU time the hypervisor gave to other machines meanwhile (bench/machine.py).

worker   (a) worker path alone (plan, ranged read, map, validate, write JSON
         Lines and error reports, control totals: bench.chunk_work), one core,
         vs bare pandas `read_csv` + `to_json(lines=True)`;
stack    (b) the same file end to end through the local stack in file mode,
         vs (a)'s bare pandas time; (c) trigger latency, tiny vs big file;
fixed    fixed-width EBCDIC with packed decimals, one core, vs bare pandas on
         the CSV of the same records;
delivery batched concurrent delivery at 20 ms a call vs one record per call;
         a run in api mode while the target throttles, fails and drops
         connections: every record must land exactly once.
cancel   seconds from an accepted cancel to the target's last new record
         (tests no longer assert it: see bench/responsiveness.py);
planning planning 130 MB of fixed-width records (likewise); a 2 GB CSV planned
         by one planner (MB/s on one core, with and without SHA-256) and on the
         local stack by 1 and 2 workers, the plan fanned out (target: 2 workers
         >= 1.7x faster; bench/planning.py). --planning-bytes shrinks the file.
coldstart the API's import in a fresh interpreter (target < 0.3 s) vs the same
         import with the worker path, as every function imported it before.
memory   a worker's peak RSS over every chunk of a 1M- and a 10M-record file,
         each in a fresh process (target: within 10 %; bench/memory.py);
scale    the same two files through the local stack in file mode, exact
         counters checked (target: 10M within 11x of 1M; bench/scale.py).
         --scale-records SMALL LARGE tries them small.
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

from bench.chunk_work import process_chunk_data
from bench.machine import cpu_seconds, watched
from chalicelib.inputs import plan_file
from chalicelib.models import InputFormat
from chalicelib.records import load_specs
from chalicelib.storage import LocalFile
from datagen.legacy_files import write_legacy_file
from local_stack.child import start_stack

CHUNK_RECORDS = 25_000
CHUNK_BYTES = 16 * 1024 * 1024
SECTIONS = ("worker", "stack", "fixed", "delivery", "cancel", "planning", "coldstart", "memory", "scale")
BIG, TINY = "data/input/bench_disability.csv", "data/input/tiny_disability.csv"


def bare_pandas(path: str, out: str) -> float:
    started = time.perf_counter()
    pd.read_csv(path).to_json(out, orient="records", lines=True)
    return time.perf_counter() - started


def worker_path(path: str, out_dir: str, record_type: str = "disability") -> float:
    """What the worker does to a file, minus the AWS calls: plan it, then every chunk in turn as
    `Worker.process_chunk` does (map, validate, write the parts, take the control totals)."""
    spec = load_specs()[record_type]
    source = LocalFile(path, os.path.basename(path))
    output = LocalFile(out_dir, "out")
    started = time.perf_counter()
    plan = plan_file(source, InputFormat(), spec, CHUNK_RECORDS, CHUNK_BYTES)
    for number, chunk in enumerate(plan.chunks, start=1):
        process_chunk_data(output, number, source.read_range(chunk.start, chunk.end), plan.header, InputFormat(),
                           spec, chunk.first_row)
    return time.perf_counter() - started


def bench_worker(work: str, records: int, rounds: int) -> dict:
    big = os.path.join(work, BIG)
    baseline, ours = [], []
    for round_ in range(rounds):
        baseline.append(cpu_seconds(bare_pandas, big, os.path.join(work, "baseline.jsonl")))
        out = os.path.join(work, f"worker-out-{round_}")
        ours.append(cpu_seconds(worker_path, big, out))
        shutil.rmtree(out)
        print(f"  round {round_ + 1}: bare pandas {baseline[-1][0]:.2f}s (user {baseline[-1][1]:.2f}s, system "
              f"{baseline[-1][2]:.2f}s), worker path {ours[-1][0]:.2f}s (user {ours[-1][1]:.2f}s, system "
              f"{ours[-1][2]:.2f}s)", flush=True)
    (base_s, base_user, base_sys), (ours_s, ours_user, ours_sys) = min(baseline), min(ours)
    print(f"(a) worker path {records / ours_s:,.0f} records/s vs bare pandas {records / base_s:,.0f} records/s: "
          f"ratio {base_s / ours_s:.2f} (target >= 2.0); of user CPU time alone {base_user / ours_user:.2f} "
          f"(bare pandas' time is {100 * base_sys / (base_user + base_sys):.0f} % system time: page faults, "
          f"whose cost varies with the machine)", flush=True)
    return {"bare_pandas_seconds": round(base_s, 2), "bare_pandas_records_per_s": round(records / base_s),
            "worker_path_seconds": round(ours_s, 2), "worker_path_records_per_s": round(records / ours_s),
            "ratio_worker_to_pandas_throughput": round(base_s / ours_s, 2), "target": ">= 2.0",
            "bare_pandas_user_system_seconds": [round(base_user, 2), round(base_sys, 2)],
            "worker_path_user_system_seconds": [round(ours_user, 2), round(ours_sys, 2)],
            "ratio_of_user_cpu_seconds": round(base_user / ours_user, 2)}


def trigger_latency(stack, path: str, rounds: int) -> list[float]:
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        answer = stack.trigger(file_path=path, record_type="disability", output_mode="file",
                               output_dir="bench-output")
        timings.append(time.perf_counter() - started)
        stack.cancel(answer["run_id"])  # the runs exist only to be timed
    return timings


def bench_stack(work: str, records: int, workers: int, bare_pandas_s: float) -> dict:
    # (c) on a stack with no workers: the runs stay pending, so no planner
    # competes with the API for the CPU while it is timed.
    stack = start_stack(work, os.path.join(work, "latency-stack.log"), workers=0)
    try:
        trigger_latency(stack, TINY, 5)  # warm up the API's clients
        tiny_l, big_l = [], []
        for _ in range(20):
            tiny_l += trigger_latency(stack, TINY, 1)
            big_l += trigger_latency(stack, BIG, 1)
    finally:
        stack.stop()
    tiny_ms, big_ms = statistics.median(tiny_l) * 1000, statistics.median(big_l) * 1000
    quartiles = statistics.quantiles(tiny_l, n=4)
    c = {"tiny_median_ms": round(tiny_ms, 1), "big_median_ms": round(big_ms, 1),
         "ratio_big_to_tiny": round(big_ms / tiny_ms, 2),
         "tiny_interquartile_ms": [round(quartiles[0] * 1000, 1), round(quartiles[2] * 1000, 1)],
         "target": "equal within noise"}
    print(f"(c) trigger latency: tiny file {tiny_ms:.1f} ms, {records:,}-record file {big_ms:.1f} ms "
          f"(medians of 20; tiny's interquartile range {c['tiny_interquartile_ms']} ms)", flush=True)

    stack = start_stack(work, os.path.join(work, "local-stack.log"), workers=workers)
    try:
        started = time.perf_counter()
        answer = stack.trigger(file_path=BIG, record_type="disability", output_mode="file",
                               output_dir="bench-output", max_error_rate=0.5)
        status = stack.wait_until_finished(answer["run_id"], timeout=1800, poll=0.1)
        elapsed = time.perf_counter() - started
    finally:
        stack.stop()
    progress = status["progress"]
    assert status["status"] == "completed", status
    assert progress["processed_records"] == progress["total_records"] == records, progress
    print(f"(b) end to end through the local stack ({workers} workers): {elapsed:.2f}s, "
          f"{elapsed / bare_pandas_s:.2f} x bare pandas (target <= 1.5); "
          f"{progress['success_count']:,} written, {progress['error_count']:,} rejected", flush=True)
    b = {"end_to_end_seconds": round(elapsed, 2), "workers": workers,
         "ratio_to_bare_pandas_time": round(elapsed / bare_pandas_s, 2), "target": "<= 1.5",
         "success": progress["success_count"], "errors": progress["error_count"]}
    return {"b": b, "c": c}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds of the one-core figures")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--planning-bytes", type=int, default=2_000_000_000,
                        help="the size of the CSV the planning section plans (made once, in the temp folder)")
    parser.add_argument("--scale-records", type=int, nargs=2, default=[1_000_000, 10_000_000],
                        metavar=("SMALL", "LARGE"), help="the two files of the memory and scale sections")
    args = parser.parse_args(argv)

    work = tempfile.mkdtemp(prefix="records-migration-bench-")
    results: dict = {"records": args.records, "cpu_count": os.cpu_count()}
    try:
        os.makedirs(os.path.join(work, "data", "input"))
        started = time.perf_counter()
        invalid = write_legacy_file("disability", os.path.join(work, BIG), args.records, seed=11)
        write_legacy_file("disability", os.path.join(work, TINY), 10, seed=12)
        print(f"generated {args.records:,} records ({invalid:,} invalid), "
              f"{os.path.getsize(os.path.join(work, BIG)) / 1e6:.0f} MB, in {time.perf_counter() - started:.1f}s",
              flush=True)
        if "worker" in args.only or "stack" in args.only:
            with watched("worker", results):
                results["a"] = bench_worker(work, args.records, args.rounds)
        if "stack" in args.only:
            with watched("stack", results):
                results.update(bench_stack(work, args.records, args.workers, results["a"]["bare_pandas_seconds"]))
        if "fixed" in args.only:
            from bench.fixed_width import bench_fixed_width
            with watched("fixed", results):
                results["fixed_width"] = bench_fixed_width(work, args.records, args.rounds)
            print(f"fixed width: {json.dumps(results['fixed_width'])}", flush=True)
        if "delivery" in args.only:
            from bench.delivery import delivery_rate, delivery_under_faults
            results["delivery_rate"] = rate = delivery_rate(records=100_000, naive_records=200)
            print(f"delivery at {rate['latency_ms']} ms a call: {rate['records_per_s']:,} records/s in batches of "
                  f"{rate['batch_size']} ({rate['calls_in_flight']} in flight) vs {rate['naive_records_per_s']} "
                  f"records/s one per call: ratio {rate['ratio']} (target >= 50)", flush=True)
            faulty = os.path.join(work, "data", "input", "bench_faults.csv")
            write_legacy_file("disability", faulty, min(args.records, 200_000), seed=13)
            results["delivery_under_faults"] = f = delivery_under_faults(
                work, "data/input/bench_faults.csv", args.workers)
            print(f"under faults: {f['status']} in {f['seconds']}s; {f['total_records']:,} records, "
                  f"{f['success_count']:,} delivered = target's distinct {f['target_distinct_records']:,}, "
                  f"{f['error_count']:,} rejected; {f['target_calls']:,} calls, {f['throttled']} throttled, "
                  f"{f['server_errors']} 5xx, {f['dropped']} dropped, {f['duplicate_calls']} duplicates dropped "
                  f"by key; exactly once: {f['exactly_once']}", flush=True)
        if "cancel" in args.only:
            from bench.responsiveness import cancel_stop_seconds
            results["cancel"] = c = cancel_stop_seconds(work)
            print(f"cancel: the target's last record came {c['median_stop_seconds']}s after the cancel (median "
                  f"of {len(c['stop_seconds'])}; target < 2.5 s)", flush=True)
        if "planning" in args.only:
            from bench.responsiveness import planning_seconds
            results["planning"] = planning_seconds(args.rounds)
            from bench.planning import bench_planning
            with watched("planning_fan_out", results):
                results["planning_fan_out"] = bench_planning(work, args.planning_bytes, args.rounds)
        if "coldstart" in args.only:
            from bench.cold_start import bench_cold_start
            results["cold_start"] = bench_cold_start()
        if "memory" in args.only:
            from bench.memory import bench_memory
            results["memory"] = bench_memory(work, tuple(args.scale_records))
        if "scale" in args.only:
            from bench.scale import bench_scale
            with watched("scale", results):
                results["scale"] = bench_scale(work, tuple(args.scale_records), args.workers)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
