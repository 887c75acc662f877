"""Print the fixed-width layout the service understood, to hold against the mainframe's compile listing.

    python -m tools.layout claim                      # a record type's layout, as the service reads it
    python -m tools.layout --copybook claim.cpy       # every record of a copybook
    python -m tools.layout --copybook client.cpy --record CLIENT-RECORD --json

A copybook the service cannot read exactly is refused with the clause and the
line; the command exits 1 and prints that message.
"""
from __future__ import annotations

import argparse
import json
import sys

from chalicelib.errors import SpecError
from chalicelib.inputs.fixed.copybook import format_layout, layout_rows, parse_copybook
from chalicelib.records import load_specs

COLUMNS = ["source", "name", "position", "offset", "length", "pic", "usage", "sign", "depends"]
NUMBERS = {"position", "offset", "length"}


def table(rows: list[dict], columns: list[str]) -> str:
    cells = [[str(row.get(c, "")) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths)).rstrip()]
    lines += ["  ".join(v.rjust(w) if c in NUMBERS else v.ljust(w) for v, w, c in zip(r, widths, columns)).rstrip()
              for r in cells]
    return "\n".join(lines)


def describe_record_type(name: str, as_json: bool) -> str:
    specs = load_specs()
    if name not in specs:
        raise SystemExit(f"error: no record type {name!r} (record types: {', '.join(sorted(specs))})")
    if specs[name].layout is None:
        raise SystemExit(f"error: record type {name!r} has no fixed-width layout")
    described = specs[name].layout.describe()
    if as_json:
        return json.dumps({"record_type": name, **described}, indent=2)
    out = [f"{name}: record {described['record']}, {described['record_length']} bytes"]
    if "depending_on" in described:
        odo = described["depending_on"]
        out.append(f"OCCURS {odo['minimum']} TO {odo['maximum']} DEPENDING ON {odo['counter']}")
    out.append(table(described["fields"], COLUMNS))
    if "discriminator" in described:
        kinds = described["discriminator"]
        out.append(f"\nkinds, by {kinds['field']} (position {kinds['offset'] + 1}, {kinds['length']} bytes):")
        out.append(table(kinds["kinds"], ["value", "record", "role", "count", "sums"]))
    return "\n".join(out)


def describe_copybook(path: str, record: str | None, as_json: bool) -> str:
    with open(path, encoding="utf-8") as f:
        records = parse_copybook(f.read(), path).records
    if record is not None:
        if record not in records:
            raise SystemExit(f"error: no record {record!r} in {path} (records: {', '.join(records)})")
        records = {record: records[record]}
    if as_json:
        return json.dumps({name: {"length": r.length, "fields": layout_rows(r)} for name, r in records.items()},
                          indent=2)
    return "\n\n".join(format_layout(r) for r in records.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.layout", description=__doc__.split("\n\n")[0])
    parser.add_argument("record_type", nargs="?", help="a record type with a fixed-width layout")
    parser.add_argument("--copybook", help="a COBOL copybook file instead of a record type")
    parser.add_argument("--record", help="with --copybook: only this 01 record")
    parser.add_argument("--json", action="store_true", help="JSON instead of a table")
    args = parser.parse_args(argv)
    if bool(args.record_type) == bool(args.copybook):
        parser.error("name a record type or --copybook FILE")
    try:
        if args.copybook:
            print(describe_copybook(args.copybook, args.record, args.json))
        else:
            print(describe_record_type(args.record_type, args.json))
    except (SpecError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
