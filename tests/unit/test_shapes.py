"""The column-at-a-time shape checks say exactly what the regular expressions they replace say, value for value."""
from __future__ import annotations

import random
import re
from decimal import Decimal
from json.encoder import encode_basestring

import numpy as np
import pytest

from chalicelib.records.mapping import JSON_NUMBER, SSN_PATTERN, _ssns
from chalicelib.records.shapes import fixed_shape, plain_numbers

SHIPPED_FIXED = [r"DC\d{8}", r"POL\d{6}", r"[A-Z]{2}", r"\d{10}", r"\d{2}-\d{7}", r"[A-Z]", r"\d{4}", r"E\d{7}",
                 r"CL\d{9}", r"BR\d{5}", r"LV\d{8}"]


def _random_texts(alphabet: str, count: int, longest: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    return ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, longest))) for _ in range(count)]


@pytest.mark.parametrize("pattern", SHIPPED_FIXED)
def test_a_fixed_shape_matches_what_the_pattern_matches(pattern):
    # GIVEN a shipped pattern of one length, and values near and far from it (NUL, digits of other scripts)
    compiled = re.compile(pattern, re.ASCII)
    shape = fixed_shape(compiled)
    values = _random_texts("DCPOLEBRV0123456789-AZaz é٣\x00", 20_000, 12, seed=len(pattern))
    values += [re.sub(r"\\d", "1", pattern).replace("{8}", "1111111"), "DC1234567\x00", "", "1" * 10]
    # WHEN it is checked a column at a time THEN it says what fullmatch says
    assert shape is not None
    expected = np.array([bool(compiled.fullmatch(v)) for v in values])
    assert (shape.matches(np.array(values, dtype=object)) == expected).all()


@pytest.mark.parametrize("pattern", [r"[A-TV-Z]\d{2}(\.[0-9A-Z]{1,4})?", r"\d{5}(-\d{4})?", r"[^A]{2}", r"\w{2}",
                                     r"\d+", r"é\d"])
def test_a_pattern_without_a_fixed_shape_is_left_to_the_pattern(pattern):
    assert fixed_shape(re.compile(pattern, re.ASCII)) is None


def test_plain_numbers_are_the_json_numbers_and_read_exactly():
    # GIVEN values made of number characters and others
    values = _random_texts("0123456789.-+e \x00é٣", 30_000, 8, seed=1)
    values += _random_texts("0123456789.-", 30_000, 30, seed=2)
    values += ["-0", "0", "-", ".", "0.", "00", "-00.5", "1234567890123456", "123456789012345",
               "-0.000000000000001", "5\x00", "\x005", "25000.00", "0.10"]
    # WHEN they are read a column at a time
    plain = plain_numbers(np.array(values, dtype=object))
    # THEN exactly the JSON numbers of at most 15 digits are plain, each with its exact value and float
    expected = np.array([bool(JSON_NUMBER.fullmatch(v)) and sum(c.isdigit() for c in v) <= 15 for v in values])
    assert (plain.plain == expected).all()
    floats = plain.floats()
    for i in np.flatnonzero(plain.plain).tolist():
        assert Decimal(int(plain.scaled[i])).scaleb(-int(plain.places[i])) == Decimal(values[i])
        assert floats[i] == float(values[i])
    assert np.isnan(floats[~plain.plain]).all()


def test_ssns_read_a_column_at_a_time_are_what_the_pattern_says():
    rnd = random.Random(3)
    values = _random_texts("0123456789- \x00٣", 20_000, 12, seed=4)
    values += [f"{rnd.randint(0, 999):03d}-{rnd.randint(0, 99):02d}-{rnd.randint(0, 9999):04d}" for _ in range(20_000)]
    values += [f"{rnd.randint(0, 999):03d}{rnd.randint(0, 99):02d}{rnd.randint(0, 9999):04d}" for _ in range(20_000)]
    values += ["000-12-3456", "666123456", "900-12-3456", "123-00-4567", "123450000", "123 45 6789", "12345678\x00"]
    ok, fragments = _ssns(np.array(values, dtype=object))
    digits = [v.replace("-", "").replace(" ", "") for v in values]
    assert ok.tolist() == [bool(SSN_PATTERN.fullmatch(d)) for d in digits]
    assert fragments.tolist() == [encode_basestring(d) for d in digits]
    assert all(type(f) is str for f in fragments.tolist())


@pytest.mark.parametrize("field", [
    dict(type="decimal", min=0, max=25000), dict(type="integer", min=-5, max=10),
    dict(type="decimal", none_values=("0", "N/A")), dict(type="integer", required=True)])
def test_numbers_read_as_json_numbers_get_what_the_general_reading_gives(field):
    # GIVEN a number field and values of every kind: JSON numbers, other numbers, blanks, text
    from datetime import date

    from chalicelib.records.mapping import _Column, _general_number, encode_column
    from chalicelib.records.schema import FieldSpec
    f = FieldSpec(source="AMT", target="amount", **field)
    values = _random_texts("0123456789.-+e ", 20_000, 7, seed=9) + ["", "0", "N/A", "5.0", "-0", "1e3", "+5", " 5"]
    values = np.array(values, dtype=object)
    # WHEN it is encoded (JSON numbers a column at a time, the others the general way)
    column = encode_column(f, values, date(2026, 1, 1))
    # THEN fragments and failures are those of the general reading of every value
    blank = (values == "") | np.isin(values, list(f.none_values))
    general = _Column(np.empty(0, dtype=object))
    _general_number(f, values, ~blank, general)
    general.fragments[blank] = "null"
    expected = ([("required", "AMT is required", blank)] if f.required else []) + general.failures
    assert column.fragments.tolist() == general.fragments.tolist()
    assert [(rule, message) for rule, message, _ in column.failures] == [(r, m) for r, m, _ in expected]
    for (_, _, mask), (_, _, wanted) in zip(column.failures, expected):
        assert (mask == wanted).all()


def test_source_totals_from_the_mappings_reading_are_those_read_from_the_text():
    # GIVEN a column of amounts of every kind, and the mapping's reading of its JSON numbers
    from chalicelib.records.schema import FieldSpec
    from chalicelib.records.totals import source_amounts
    f = FieldSpec(source="AMT", target="amount", type="decimal")
    values = _random_texts("0123456789.-+ ٣", 20_000, 9, seed=11) + ["", "1e3", "+5", ".5", "5.", "-0.001"]
    values = np.array(values, dtype=object)
    for chosen in (values, values[plain_numbers(values).plain], values[:0]):
        # WHEN the totals take them THEN every group's total is the one read from the text alone
        shared = source_amounts(f, chosen, plain_numbers(chosen))
        alone = source_amounts(f, chosen)
        for mask in (np.ones(len(chosen), dtype=bool), np.arange(len(chosen)) % 3 == 0):
            assert shared.total(mask) == alone.total(mask)


def test_source_totals_of_amounts_with_very_many_decimals_are_read_from_the_text():
    from chalicelib.records.schema import FieldSpec
    from chalicelib.records.totals import source_amounts
    f = FieldSpec(source="AMT", target="amount", type="decimal")
    values = np.array(["1.5", "0.00000000000000000001", "+0.000000000000000000002", "12"], dtype=object)
    shared = source_amounts(f, values, plain_numbers(values))
    assert shared.total(np.ones(4, dtype=bool)) == source_amounts(f, values).total(np.ones(4, dtype=bool))
