"""The reconciliation report's arithmetic (chalicelib.records.totals): exact sums to the cent, counts by code,
and groups that add up, with expected figures written out by hand."""
from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest

from chalicelib.inputs.fixed.codepages import codec_for
from chalicelib.inputs.fixed.decoding import decode_field
from chalicelib.models import InputFormat
from chalicelib.records import load_specs
from chalicelib.records.totals import (add_totals, chunk_totals, document_amounts, document_codes, source_amounts,
                                       source_codes)
from chalicelib.worker import map_chunk
from tests.unit.test_cobol_decoding import cells_of, packed, zoned

SPECS = load_specs()
CLAIMED = SPECS["claim"].field("CLAIMED_AMT")
PREMIUM = SPECS["group_policy"].field("MONTHLY_PREM")   # cents, sign after the digits
STATUS = SPECS["claim"].field("CLAIM_STATUS")
EVERY = slice(None)


def values(*texts: str) -> np.ndarray:
    return np.array(texts, dtype=object)


def total_of(amounts) -> dict:
    return amounts.total(np.ones(len(amounts.kind), dtype=bool))


def test_binary_float_traps_sum_exactly():
    # 0.1 + 0.2 is 0.30000000000000004 in binary floats; ten times 0.1 is not 1.0
    assert total_of(source_amounts(CLAIMED, values("0.1", "0.2")))["sum"] == "0.3"
    assert total_of(source_amounts(CLAIMED, values(*["0.10"] * 10)))["sum"] == "1.00"
    assert total_of(source_amounts(CLAIMED, values("1000000.01", "-1000000.00", "0.005")))["sum"] == "0.015"


def test_negative_blank_and_non_numeric_amounts_are_counted_apart():
    amounts = source_amounts(CLAIMED, values("-12.50", "12.5", "", "abc", "1.2.3", " 5", "5 ", "1_000", "inf",
                                             "NaN", "-", "+7", "5.", ".25"))
    assert total_of(amounts) == {"sum": "12.25", "numbers": 5, "blank": 1, "not_a_number": 8}


def test_exponents_and_other_digits_are_read_exactly_one_by_one():
    assert total_of(source_amounts(CLAIMED, values("1e3", "2.5E-1", "١٢")))["sum"] == "1012.25"


def test_implied_decimals_with_a_trailing_sign():
    # "0000946824+" is 9468.24; "0000000010-" is -0.10
    amounts = source_amounts(PREMIUM, values("0000946824+", "0000000010-", "0000000001", "12x4", "", "--1"))
    assert total_of(amounts) == {"sum": "9468.15", "numbers": 3, "blank": 1, "not_a_number": 2}


def test_cr_db_sign_and_none_values_and_default():
    field = replace(CLAIMED, sign="cr_db", none_values=("N/A",))
    assert total_of(source_amounts(field, values("10.00CR", "2.50DB", "N/A", "1.00")))["sum"] == "-6.50"
    with_default = replace(CLAIMED, default="1.10")
    assert total_of(source_amounts(with_default, values("", "2.20"))) == \
        {"sum": "3.30", "numbers": 2, "blank": 0, "not_a_number": 0}


def test_documents_are_read_as_json_numbers():
    amounts = document_amounts(values("-123.45", "0.10", "null", "1e-05", "7"))
    assert total_of(amounts) == {"sum": "-116.34999", "numbers": 4, "blank": 1, "not_a_number": 0}


def test_amounts_wider_than_int64_stay_exact():
    big = "9" * 30 + ".99"
    assert total_of(source_amounts(CLAIMED, values(big, "0.01")))["sum"] == "1" + "0" * 30 + ".00"


def test_packed_and_zoned_amounts_as_the_fixed_width_reader_gives_them():
    # COMP-3 S9(7)V99: X'000085025C' is 850.25, X'000000010D' is -0.10
    cells = cells_of([bytes.fromhex("000085025C"), bytes.fromhex("000000010D"), bytes.fromhex("000000000D")])
    decoded = decode_field(cells, packed(9, 2), codec_for("cp037"))
    amounts = source_amounts(CLAIMED, np.asarray(decoded.values, dtype=object))
    assert total_of(amounts) == {"sum": "850.15", "numbers": 3, "blank": 0, "not_a_number": 0}
    # zoned S9(5)V99, EBCDIC, sign overpunched in the last digit: F0F0F1F2F3F4C5 is +123.45, F0F0F0F0F0F1D5 is -0.15
    cells = cells_of([bytes.fromhex("F0F0F1F2F3F4C5"), bytes.fromhex("F0F0F0F0F0F1D5")])
    decoded = decode_field(cells, zoned(7, 2, signed=True), codec_for("cp037"))
    assert total_of(source_amounts(CLAIMED, np.asarray(decoded.values, dtype=object)))["sum"] == "123.30"


def test_codes_count_unknown_values_as_other_never_by_value():
    codes = source_codes(STATUS, values("OPEN", "OPEN", "", "123-45-6789", "DENY"))
    assert codes.total(np.ones(5, dtype=bool)) == {"OPEN": 2, "(none)": 1, "(other)": 1, "DENY": 1}
    back = document_codes(STATUS, values('"open"', "null", '"denied"'))
    assert back.total(np.ones(3, dtype=bool)) == {"OPEN": 1, "(none)": 1, "DENY": 1}


def test_a_blank_code_with_a_default_counts_as_the_default():
    field = SPECS["group_policy"].field("BILL_FREQ")
    assert source_codes(field, values("", "Q")).total(np.ones(2, dtype=bool)) == {"M": 1, "Q": 1}


def test_totals_add_exactly():
    a = {"sum": "0.10", "numbers": 1, "blank": 0, "not_a_number": 0}
    b = {"sum": "0.20", "numbers": 1, "blank": 2, "not_a_number": 1}
    assert add_totals("sum", a, b) == {"sum": "0.30", "numbers": 2, "blank": 2, "not_a_number": 1}
    assert add_totals("count_by", {"A": 1}, {"A": 2, "B": 1}) == {"A": 3, "B": 1}


HEADER = ["CLAIM_NO", "POLICY_NO", "SSN", "LAST_NAME", "FIRST_NAME", "DOB", "GENDER", "DISABILITY_TYPE",
          "DIAGNOSIS_CODE", "DATE_OF_DISABILITY", "BENEFIT_START_DATE", "BENEFIT_END_DATE", "WEEKLY_BENEFIT_AMT",
          "CLAIM_STATUS", "EMPLOYER_NAME", "STATE"]


def disability(n: int, amount: str, status: str = "OPEN") -> str:
    return (f"DC{n:08d},POL{n:06d},123-45-6789,Smith,Ann,19800101,F,STD,M54.5,20230105,20230110,20230301,"
            f"{amount},{status},Acme,NY\n")


def mapped_totals(lines: list[str], **delivery) -> dict:
    spec = SPECS["disability"]
    mapped = map_chunk("".join(lines).encode(), HEADER, InputFormat(), spec, 2)
    return chunk_totals(spec, mapped.frame, mapped.rows, mapped.unreadable, mapped.result, **delivery)


def sums(totals: dict, name: str = "weekly_benefit_amount") -> dict:
    return {group: t["sum"] for group, t in totals["controls"][name].items()}


def test_a_file_mode_chunk_splits_into_delivered_and_rejected():
    totals = mapped_totals([disability(1, "0.10"), disability(2, "0.20"), disability(3, "-5.00"),
                            disability(4, "abc"), "broken,row\n", disability(6, "1.00", status="XX")])
    assert totals["records"] == {"read": 6, "delivered": 2, "validated": 0, "rejected": 4, "not_processed": 0,
                                 "unreadable": 1}
    assert sums(totals) == {"source": "-3.70", "delivered": "0.30", "validated": "0.00", "rejected": "-4.00",
                            "not_processed": "0.00"}
    assert totals["controls"]["claims_by_status"]["rejected"] == {"OPEN": 2, "(other)": 1}


def test_api_mode_splits_target_rejections_and_records_a_cancel_left_unsent():
    lines = [disability(n, f"{n}.00") for n in range(1, 7)]  # rows 2..7
    # the target took rows 2 and 4, refused row 3; rows 5 to 7 were never sent (a cancel)
    totals = mapped_totals(lines, delivered_rows=np.array([2, 3, 4]), target_rejected_rows=np.array([3]))
    assert (totals["records"]["delivered"], totals["records"]["rejected"], totals["records"]["not_processed"]) == \
        (2, 1, 3)
    assert sums(totals) == {"source": "21.00", "delivered": "4.00", "validated": "0.00", "rejected": "2.00",
                            "not_processed": "15.00"}


def test_validate_only_counts_valid_records_as_validated():
    totals = mapped_totals([disability(1, "2.50"), disability(2, "x")], validate_only=True)
    assert (totals["records"]["delivered"], totals["records"]["validated"]) == (0, 1)
    assert sums(totals)["validated"] == "2.50"


def test_a_chunk_not_processed_is_all_not_processed():
    spec = SPECS["disability"]
    from chalicelib.inputs import read_records
    chunk = read_records((disability(1, "1.25") + "bad\n").encode(), HEADER, InputFormat(), spec, 2)
    totals = chunk_totals(spec, chunk.frame, chunk.rows, len(chunk.malformed), None)
    assert totals["records"] == {"read": 2, "delivered": 0, "validated": 0, "rejected": 0, "not_processed": 2,
                                 "unreadable": 1}
    assert sums(totals)["not_processed"] == "1.25"


@pytest.mark.parametrize("record_type", sorted(t for t, s in SPECS.items() if s.layout is not None))
def test_generated_fixed_width_files_balance(record_type):
    # every declared total, on a generated mainframe file (packed and zoned amounts, 5 % invalid records)
    spec = SPECS[record_type]
    from datagen.fixed_width import write_fixed_width
    out = io.BytesIO()
    write_fixed_width(out, record_type, 300)
    fmt = InputFormat(type="fixed_width", header=False, encoding="cp037", record_separator="none")
    mapped = map_chunk(out.getvalue(), list(spec.layout.names), fmt, spec, 1)
    totals = chunk_totals(spec, mapped.frame, mapped.rows, mapped.unreadable, mapped.result)
    for control in spec.control_totals:
        groups = totals["controls"][control.name]
        merged = add_totals(control.kind, add_totals(control.kind, groups["delivered"], groups["rejected"]),
                            groups["not_processed"])
        if control.kind == "sum":
            assert merged["sum"].rstrip("0").rstrip(".") == groups["source"]["sum"].rstrip("0").rstrip(".")
        else:
            assert merged == dict(sorted(groups["source"].items()))


# ------------------------------------------------------------------ what a spec may declare

def claim_spec_with(controls: list[dict], tmp_path):
    import json
    import shutil

    from chalicelib.records import load_spec
    from chalicelib.records.schema import SPEC_DIR
    raw = json.load(open(f"{SPEC_DIR}/claim.json"))
    raw["control_totals"] = controls
    shutil.copy(f"{SPEC_DIR}/claim.cpy", tmp_path / "claim.cpy")
    (tmp_path / "claim.json").write_text(json.dumps(raw))
    return load_spec(str(tmp_path / "claim.json"))


@pytest.mark.parametrize("control, why", [
    ({"name": "ssns", "kind": "count_by", "field": "CLMT_SSN"}, "personal data ('pii'): no control total of it"),
    ({"name": "dobs", "kind": "sum", "field": "CLAIM_STATUS"}, "a sum needs a decimal or integer field"),
    ({"name": "amounts", "kind": "count_by", "field": "PAID_AMT"}, "count_by needs a code field"),
    ({"name": "x", "kind": "sum", "field": "NOPE"}, "'field' must name a field of the spec"),
    ({"name": "x", "kind": "average", "field": "PAID_AMT"}, "'control_totals' must be a list"),
])
def test_a_spec_refuses_control_totals_that_could_not_hold(control, why, tmp_path):
    from chalicelib.errors import SpecError
    with pytest.raises(SpecError, match=why.replace("(", r"\(").replace(")", r"\)")):
        claim_spec_with([control], tmp_path)


def test_every_record_type_declares_sums_and_counts_of_non_personal_fields():
    for spec in SPECS.values():
        kinds = {c.kind for c in spec.control_totals}
        assert kinds == {"sum", "count_by"}, spec.record_type
        assert not any(spec.field(c.field).pii for c in spec.control_totals)
