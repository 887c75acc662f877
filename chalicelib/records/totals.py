"""Control totals of a chunk's records, exact to the last decimal: the arithmetic of the reconciliation report.

A record spec declares its control totals (`control_totals`, docs/record-specs.md): the sum of an amount field,
or the count of records per code of a code field. For each chunk the worker takes them of five groups:

- `source`: every record read, from the values as the file holds them (before mapping);
- `delivered`: the records the target took (api mode) or that were written (file mode), from the text of the
  documents themselves (each field's JSON fragment, the very text joined into the document);
- `validated`: a validate_only run's valid records, from the documents it would have delivered;
- `rejected`: records a rule or the target rejected, and records that could not be read, from their source;
- `not_processed`: records neither delivered nor rejected (a cancel stopped delivery; a chunk failed or was
  never processed), from their source.

source = delivered + validated + rejected + not_processed, for every total, or something was lost or made up.

Amounts are never binary floats: text is read as decimal digits into integers scaled by a power of ten, a
column at a time (numpy string functions), and summed as integers; the few values the fast path does not read
(an exponent, digits of another script) are read one by one with `decimal.Decimal`. The values the mapping
read already as JSON numbers (`Transformed.numbers`: exact integers and decimal places) are not read again.
A value that is not a number is counted as such (`not_a_number`) and left out of the sum on every side alike;
a record that could not be read at all has no fields, so it is in the record counts (`unreadable`) and in no
control total.
Blank values (and a field's none values) are counted as `blank`; where the field has a default, a blank is
that default, as the spec says. A code outside the field's table is counted as "(other)", never by its value,
so no source text reaches the report.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Context, Decimal, InvalidOperation
from json.encoder import encode_basestring
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from chalicelib.records.mapping import _split_sign
from chalicelib.records.shapes import PlainNumbers
from chalicelib.records.spec_models import NO_CODE, OTHER_CODE

if TYPE_CHECKING:
    from chalicelib.records.mapping import Transformed
    from chalicelib.records.schema import FieldSpec, RecordSpec

GROUPS = ("source", "delivered", "validated", "rejected", "not_processed")
NUMBER, BLANK, NOT_A_NUMBER = 0, 1, 2
DIGITS = "0123456789"
INT64_DIGITS = 18          # digits an int64 always holds
EXACT = Context(prec=200)  # wide enough that adding sums never rounds
_TEXT = np.dtypes.StringDType()


@dataclass
class Amounts:
    """A column of amounts, read exactly: what a group's sum is made of."""

    scaled: np.ndarray   # value * 10**scale, where `kind` is NUMBER and the fast path read it; else 0
    scale: int
    kind: np.ndarray     # NUMBER, BLANK or NOT_A_NUMBER per value
    odd: dict[int, Decimal] = field(default_factory=dict)  # numbers the fast path did not read, by position

    def total(self, mask: np.ndarray) -> dict:
        """{"sum": decimal text, "numbers", "blank", "not_a_number"} of the values where `mask` holds."""
        counts = np.bincount(self.kind[mask], minlength=3)
        scaled = self.scaled[mask & (self.kind == NUMBER)].sum()
        total = Decimal(int(scaled)).scaleb(-self.scale, EXACT)
        for i, number in self.odd.items():
            if mask[i]:
                total = EXACT.add(total, number)
        return {"sum": decimal_text(total), "numbers": int(counts[NUMBER]), "blank": int(counts[BLANK]),
                "not_a_number": int(counts[NOT_A_NUMBER])}


def decimal_text(value: Decimal) -> str:
    """Plain digits, never an exponent: 1E+3 is "1000", 0E-2 is "0.00"."""
    return format(value, "f")


def source_amounts(f: FieldSpec, values: np.ndarray, plain: PlainNumbers | None = None) -> Amounts:
    """The amounts of a column of source text as the field reads them: its sign where the field writes it,
    its implied decimals, its none values and default.

    `plain` is the mapping's exact reading of the values written as JSON numbers (Transformed.numbers): those
    are taken as read, and only the others read here."""
    if plain is not None and f.sign == "leading" and f.implied_decimals is None and f.default is None \
            and not f.none_values:
        merged = _with_plain(f, values, plain)
        if merged is not None:
            return merged
    text = np.array(values.tolist(), dtype=_TEXT)
    blank = text == ""
    if f.none_values:
        blank |= np.isin(text, np.array(f.none_values, dtype=_TEXT))
    if f.default is not None and blank.any():
        text = np.where(blank, f.default, text)
        blank = np.zeros(len(text), dtype=bool)
    body, negative, malformed = _split_sign(f, text)
    if f.implied_decimals is not None:
        # Digits only, the last N of them decimals (as the mapping reads them: no point, no other digits).
        bad = malformed | ~np.strings.isdecimal(body)
        digits = np.where(bad | blank, "0", body)
        scaled = _integers(np.where(digits == "", "0", digits))
        return _finish(scaled, f.implied_decimals, negative, blank, bad, {})
    return _read(body, negative, blank, malformed)


def _with_plain(f: FieldSpec, values: np.ndarray, plain: PlainNumbers) -> Amounts | None:
    """The amounts of a column whose JSON-number values the mapping read already: the others read here, both
    brought to the larger scale. None when the sum of the column might not fit an int64 at that scale."""
    others = np.flatnonzero(~plain.plain)
    rest = source_amounts(f, values[others]) if len(others) else None
    if rest is not None and rest.scaled.dtype != np.int64:
        return None
    scale = max(int(plain.places[plain.plain].max()) if plain.plain.any() else 0, rest.scale if rest else 0)
    if scale > INT64_DIGITS:
        return None
    shift = np.where(plain.plain, scale - plain.places, 0)
    largest = float((np.abs(plain.scaled) * 10.0 ** shift).max()) if len(values) else 0.0
    if rest is not None:
        largest = max(largest, float(np.abs(rest.scaled).max()) * 10.0 ** (scale - rest.scale))
    if largest * (len(values) + 1) >= 2.0 ** 62:
        return None
    scaled = plain.scaled * _TENS[shift]
    kind = np.full(len(values), NUMBER, dtype=np.int8)
    odd: dict[int, Decimal] = {}
    if rest is not None:
        scaled[others] = rest.scaled * 10 ** (scale - rest.scale)
        kind[others] = rest.kind
        odd = {int(others[i]): number for i, number in rest.odd.items()}
    return Amounts(scaled, scale, kind, odd)


_TENS = 10 ** np.arange(INT64_DIGITS + 1, dtype=np.int64)


def document_amounts(fragments: np.ndarray) -> Amounts:
    """The amounts of a field's JSON text in the documents ("null" is blank)."""
    text = np.array(fragments.tolist(), dtype=_TEXT)
    blank = text == "null"
    negative = np.strings.startswith(text, "-")
    body = np.where(negative, np.strings.slice(text, 1, None), text)
    return _read(body, negative, blank, np.zeros(len(text), dtype=bool))


def delivered_amounts(fragments: np.ndarray, source: Amounts, source_text: np.ndarray, valid: np.ndarray,
                      f: FieldSpec) -> Amounts:
    """The documents' amounts, as `document_amounts` reads them. Where every fragment is its record's source
    text itself (the mapping passes a value already written as a JSON number through unchanged) or "null" for a
    blank, the documents say what the source says, digit for digit, and the source's reading is theirs: checked
    text against text, not read twice. Any other fragment (a sign moved, implied decimals, a rewritten number)
    has the documents read on their own."""
    if f.sign == "leading" and f.implied_decimals is None and f.default is None and not f.none_values:
        kind = source.kind[valid]
        same = (fragments == source_text[valid]) | ((kind == BLANK) & (fragments == "null"))
        if same.all():
            positions = np.flatnonzero(valid)
            odd = {int(j): source.odd[int(i)] for j, i in enumerate(positions) if int(i) in source.odd} \
                if source.odd else {}
            return Amounts(source.scaled[valid], source.scale, kind, odd)
    return document_amounts(fragments)


def _read(body: np.ndarray, negative: np.ndarray, blank: np.ndarray, malformed: np.ndarray) -> Amounts:
    """Unsigned decimal text ("123", "123.45", ".5", "5.") read a column at a time; the rest one by one."""
    whole, _, fraction = np.strings.partition(body, np.array(".", dtype=_TEXT))
    whole_len, places = np.strings.str_len(whole), np.strings.str_len(fraction)
    # isdecimal: digits of any script, which int() reads as Python does; a sign or a space is not one.
    plain = ((np.strings.isdecimal(whole) | (whole_len == 0)) & (np.strings.isdecimal(fraction) | (places == 0))
             & (whole_len + places > 0) & ~blank & ~malformed)
    scale = int(places[plain].max()) if plain.any() else 0
    digits = np.strings.add(whole, np.strings.ljust(fraction, scale, "0"))
    digits = np.where(plain & (digits != ""), digits, "0")
    scaled = _integers(digits)
    odd: dict[int, Decimal] = {}
    bad = malformed & ~blank
    for i in np.flatnonzero(~plain & ~blank & ~malformed).tolist():
        number = _one_number(str(body[i]))
        if number is None:
            bad[i] = True
        else:
            odd[i] = -number if negative[i] else number
    return _finish(scaled, scale, negative & plain, blank, bad, odd)


def _one_number(text: str) -> Decimal | None:
    """A value the fast path did not read ("1e3", digits of another script): its exact value, or None if it
    is not a number. No spaces, no underscores: the mapping does not read them as numbers either."""
    if text != text.strip() or "_" in text or text[:1] in ("+", "-"):
        return None  # a sign here is a second one
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _integers(digits: np.ndarray) -> np.ndarray:
    """Digit strings as integers: int64 while any sum of them fits, Python integers beyond."""
    width = int(np.strings.str_len(digits).max()) if len(digits) else 0
    if width + len(str(len(digits))) <= INT64_DIGITS:
        return digits.astype(np.int64)
    return np.array([int(d) for d in digits.tolist()], dtype=object)  # wider than any real amount: rare


def _finish(scaled: np.ndarray, scale: int, negative: np.ndarray, blank: np.ndarray, bad: np.ndarray,
            odd: dict[int, Decimal]) -> Amounts:
    bad = bad & ~blank
    scaled = np.where(negative & ~bad & ~blank, -scaled, scaled)
    scaled[bad | blank] = 0
    kind = np.full(len(scaled), NUMBER, dtype=np.int8)
    kind[blank] = BLANK
    kind[bad] = NOT_A_NUMBER
    return Amounts(scaled, scale, kind, odd)


# ------------------------------------------------------------------ counts by code

@dataclass
class Codes:
    """A column of codes, each value as a key of the report: the code, "(none)" or "(other)"."""

    positions: np.ndarray  # index into `keys`, per value
    keys: list[str]

    def total(self, mask: np.ndarray) -> dict[str, int]:
        counts = np.bincount(self.positions[mask], minlength=len(self.keys)).tolist()
        by_key: dict[str, int] = {}
        for key, count in zip(self.keys, counts):
            if count:
                by_key[key] = by_key.get(key, 0) + count
        return by_key


def source_codes(f: FieldSpec, values: np.ndarray, factorized: tuple[np.ndarray, np.ndarray] | None = None
                 ) -> Codes:
    """Each distinct value is looked at once: a code column holds few. `factorized` is the mapping's
    pd.factorize of the same values (Transformed.factorized), when it took one."""
    positions, distinct = factorized if factorized is not None else pd.factorize(values)
    none = {""} | set(f.none_values)
    blank_key = f.default if f.default is not None else NO_CODE

    def key(value: str) -> str:
        return blank_key if value in none else value if value in f.codes else OTHER_CODE

    return Codes(positions, [key(v) for v in distinct.tolist()])


def document_codes(f: FieldSpec, fragments: np.ndarray) -> Codes:
    """A code's target value as the document writes it, back to its code (the spec keeps the table one to
    one for a count_by total)."""
    positions, distinct = pd.factorize(fragments)
    by_text = {encode_basestring(target): code for code, target in f.codes.items()}
    return Codes(positions, [by_text.get(v, NO_CODE if v == "null" else OTHER_CODE) for v in distinct.tolist()])


# ------------------------------------------------------------------ a chunk's totals

def chunk_totals(spec: RecordSpec, frame: pd.DataFrame, rows: np.ndarray, unreadable: int,
                 result: Transformed | None, delivered_rows: np.ndarray | None = None,
                 target_rejected_rows: np.ndarray | None = None, validate_only: bool = False) -> dict:
    """The record counts and control totals of one chunk, by group (what its marker keeps).

    `frame` and `rows` are the chunk's readable records and their numbers, `unreadable` the count of the others.
    `result` is what the mapping made of them, or None for a chunk that was not processed (every record is then
    not processed). `delivered_rows` are the records the target took (api mode); None means every document was
    delivered (file mode). `target_rejected_rows` are the records the target refused.
    """
    count = len(frame)
    none = np.zeros(count, dtype=bool)
    if result is None:
        valid, delivered, validated, rejected = none, none, none, none
        not_processed = ~none
    else:
        valid = result.valid if result.valid is not None else ~none
        refused = np.isin(rows, target_rejected_rows) if target_rejected_rows is not None and \
            len(target_rejected_rows) else none
        if validate_only:
            delivered, validated = none, valid
        elif delivered_rows is None:
            delivered, validated = valid, none
        else:
            delivered, validated = np.isin(rows, delivered_rows) & valid & ~refused, none
        rejected = ~valid | refused
        not_processed = valid & ~delivered & ~validated & ~refused
    masks = {"source": ~none, "rejected": rejected, "not_processed": not_processed}
    records = {group: int(mask.sum()) for group, mask in masks.items()}
    records.update(delivered=int(delivered.sum()), validated=int(validated.sum()), unreadable=unreadable)
    records["source"] += unreadable
    records["rejected" if result is not None else "not_processed"] += unreadable
    records["read"] = records.pop("source")
    documents = {"delivered": delivered[valid], "validated": validated[valid]}
    controls: dict[str, dict] = {}
    for control in spec.control_totals:
        f = spec.field(control.field)
        values = frame[f.source].to_numpy(dtype=object)
        fragments = result.fragments.get(f.source) if result is not None else None
        if control.kind == "sum":
            source = source_amounts(f, values, result.numbers.get(f.source) if result is not None else None)
            made = delivered_amounts(fragments, source, values, valid, f) if fragments is not None else None
        else:
            source = source_codes(f, values, result.factorized.get(f.source) if result is not None else None)
            made = document_codes(f, fragments) if fragments is not None else None
        totals = {group: source.total(mask) for group, mask in masks.items()}
        for group, mask in documents.items():
            totals[group] = made.total(mask) if made is not None else empty_total(control.kind)
        controls[control.name] = totals
    return {"records": records, "controls": controls}


def empty_total(kind: str) -> dict:
    return {"sum": "0", "numbers": 0, "blank": 0, "not_a_number": 0} if kind == "sum" else {}


def add_totals(kind: str, a: dict, b: dict) -> dict:
    """Two totals of one control added: sums exactly, counts by key."""
    if kind == "sum":
        return {"sum": decimal_text(EXACT.add(Decimal(a["sum"]), Decimal(b["sum"]))),
                **{k: a[k] + b[k] for k in ("numbers", "blank", "not_a_number")}}
    return {key: a.get(key, 0) + b.get(key, 0) for key in sorted(set(a) | set(b))}
