"""`python -m bench.stages FILE [--fixed-width]`: where the worker path's time goes, stage by stage.

Every chunk of the file is planned and processed as bench.chunk_work does it (what `Worker.process_chunk`
does in file mode, minus the AWS calls), with each stage timed apart, in CPU seconds of this process (a
shared machine's load stretches wall time, not CPU time):

read       the chunk's bytes to a frame of text columns (pandas' parser, or the fixed-width decoder)
map        map, validate and transform the records into JSON Lines (chalicelib.records.mapping)
encode     the documents' text to UTF-8 bytes
write      the documents' part and the error report's part written
totals     the chunk's record counts and control totals (chalicelib.records.totals)

`--fixed-width` reads the file as the fixed-width bench writes it (EBCDIC cp037, packed and binary fields).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections import Counter

from chalicelib.delivery import write_error_part
from chalicelib.inputs import plan_file
from chalicelib.inputs.files import read_records
from chalicelib.models import InputFormat
from chalicelib.records import load_specs
from chalicelib.records.mapping import transform
from chalicelib.records.totals import chunk_totals
from chalicelib.storage import LocalFile

CHUNK_RECORDS = 25_000
CHUNK_BYTES = 16 * 1024 * 1024
EBCDIC = InputFormat(type="fixed_width", header=False, encoding="cp037", record_separator="none")


def stage_seconds(path: str, fmt: InputFormat, record_type: str = "disability") -> dict:
    """CPU seconds by stage over every chunk of the file, and the records read."""
    spec = load_specs()[record_type]
    source = LocalFile(path, os.path.basename(path))
    out_dir = tempfile.mkdtemp(prefix="records-migration-stages-")
    output = LocalFile(out_dir, "out")
    seconds: Counter = Counter()
    records = 0
    try:
        clock = time.process_time()
        plan = plan_file(source, fmt, spec, CHUNK_RECORDS, CHUNK_BYTES)
        seconds["plan"] += time.process_time() - clock
        for number, chunk in enumerate(plan.chunks, start=1):
            data = source.read_range(chunk.start, chunk.end)
            clock = time.process_time()
            read = read_records(data, plan.header, fmt, spec, chunk.first_row)
            seconds["read"] += (now := time.process_time()) - clock
            result = transform(read.frame, spec, read.rows)
            seconds["map"] += (clock := time.process_time()) - now
            documents = result.documents.encode("utf-8")
            seconds["encode"] += (now := time.process_time()) - clock
            output.child(f"part-{number:06d}.jsonl").write_bytes(documents)
            if result.errors:
                write_error_part(output, number, result.errors)
            seconds["write"] += (clock := time.process_time()) - now
            chunk_totals(spec, read.frame, read.rows, len(read.malformed), result)
            seconds["totals"] += time.process_time() - clock
            records += len(read.frame) + len(read.malformed)
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    total = sum(seconds.values())
    return {"records": records, "cpu_seconds": round(total, 2),
            "stages": {name: {"seconds": round(s, 2), "share": f"{100 * s / total:.0f} %"}
                       for name, s in seconds.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stages", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file")
    parser.add_argument("--fixed-width", action="store_true")
    parser.add_argument("--record-type", default="disability")
    args = parser.parse_args(argv)
    fmt = EBCDIC if args.fixed_width else InputFormat()
    print(json.dumps(stage_seconds(args.file, fmt, args.record_type), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
