"""The shape of a fixed-width record as the reader sees it: where each field sits and how it is stored.

A `RecordLayout` comes from a COBOL copybook (`copybook.py`) or from a spec's
hand-written "fixed_width" section; the framing code finds records in a file,
and the decoding code turns each field's bytes into text using these
descriptions. Nothing here reads bytes.
"""
from __future__ import annotations

from dataclasses import dataclass, field

# Usages after normalisation: COMP-4 and BINARY are COMP; COMPUTATIONAL-n is COMP-n;
# PACKED-DECIMAL is COMP-3.
USAGES = ("DISPLAY", "COMP-3", "COMP", "COMP-5", "COMP-1", "COMP-2")


@dataclass(frozen=True)
class FieldLayout:
    """One elementary item of a record.

    `category` says how its bytes hold a value:
    - "alphanumeric": PIC X or A, text in the file's code page;
    - "numeric": PIC 9, S, V, P in any usage but COMP-1/COMP-2;
    - "edited": a numeric-edited PIC (Z * + - CR DB . , $ B 0 /), DISPLAY only;
    - "float": COMP-1 (4 bytes) or COMP-2 (8 bytes), IBM hexadecimal floating point, no PIC.

    A numeric value is the unsigned integer its digits spell, times 10 ** -scale,
    negated when the sign says so. `scale` is the count of digit positions after
    the implied point V, P positions included: PIC 9(3)V99 has scale 2, PIC 99PPP
    (the value of 12 is 12000) has scale -3, PIC VPP99 (the value of 12 is 0.0012)
    has scale 4.
    """

    name: str                   # the source field name: the copybook's data name, "NAME(1)" in an OCCURS
    offset: int                 # 0-based, in bytes from the record's start
    length: int                 # in bytes
    pic: str = ""               # normalised: upper case, no spaces ("" for COMP-1 and COMP-2)
    usage: str = "DISPLAY"      # one of USAGES
    category: str = "alphanumeric"
    signed: bool = False        # the PIC has S (or, for edited pictures, a sign symbol)
    digits: int = 0             # digit positions (9, Z, *, floating symbols that stand for digits), P not included
    scale: int = 0
    sign_leading: bool = False  # SIGN IS LEADING; trailing otherwise
    sign_separate: bool = False  # SIGN ... SEPARATE CHARACTER: one byte more, '+' or '-'
    edit_mask: str = ""         # edited pictures: the PIC written out, one symbol per byte ("ZZ,ZZ9.99CR")
    present_if: tuple[str, int] | None = None  # in an OCCURS DEPENDING ON table: (counter field, occurrence)

    @property
    def numeric(self) -> bool:
        return self.category != "alphanumeric"

    @property
    def packed(self) -> bool:
        return self.usage == "COMP-3"

    @property
    def binary(self) -> bool:
        """Whether the field's bytes may take any value, newline bytes included."""
        return self.usage in ("COMP-3", "COMP", "COMP-5", "COMP-1", "COMP-2")


@dataclass(frozen=True)
class DependingOn:
    """An OCCURS DEPENDING ON table at the end of a record: the record's length depends on its counter."""

    counter: str                # the name of the field that holds the number of occurrences
    minimum: int
    maximum: int
    offset: int                 # where the first occurrence starts
    element_length: int         # bytes per occurrence


@dataclass(frozen=True)
class RecordLayout:
    """One record layout (a copybook's 01 level): its fields in the copybook's order."""

    name: str
    length: int                 # bytes; with a DependingOn table, the length at its maximum
    fields: tuple[FieldLayout, ...]
    depending_on: DependingOn | None = None
    # 88-level condition names per field: {field name: {condition name: (values...)}}
    conditions: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def binary(self) -> bool:
        return any(f.binary for f in self.fields)

    def field(self, name: str) -> FieldLayout:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def min_length(self) -> int:
        odo = self.depending_on
        return self.length if odo is None else odo.offset + odo.minimum * odo.element_length
