"""What a spec's "fixed_width" section says about a file: its record layouts, and which records the run takes.

A section either writes the layout out by hand (offset, PIC and usage per
field) or names a COBOL copybook beside the spec (docs/fixed-width.md):

    {"copybook": "claim.cpy", "record": "CLAIM-RECORD", "fields": {"CLM_NO": "CLAIM-NUMBER"}}

A file may hold several kinds of record that redefine one another (a header,
details, a trailer): a `discriminator` names the field that tells them apart
and, per value, the copybook record that lays it out and its role:

- "data": the run's own records, mapped through the spec (one such kind);
- "skip": records the run passes over (counted in no counter);
- "control": a header or trailer that may state the number of data records
  (`count`) and sums of their fields (`sums`); the run checks them and fails
  with both figures when they differ.

A record whose discriminator has no entry is an error with its record number,
never read with a wrong layout. Everything is checked when the spec loads;
any mistake raises SpecError naming the spec, the copybook and the field.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from chalicelib.errors import SpecError
from chalicelib.inputs.fixed.copybook import layout_rows, parse_copybook
from chalicelib.inputs.fixed.layout import FieldLayout, RecordLayout
from chalicelib.inputs.fixed.pictures import PictureError, normalise_usage, parse_picture

HAND_KEYS = {"record_length", "fields", "description"}
HAND_FIELD_KEYS = {"source", "offset", "length", "pic", "usage", "description"}
COPYBOOK_KEYS = {"copybook", "record", "fields", "record_length", "discriminator", "description"}
KIND_KEYS = {"record", "role", "count", "sums", "description"}
ROLES = ("data", "skip", "control")


@dataclass(frozen=True)
class RecordKind:
    value: str                    # the discriminator's value, as text without trailing blanks
    layout: RecordLayout
    role: str                     # one of ROLES
    count: FieldLayout | None = None                          # control: the number of data records
    sums: tuple[tuple[FieldLayout, FieldLayout], ...] = ()    # control: (data field, field holding its sum)


@dataclass(frozen=True)
class FileLayout:
    data: RecordLayout                        # the layout of the run's own records
    columns: tuple[FieldLayout, ...]          # the data layout's field for each spec source field, in spec order
    names: tuple[str, ...]                    # the spec's source field names, in spec order
    record_length: int                        # bytes of a fixed-length record: the longest kind
    discriminator: FieldLayout | None = None
    kinds: dict[str, RecordKind] | None = None

    @property
    def binary(self) -> bool:
        return any(f.binary for f in self.data.fields)

    def describe(self) -> dict:
        """The layout the service understood, for people to hold against the mainframe's compile
        listing: the record, and each spec source field with the copybook field it is read from."""
        mapped = RecordLayout(self.data.name, self.data.length, self.columns)
        described = {"record": self.data.name, "record_length": self.record_length,
                     "fields": [{"source": name, **row} for name, row in zip(self.names, layout_rows(mapped))]}
        odo = self.data.depending_on
        if odo is not None:
            described["depending_on"] = {"counter": odo.counter, "minimum": odo.minimum, "maximum": odo.maximum,
                                         "offset": odo.offset, "element_length": odo.element_length}
        if self.discriminator is not None:
            described["discriminator"] = {
                "field": self.discriminator.name, "offset": self.discriminator.offset,
                "length": self.discriminator.length,
                "kinds": [{"value": k.value, "record": k.layout.name, "role": k.role,
                           **({"count": k.count.name} if k.count else {}),
                           **({"sums": {d.name: c.name for d, c in k.sums}} if k.sums else {})}
                          for k in self.kinds.values()]}
        return described


def load_file_layout(spec_name: str, raw: Any, source_fields: list[str], spec_dir: str) -> FileLayout:
    """Check a spec's "fixed_width" section; raise SpecError naming the file and the field."""
    where = f"{spec_name}: fixed_width"
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: must be an object with 'copybook', or 'record_length' and 'fields'")
    if "copybook" in raw:
        return _from_copybook(where, raw, source_fields, spec_dir)
    return _by_hand(where, raw, source_fields)


# ------------------------------------------------------------------ written out by hand

def _by_hand(where: str, raw: dict, source_fields: list[str]) -> FileLayout:
    _no_unknown(where, raw, HAND_KEYS)
    record_length = raw.get("record_length")
    if not _is_int(record_length) or record_length < 1:
        raise SpecError(f"{where}: 'record_length' must be a whole number of bytes, at least 1")
    fields = raw.get("fields")
    if not isinstance(fields, list) or not fields:
        raise SpecError(f"{where}: 'fields' must be a non-empty list")
    loaded = [_hand_field(where, i, f, record_length) for i, f in enumerate(fields)]
    seen: set[str] = set()
    for f in loaded:
        if f.name in seen:
            raise SpecError(f"{where}: field {f.name!r} appears twice")
        seen.add(f.name)
        if f.name not in source_fields:
            raise SpecError(f"{where}: field {f.name!r} is not one of the spec's source fields")
    by_offset = sorted(loaded, key=lambda f: f.offset)
    for a, b in zip(by_offset, by_offset[1:]):
        if b.offset < a.offset + a.length:
            raise SpecError(f"{where}: fields {a.name!r} (bytes {a.offset}-{a.offset + a.length - 1}) and "
                            f"{b.name!r} (bytes {b.offset}-{b.offset + b.length - 1}) overlap")
    missing = [s for s in source_fields if s not in seen]
    if missing:
        raise SpecError(f"{where}: source field{'s' if len(missing) > 1 else ''} missing from the layout: "
                        f"{', '.join(missing)}")
    order = {s: i for i, s in enumerate(source_fields)}
    columns = tuple(sorted(loaded, key=lambda f: order[f.name]))
    layout = RecordLayout("RECORD", record_length, columns)
    return FileLayout(layout, columns, tuple(source_fields), record_length)


def _hand_field(where: str, index: int, raw: Any, record_length: int) -> FieldLayout:
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: fields[{index}] must be an object")
    source = raw.get("source")
    here = f"{where}: field {source if isinstance(source, str) and source else index!r}"
    _no_unknown(here, raw, HAND_FIELD_KEYS)
    if not isinstance(source, str) or not source:
        raise SpecError(f"{here}: needs a 'source'")
    offset = raw.get("offset")
    if not _is_int(offset) or offset < 0:
        raise SpecError(f"{here}: 'offset' must be a whole number of bytes from the record's start (0-based)")
    pic = raw.get("pic")
    usage_raw = raw.get("usage", "DISPLAY")
    usage = normalise_usage(usage_raw) if isinstance(usage_raw, str) else None
    if usage is None:
        raise SpecError(f"{here}: usage {usage_raw!r} is not supported (supported: DISPLAY, COMP-3, COMP, "
                        f"COMP-4, BINARY, COMP-5, COMP-1, COMP-2)")
    if usage not in ("COMP-1", "COMP-2") and (not isinstance(pic, str) or not pic.strip()):
        raise SpecError(f"{here}: needs a 'pic' such as X(10), 9(8), S9(7)V99")
    try:
        picture = parse_picture(pic, usage)
    except PictureError as err:
        raise SpecError(f"{here}: {err}") from None
    length = raw.get("length", picture.length)
    if not _is_int(length) or length < 1:
        raise SpecError(f"{here}: 'length' must be a whole number of bytes, at least 1")
    if length != picture.length:
        raise SpecError(f"{here}: PIC {picture.pic}{'' if usage == 'DISPLAY' else ' ' + usage} takes "
                        f"{picture.length} byte{'s' if picture.length > 1 else ''}, not length {length}")
    if offset + length > record_length:
        raise SpecError(f"{here}: bytes {offset}-{offset + length - 1} run past the record length "
                        f"{record_length}")
    return FieldLayout(source, offset, length, picture.pic, usage, picture.category, picture.signed,
                       picture.digits, picture.scale, edit_mask=picture.edit_mask)


# ------------------------------------------------------------------ from a copybook

def _from_copybook(where: str, raw: dict, source_fields: list[str], spec_dir: str) -> FileLayout:
    _no_unknown(where, raw, COPYBOOK_KEYS)
    name = raw["copybook"]
    if not isinstance(name, str) or not name or os.path.basename(name) != name:
        raise SpecError(f"{where}: 'copybook' must name a file beside the spec, not {name!r}")
    try:
        with open(os.path.join(spec_dir, name), encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError(f"{where}: copybook {name!r} cannot be read: {type(err).__name__}") from None
    records = parse_copybook(text, name).records
    where = f"{where}: copybook {name}"
    kinds_raw = raw.get("discriminator")
    data_name = raw.get("record")
    if kinds_raw is not None:
        discriminator, kinds = _kinds(where, kinds_raw, records)
        data_kinds = [k for k in kinds.values() if k.role == "data"]
        if len(data_kinds) != 1:
            raise SpecError(f"{where}: discriminator: exactly one kind must have the role 'data', "
                            f"not {len(data_kinds)} (a file of several record types is run once per type)")
        if data_name is not None and data_name != data_kinds[0].layout.name:
            raise SpecError(f"{where}: 'record' {data_name!r} is not the record of the 'data' kind")
        data = data_kinds[0].layout
    else:
        discriminator, kinds = None, None
        data = _record(where, records, data_name)
    mapping = raw.get("fields", {})
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        raise SpecError(f"{where}: 'fields' must map spec source fields to copybook field names")
    for source in mapping:
        if source not in source_fields:
            raise SpecError(f"{where}: fields: {source!r} is not one of the spec's source fields")
    by_name = {f.name: f for f in data.fields}
    columns = []
    for source in source_fields:
        wanted = mapping.get(source, source)
        field = by_name.get(wanted) or (None if source in mapping else by_name.get(wanted.replace("_", "-")))
        if field is None:
            raise SpecError(f"{where}: source field {source!r}: no field {wanted!r} in record {data.name} "
                            f"(map it with 'fields')")
        columns.append(field)
    lengths = [data.length] + [k.layout.length for k in (kinds or {}).values()]
    record_length = raw.get("record_length", max(lengths))
    if not _is_int(record_length) or record_length < max(lengths):
        raise SpecError(f"{where}: 'record_length' must be a whole number of bytes, at least the longest "
                        f"record's {max(lengths)}")
    return FileLayout(data, tuple(columns), tuple(source_fields), record_length, discriminator, kinds)


def _record(where: str, records: dict[str, RecordLayout], name: Any) -> RecordLayout:
    if name is None:
        if len(records) != 1:
            raise SpecError(f"{where}: the copybook has {len(records)} records ({', '.join(records)}): "
                            f"say which with 'record'")
        return next(iter(records.values()))
    if name not in records:
        raise SpecError(f"{where}: no record {name!r} (records: {', '.join(records)})")
    return records[name]


def _kinds(where: str, raw: Any, records: dict[str, RecordLayout]) -> tuple[FieldLayout, dict[str, RecordKind]]:
    here = f"{where}: discriminator"
    if not isinstance(raw, dict) or set(raw) - {"field", "kinds", "description"} or "kinds" not in raw:
        raise SpecError(f"{here}: must be {{\"field\": name, \"kinds\": {{value: {{\"record\": ..., \"role\": ...}}}}}}")
    field_name = raw.get("field")
    kinds_raw = raw["kinds"]
    if not isinstance(kinds_raw, dict) or not kinds_raw:
        raise SpecError(f"{here}: 'kinds' must map each value of {field_name!r} to its record")
    discriminator = None
    kinds: dict[str, RecordKind] = {}
    for value, kind in kinds_raw.items():
        at = f"{here}: kind {value!r}"
        if not isinstance(kind, dict):
            raise SpecError(f"{at}: must be an object with 'record' and 'role'")
        _no_unknown(at, kind, KIND_KEYS)
        layout = _record(at, records, kind.get("record"))
        role = kind.get("role", "data")
        if role not in ROLES:
            raise SpecError(f"{at}: role must be one of {', '.join(ROLES)}, not {role!r}")
        try:
            placed = layout.field(field_name) if isinstance(field_name, str) else None
        except KeyError:
            placed = None
        if placed is None or placed.category == "float":
            raise SpecError(f"{at}: record {layout.name} has no text, zoned, packed or binary field "
                            f"{field_name!r} to tell kinds apart")
        if discriminator is None:
            discriminator = placed
        elif (placed.offset, placed.length) != (discriminator.offset, discriminator.length):
            raise SpecError(f"{at}: {field_name!r} sits at bytes {placed.offset}-{placed.offset + placed.length - 1}"
                            f" in {layout.name}, elsewhere in the other records")
        if role != "control" and ("count" in kind or "sums" in kind):
            raise SpecError(f"{at}: 'count' and 'sums' belong to control records")
        kinds[str(value).rstrip(" ")] = RecordKind(str(value).rstrip(" "), layout, role,
                                                   _numeric(at, layout, kind.get("count")), ())
    data = next((k.layout for k in kinds.values() if k.role == "data"), None)
    for value, kind in kinds_raw.items():
        sums = kind.get("sums") if isinstance(kind, dict) else None
        if sums is None:
            continue
        at = f"{here}: kind {value!r}: sums"
        if not isinstance(sums, dict) or not sums or data is None:
            raise SpecError(f"{at}: must map data fields to the fields that hold their sums")
        control = kinds[str(value).rstrip(" ")]
        pairs = tuple((_numeric(at, data, d), _numeric(at, control.layout, c)) for d, c in sums.items())
        kinds[control.value] = RecordKind(control.value, control.layout, control.role, control.count, pairs)
    return discriminator, kinds


def _numeric(where: str, layout: RecordLayout, name: Any) -> FieldLayout | None:
    if name is None:
        return None
    try:
        field = layout.field(name) if isinstance(name, str) else None
    except KeyError:
        field = None
    if field is None or not field.numeric:
        raise SpecError(f"{where}: record {layout.name} has no numeric field {name!r}")
    return field


def _no_unknown(where: str, raw: dict, allowed: set[str]) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise SpecError(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
