"""The worker path on fixed-width EBCDIC records with packed and binary fields, beside bare pandas.

One file of disability records is written twice from the same seed: as EBCDIC
(cp037) fixed-width records without separators, its weekly amounts packed
(COMP-3), and as the CSV export of the same records. The worker path reads the
fixed-width file exactly as a worker does (plan the file, read each chunk's
byte range, decode the records, map and validate them, write JSON Lines and
error reports, take the control totals: bench.chunk_work); the baseline is
bare pandas on the CSV (`read_csv` + `to_json(orient="records", lines=True)`),
which is what one would write without the service. Both run in this one
process, on one core, interleaved round by round; the best round of each is
kept (shared machines are noisy). Target: a ratio of at least 2.0 (issue 13).

`python -m bench.fixed_width [--records N] [--rounds R]` prints the figures
as JSON; `bench_fixed_width` returns them.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

import pandas as pd

from bench.chunk_work import process_chunk_data
from bench.machine import cpu_seconds
from chalicelib.inputs import plan_file
from chalicelib.models import InputFormat
from chalicelib.records import load_specs
from chalicelib.storage import LocalFile
from datagen.fixed_width import write_fixed_width_file
from datagen.legacy_files import write_legacy_file

CHUNK_RECORDS = 25_000
CHUNK_BYTES = 16 * 1024 * 1024
RECORD_TYPE = "disability"
SEED = 11
EBCDIC = InputFormat(type="fixed_width", header=False, encoding="cp037", record_separator="none")


def bare_pandas(csv_path: str, out: str) -> float:
    started = time.perf_counter()
    pd.read_csv(csv_path).to_json(out, orient="records", lines=True)
    return time.perf_counter() - started


def worker_path(path: str, out_dir: str, fmt: InputFormat = EBCDIC) -> tuple[float, float, int]:
    """What a worker does to a file, minus the AWS calls, every chunk in turn:
    (wall seconds, CPU seconds, records written)."""
    spec = load_specs()[RECORD_TYPE]
    source = LocalFile(path, os.path.basename(path))
    output = LocalFile(out_dir, "out")
    written = 0
    started, cpu = time.perf_counter(), time.process_time()
    plan = plan_file(source, fmt, spec, CHUNK_RECORDS, CHUNK_BYTES)
    for number, chunk in enumerate(plan.chunks, start=1):
        mapped = process_chunk_data(output, number, source.read_range(chunk.start, chunk.end), plan.header, fmt,
                                    spec, chunk.first_row)
        written += mapped.result.document_count
    return time.perf_counter() - started, time.process_time() - cpu, written


def bench_fixed_width(work_dir: str, records: int = 1_000_000, rounds: int = 2) -> dict:
    """Records/s on one core of the worker path on EBCDIC packed-decimal records, and of bare
    pandas on the CSV of the same records, measured in the same run."""
    os.makedirs(work_dir, exist_ok=True)
    fixed = os.path.join(work_dir, "bench_disability_cp037.dat")
    csv_path = os.path.join(work_dir, "bench_disability_same_records.csv")
    started = time.perf_counter()
    invalid = write_fixed_width_file(RECORD_TYPE, fixed, records, encoding="cp037", separator="none", seed=SEED)
    generated = time.perf_counter() - started
    write_legacy_file(RECORD_TYPE, csv_path, records, seed=SEED)
    print(f"fixed width: {records:,} EBCDIC records with packed amounts and binary dates ({invalid:,} invalid), "
          f"{os.path.getsize(fixed) / 1e6:.0f} MB, generated in {generated:.1f}s; the same records as CSV, "
          f"{os.path.getsize(csv_path) / 1e6:.0f} MB", flush=True)

    baseline, ours, cpu, written = [], [], [], 0
    for round_ in range(rounds):
        baseline.append(cpu_seconds(bare_pandas, csv_path, os.path.join(work_dir, "baseline.jsonl")))
        out = os.path.join(work_dir, f"fixed-width-out-{round_}")
        (seconds, process_seconds, written), user, system = cpu_seconds(worker_path, fixed, out)
        shutil.rmtree(out)
        ours.append((seconds, user, system))
        cpu.append(process_seconds)
        print(f"  round {round_ + 1}: bare pandas (CSV) {baseline[-1][0]:.2f}s (user {baseline[-1][1]:.2f}s, "
              f"system {baseline[-1][2]:.2f}s), worker path (EBCDIC, packed, binary) {seconds:.2f}s (user "
              f"{user:.2f}s, system {system:.2f}s)", flush=True)
    os.remove(os.path.join(work_dir, "baseline.jsonl"))
    (base_s, base_user, base_sys), (ours_s, ours_user, ours_sys) = min(baseline), min(ours)
    results = {
        "records": records, "record_type": RECORD_TYPE,
        "input": "EBCDIC (cp037) fixed-width, no separators, weekly amounts packed (COMP-3 S9(7)V99), two dates "
                 "binary (PIC 9(8) COMP)",
        "fixed_width_bytes": os.path.getsize(fixed), "csv_bytes": os.path.getsize(csv_path),
        "invalid_records": invalid, "documents_written": written,
        "bare_pandas_seconds": round(base_s, 2), "bare_pandas_records_per_s": round(records / base_s),
        "worker_path_seconds": round(ours_s, 2), "worker_path_records_per_s": round(records / ours_s),
        "worker_path_cpu_seconds": round(min(cpu), 2),
        "ratio_worker_to_pandas_throughput": round(base_s / ours_s, 2), "target": ">= 2.0",
        "bare_pandas_user_system_seconds": [round(base_user, 2), round(base_sys, 2)],
        "worker_path_user_system_seconds": [round(ours_user, 2), round(ours_sys, 2)],
        "ratio_of_user_cpu_seconds": round(base_user / ours_user, 2),
    }
    print(f"fixed width: worker path {records / ours_s:,.0f} records/s (EBCDIC, packed and binary) vs bare pandas "
          f"{records / base_s:,.0f} records/s (CSV of the same records): ratio {base_s / ours_s:.2f} (target >= 2.0); "
          f"of user CPU time alone {base_user / ours_user:.2f}", flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fixed_width", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds; best kept")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    args = parser.parse_args(argv)
    work = tempfile.mkdtemp(prefix="records-migration-bench-fixed-")
    try:
        print(json.dumps(bench_fixed_width(work, args.records, args.rounds), indent=2))
    finally:
        if args.keep:
            print(f"files kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
