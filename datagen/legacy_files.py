"""Deterministic legacy CSV exports for every record type in chalicelib/specs.

The columns, types and rules come from the record specs (`load_specs`), so a new
spec works without a change here: each field is filled by a generator chosen by
its record type and source column, else by its column name (names, addresses,
states, dates of birth...), else by its type (codes from the code table, numbers
within min and max, strings drawn from the field's own pattern). Values are
written in the spec's notations: dates in the field's format (two-digit years
inside its century window, julian dates), numbers with their implied decimals
and sign, and the first of a field's none values where it has no value. A few
per-type touches make the records hang together: benefits start after the disability,
a policy runs for whole years from the first of a month, only terminated
employees have a termination date, a claim is paid only once approved.

The values are awkward where legacy exports are awkward: names and employer
names with commas ("SMITH, JR"), nicknames in double quotes (ROBERT "BOB"),
and now and then a line break inside a quoted field (an address's suite line,
a case note). csv.writer quotes them; every reader must cope.

A share of the records is invalid on purpose, each breaking exactly one rule of
its spec (a required field left blank, a malformed date, an unknown code, a bad
SSN, an amount out of range, an end date before its start...). `generate_rows`
and `write_legacy_csv` say which: (row, source column, rule), with rows numbered
from 1 for the first record after the header, as the planner numbers them, and
rule names as `transform` reports them.

Everything is drawn from numpy generators seeded by (seed, record type, block),
so the same arguments give the same bytes. Dates fall on or before
REFERENCE_DAY, so the output does not depend on the day it is made and its
"not in the future" dates stay valid. Columns are built a block of 50,000
records at a time from precomputed pools and vectorised string operations, and
written with csv.writer.writerows: a million records take seconds.
"""
from __future__ import annotations

import argparse
import csv
import random
import re
import sys
import zlib
from datetime import date, timedelta
from re import _constants as sre_constants
from re import _parser as sre_parser
from typing import Callable, Iterator, NamedTuple, TextIO

import numpy as np

from chalicelib.records.dates import DATE_FORMATS
from chalicelib.records.schema import CrossFieldRule, FieldSpec, RecordSpec, load_specs
from chalicelib.records.mapping import SSN_PATTERN

REFERENCE_DAY = date(2025, 6, 30)
BLOCK_RECORDS = 50_000
DEFAULT_BLANK_SHARE = 0.04  # optional fields left blank when nothing more specific is known

_EPOCH = date(1970, 1, 1)
NO_DAY = np.int64(-(1 << 40))  # a blank date


def _day(value: str | date) -> int:
    d = date.fromisoformat(value) if isinstance(value, str) else value
    return (d - _EPOCH).days


REFERENCE = _day(REFERENCE_DAY)
_YEAR = 365.25


class InvalidRecord(NamedTuple):
    row: int     # record number: 1 is the first record after the header
    field: str   # the source column holding the broken value
    rule: str    # the rule it breaks, named as transform names it


class Generated(NamedTuple):
    header: list[str]
    rows: list[tuple[str, ...]]
    invalid: list[InvalidRecord]


# ------------------------------------------------------------------ value pools

def _pool(*groups: tuple[float, list[str]]) -> tuple[np.ndarray, np.ndarray]:
    """Values with weights: each group is (weight of each of its values, values)."""
    values = [v for _, vs in groups for v in vs]
    weights = np.array([w for w, vs in groups for _ in vs], dtype=float)
    return np.array(values, dtype=object), weights / weights.sum()


LAST_NAMES = _pool(
    (1.0, "SMITH JOHNSON WILLIAMS BROWN JONES GARCIA MILLER DAVIS RODRIGUEZ MARTINEZ HERNANDEZ LOPEZ "
          "GONZALEZ WILSON ANDERSON THOMAS TAYLOR MOORE JACKSON MARTIN LEE PEREZ THOMPSON WHITE HARRIS "
          "SANCHEZ CLARK RAMIREZ LEWIS ROBINSON WALKER YOUNG ALLEN KING WRIGHT SCOTT TORRES NGUYEN HILL "
          "FLORES GREEN ADAMS NELSON BAKER HALL RIVERA CAMPBELL MITCHELL CARTER ROBERTS KOWALSKI SCHMIDT "
          "MUELLER OKAFOR PATEL KIM CHEN WANG SINGH YAMAMOTO NOVAK JOHANSSON MURPHY SULLIVAN".split()),
    (0.6, ["O'BRIEN", "O'CONNOR", "D'AMICO", "DE LA CRUZ", "VAN DER BERG", "SAINT-JEAN", "PEÑA", "MUÑOZ"]),
    (0.5, ["SMITH, JR", "JOHNSON, III", "BROWN, SR"]),
)
FIRST_NAMES = _pool(
    (1.0, "JAMES MARY ROBERT PATRICIA JOHN JENNIFER MICHAEL LINDA DAVID ELIZABETH WILLIAM BARBARA "
          "RICHARD SUSAN JOSEPH JESSICA THOMAS SARAH CHARLES KAREN MARIA LUIS ANA WEI PRIYA AHMED FATIMA "
          "OLUWASEUN KEVIN LISA DANIEL NANCY CARLOS SOFIA HIROSHI GRACE TERRENCE DOROTHY".split()),
    (0.6, ["MARY ANN", "JEAN-LUC", "ANNE-MARIE", "JOSÉ", "ZOË"]),
    (0.5, ['ROBERT "BOB"', 'WILLIAM "BILL"', 'KATHERINE "KATE"', 'ELIZABETH "BETH"']),
)
EMPLOYERS = _pool(
    (1.0, ["ACME MANUFACTURING CO", "NORTHWIND TRADERS", "CONTOSO LTD", "FABRIKAM INC", "LITWARE INC",
           "ADVENTURE WORKS CYCLES", "TAILSPIN TOYS", "WINGTIP TOYS", "WOODGROVE BANK", "PROSEWARE INC",
           "LUCERNE PUBLISHING", "BLUE YONDER AIRLINES", "COHO WINERY", "FOURTH COFFEE", "MARGIE'S TRAVEL",
           "TREY RESEARCH", "ALPINE SKI HOUSE", "HUMONGOUS INSURANCE", "SOUTHRIDGE VIDEO",
           "WIDE WORLD IMPORTERS", "CITY OF SPRINGFIELD", "LAKESIDE UNIFIED SCHOOL DISTRICT",
           "MERCY REGIONAL MEDICAL CENTER", "GREAT PLAINS GRAIN CO-OP", "COUNTY OF RIVERSIDE"]),
    (1.0, ["SMITH, BARNES & LOWE, LLP", "JOHNSON & SONS, INC.", "MIDWEST TRUCKING, INC.",
           'BOB\'S "BEST" BURGERS, LLC', 'THE "BIG APPLE" BAKERY']),
    (0.3, ["NORTHWIND TRADERS\nATTN: HR BENEFITS", "ST. JUDE MEDICAL GROUP, P.C.\nPAYROLL DEPT"]),
)
CITIES = _pool(
    (1.0, ["SPRINGFIELD", "COLUMBUS", "FRANKLIN", "GREENVILLE", "BRISTOL", "CLINTON", "FAIRVIEW", "SALEM",
           "MADISON", "GEORGETOWN", "ARLINGTON", "ASHLAND", "BURLINGTON", "MANCHESTER", "OXFORD", "DAYTON",
           "AUSTIN", "PORTLAND", "CHARLOTTE", "OMAHA", "TULSA", "RALEIGH", "BOISE", "FRESNO"]),
    (0.5, ["ST. LOUIS", "WINSTON-SALEM", "COEUR D'ALENE", "O'FALLON", "SAN JOSÉ"]),
)
STREETS = np.array(["MAIN", "OAK", "PINE", "MAPLE", "CEDAR", "ELM", "WASHINGTON", "LAKE", "HILL", "PARK",
                    "MILL", "CHURCH", "RIVER", "SUNSET", "HIGHLAND", "MARKET", "FRONT", "UNION"])
STREET_KINDS = np.array(["ST", "AVE", "RD", "BLVD", "DR", "LN", "CT", "WAY", "PKWY"])
UNIT_COMMA = np.array([", APT 4B", ", SUITE 210", ", UNIT 7", ", FL 3"])
UNIT_NEWLINE = np.array(["\nAPT 12", "\nSUITE 300", "\nC/O BENEFITS DEPT", "\nBLDG C, ROOM 114"])
STATES = _pool(
    (1.0, "AL AK AZ AR CO CT DE DC HI ID IA KS KY LA ME MD MN MS MO MT NE NV NH NM ND OK OR RI SC SD UT "
          "VT WV WI WY PR".split()),
    (3.0, "AZ IN MA TN WA VA MI NJ GA NC OH IL PA".split()),
    (8.0, "NY FL TX CA".split()),
)
ICD10 = np.array(["M54.50", "F32.9", "S82.101A", "C50.911", "O80", "M17.11", "G56.01", "I21.4", "J18.9",
                  "K35.80", "M51.26", "S83.511A", "F41.1", "Z34.90", "M75.100", "S52.501A", "I63.9",
                  "C34.90", "E11.9", "N18.6", "F33.1", "G43.909", "M79.7", "R51.9", "T14.90XA", "S06.0X0A"],
                 dtype=object)
SIC_CODES = np.array(["6311", "6321", "8062", "5411", "7372", "1521", "3711", "8211", "4911", "5812",
                      "8011", "4213", "2051", "9111", "8021"], dtype=object)
REMARKS = _pool(
    (1.0, ["RTW FULL DUTY", "MEDICAL CERT OVERDUE", "MILITARY ORDERS ON FILE", "INTERMITTENT - 2 DAYS/WK",
           "EE CALLED, STATES RECOVERY GOING WELL", "DOCS RECVD 3/14, PENDING REVIEW",
           "BONDING LEAVE, BABY BORN 04/02", "EXTENSION REQUESTED BY EE, APPROVED BY MGR"]),
    (1.0, ['PER MGR: "EXPECTED BACK MONDAY"', 'CERT FROM DR. LEE, "LIGHT DUTY" ONLY']),
    (0.6, ["FOLLOW UP IN 30 DAYS\nCALL HR BEFORE RTW", "EE NOTIFIED BY PHONE, LETTER MAILED\nCOPY TO HR"]),
)
FACILITIES = _pool(
    (1.0, ["ST. MARY'S MEDICAL CENTER", "CLEARVIEW VISION CENTER", "LAKESIDE ORTHOPEDICS",
           "COMMUNITY HOSPITAL OF THE VALLEY", "NORTHSIDE PHYSICAL THERAPY"]),
    (1.0, ["BRIGHT SMILES DENTAL, P.C.", "RIVERSIDE FUNERAL HOME, INC.", 'MERCY "GOOD SAMARITAN" HOSPITAL']),
    (0.4, ["CITY EMERGENCY PHYSICIANS\nBILLING OFFICE"]),
)
PROVIDER_SUFFIXES = np.array(["MD", "DO", "DDS", "DMD", "OD", "NP", "PA-C"])
LETTERS = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), dtype=object)


def _pick(rng: np.random.Generator, pool: np.ndarray | tuple, n: int) -> np.ndarray:
    if isinstance(pool, tuple):
        values, weights = pool
        return values[rng.choice(len(values), n, p=weights)]
    return pool[rng.integers(0, len(pool), n)]


def _weighted(rng: np.random.Generator, choices: dict[str, float], n: int) -> np.ndarray:
    values = np.array(list(choices), dtype=object)
    weights = np.array(list(choices.values()), dtype=float)
    return values[rng.choice(len(values), n, p=weights / weights.sum())]


def _digits(numbers: np.ndarray, width: int) -> np.ndarray:
    return np.strings.zfill(numbers.astype(np.int64).astype(str), width)


def _money(cents: np.ndarray) -> np.ndarray:
    cents = np.asarray(cents, dtype=np.int64)
    size = np.abs(cents)
    text = np.strings.add(np.strings.add((size // 100).astype(str), "."), _digits(size % 100, 2))
    return np.where(cents < 0, np.strings.add("-", text), text).astype(object)


def _lognormal(rng: np.random.Generator, n: int, median: float, sigma: float, lo: float, hi: float) -> np.ndarray:
    return np.clip(rng.lognormal(np.log(median), sigma, n), lo, hi)


# ------------------------------------------------------------------ dates

_TABLE_START = _day("1900-01-01")
_TABLE_END = _day("2200-12-31")
_DATE_TABLES: dict[str, np.ndarray] = {}


def _date_table(fmt: str) -> np.ndarray:
    """Every day from 1900 to 2200 written in one of the spec date formats."""
    if fmt not in _DATE_TABLES:
        days = np.arange(_TABLE_START, _TABLE_END + 1).astype("datetime64[D]")
        iso = np.datetime_as_string(days, unit="D")
        y, m, d = np.strings.slice(iso, 0, 4), np.strings.slice(iso, 5, 7), np.strings.slice(iso, 8, 10)
        day_of_year = _digits((days - days.astype("datetime64[Y]").astype("datetime64[D]")).astype(np.int64) + 1, 3)
        parts = {"YYYYMMDD": (y, m, d), "MMDDYYYY": (m, d, y), "YYYY-MM-DD": (y, "-", m, "-", d),
                 "MM/DD/YYYY": (m, "/", d, "/", y), "MMDDYY": (m, d, np.strings.slice(y, 2, 4)),
                 "CCYYDDD": (y, day_of_year)}[fmt]
        text = parts[0]
        for part in parts[1:]:
            text = np.strings.add(text, part)
        _DATE_TABLES[fmt] = text.astype(object)
    return _DATE_TABLES[fmt]


def _format_days(days: np.ndarray, fmt: str) -> np.ndarray:
    table = _date_table(fmt)
    blank = days == NO_DAY
    out = table[np.clip(days - _TABLE_START, 0, len(table) - 1)]
    out[blank] = ""
    return out


def _date_text(day: int, fmt: str) -> str:
    return _date_table(fmt)[int(np.clip(day - _TABLE_START, 0, _TABLE_END - _TABLE_START))]


def _window(f: FieldSpec) -> tuple[int, int]:
    """The years a date field can hold: its century window for a two-digit year, else any."""
    if DATE_FORMATS[f.format].two_digit_year:
        return 1900 + f.century_pivot, 1999 + f.century_pivot
    return 1, 9999


# ------------------------------------------------------------------ numbers in the file's notation

def _notation_width(f: FieldSpec) -> int:
    """Digits a number with implied decimals is zero-padded to: enough for its maximum."""
    top = f.max if f.max is not None else 10 ** 7
    return len(str(int(abs(top) * 10 ** f.implied_decimals)))


def _in_notation(values: np.ndarray, f: FieldSpec) -> np.ndarray:
    """Numbers written plainly ("-1234.5", "") rewritten as the field's spec says the file writes
    them: implied decimals ("00123450"), the sign after the digits ("00123450-") or CR for a
    negative amount ("1234.50CR")."""
    if f.type not in ("decimal", "integer") or (f.implied_decimals is None and f.sign == "leading"):
        return values
    text = np.asarray(values, dtype=object).astype(str)
    blank = text == ""
    negative = np.strings.startswith(text, "-")
    body = np.where(negative | np.strings.startswith(text, "+"), np.strings.slice(text, 1, None), text)
    if f.implied_decimals is not None:
        whole, _, fraction = np.strings.partition(body, ".")
        fraction = np.strings.slice(np.strings.ljust(fraction, f.implied_decimals, "0"), 0, f.implied_decimals)
        body = np.strings.zfill(np.strings.add(whole, fraction), _notation_width(f))
    if f.sign == "trailing":
        body = np.strings.add(body, np.where(negative, "-", "+"))  # SIGN TRAILING SEPARATE: always a sign
    elif f.sign == "cr_db":
        body = np.strings.add(body, np.where(negative, "CR", ""))
    else:
        body = np.where(negative, np.strings.add("-", body), body)
    out = body.astype(object)
    out[blank] = ""
    return out


def _number_in_notation(value: str, f: FieldSpec) -> str:
    return _in_notation(np.array([value], dtype=object), f)[0]


def _uniform_days(rng: np.random.Generator, lo: np.ndarray | int, hi: np.ndarray | int, n: int) -> np.ndarray:
    lo, hi = np.asarray(lo, dtype=np.int64), np.asarray(hi, dtype=np.int64)
    return lo + np.floor(rng.random(n) * (np.maximum(hi - lo, 0) + 1)).astype(np.int64)


def _month_starts(rng: np.random.Generator, first: str, last: str, n: int) -> np.ndarray:
    lo, hi = np.datetime64(first, "M").astype(np.int64), np.datetime64(last, "M").astype(np.int64)
    return rng.integers(lo, hi + 1, n).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)


def _add_months(days: np.ndarray, months: np.ndarray) -> np.ndarray:
    start = days.astype("datetime64[D]").astype("datetime64[M]")
    return (start + months).astype("datetime64[D]").astype(np.int64)


# ------------------------------------------------------------------ a block of records

class _Block:
    """One block of records under construction, a column per field."""

    def __init__(self, spec: RecordSpec, rng: np.random.Generator, first_row: int, n: int):
        self.spec, self.rng, self.first_row, self.n = spec, rng, first_row, n
        self.rows = np.arange(first_row, first_row + n, dtype=np.int64)
        self.fields = {f.source: f for f in spec.fields}
        self.text: dict[str, np.ndarray] = {}   # object arrays of str; "" is blank
        self.days: dict[str, np.ndarray] = {}   # date fields as day numbers; NO_DAY is blank

    def has(self, *sources: str) -> bool:
        return all(s in self.fields for s in sources)

    def set_text(self, source: str, i: int, value: str) -> None:
        self.text[source][i] = value
        if source in self.days:
            self.days[source][i] = NO_DAY if value == "" else self.days[source][i]

    def set_day(self, source: str, i: int, day: int) -> None:
        self.days[source][i] = day
        self.text[source][i] = _date_text(day, self.fields[source].format)


Generator = Callable[[_Block, FieldSpec], np.ndarray]


def _ssn(b: _Block, f: FieldSpec) -> np.ndarray:
    area = b.rng.integers(1, 900, b.n)
    area[area == 666] = 667
    number = area * 1_000_000 + b.rng.integers(1, 100, b.n) * 10_000 + b.rng.integers(1, 10_000, b.n)
    text = _digits(number, 9)
    dashed = b.rng.random(b.n) < 0.2  # some systems kept the dashes
    parts = (np.strings.slice(text, 0, 3), "-", np.strings.slice(text, 3, 5), "-", np.strings.slice(text, 5, 9))
    with_dashes = parts[0]
    for part in parts[1:]:
        with_dashes = np.strings.add(with_dashes, part)
    return np.where(dashed, with_dashes, text).astype(object)


def _pooled(pool) -> Generator:
    return lambda b, f: _pick(b.rng, pool, b.n)


def _codes(choices: dict[str, float]) -> Generator:
    return lambda b, f: _weighted(b.rng, {c: w for c, w in choices.items() if c in f.codes}, b.n)


def _dates(first: str, last: str) -> Generator:
    return lambda b, f: _uniform_days(b.rng, _day(first), _day(last), b.n)


def _sequential(prefix: str, digits: int, base: int, step: int = 3) -> Generator:
    """Unique ids in file order, with gaps, as a legacy key counter leaves them."""
    return lambda b, f: np.strings.add(prefix, _digits((base + step * b.rows) % 10 ** digits, digits)).astype(object)


def _references(prefix: str, digits: int, base: int, step: int = 3, population: int = 1000) -> Generator:
    """Ids of records of another type (the nth policy, employee...) as _sequential numbers them."""
    def generate(b: _Block, f: FieldSpec) -> np.ndarray:
        nth = b.rng.integers(1, population + 1, b.n)
        return np.strings.add(prefix, _digits((base + step * nth) % 10 ** digits, digits)).astype(object)
    return generate


def _addresses(b: _Block, f: FieldSpec) -> np.ndarray:
    text = np.strings.add(b.rng.integers(1, 10000, b.n).astype(str), " ")
    text = np.strings.add(np.strings.add(text, _pick(b.rng, STREETS, b.n)), " ")
    text = np.strings.add(text, _pick(b.rng, STREET_KINDS, b.n))
    unit = b.rng.random(b.n)
    text = np.where(unit < 0.12, np.strings.add(text, _pick(b.rng, UNIT_COMMA, b.n)), text)
    text = np.where(unit > 0.98, np.strings.add(text, _pick(b.rng, UNIT_NEWLINE, b.n)), text)
    return text.astype(object)


def _zips(b: _Block, f: FieldSpec) -> np.ndarray:
    zip5 = _digits(b.rng.integers(1001, 99951, b.n), 5)
    plus4 = np.strings.add("-", _digits(b.rng.integers(1, 10000, b.n), 4))
    return np.where(b.rng.random(b.n) < 0.3, np.strings.add(zip5, plus4), zip5).astype(object)


def _providers(b: _Block, f: FieldSpec) -> np.ndarray:
    people = np.strings.add(np.strings.add(_pick(b.rng, LAST_NAMES[0][:60], b.n).astype(str), ", "),
                            _pick(b.rng, LETTERS, b.n).astype(str))
    people = np.strings.add(np.strings.add(people, ". "), _pick(b.rng, PROVIDER_SUFFIXES, b.n))
    return np.where(b.rng.random(b.n) < 0.6, people.astype(object), _pick(b.rng, FACILITIES, b.n))


def _ein(b: _Block, f: FieldSpec) -> np.ndarray:
    return np.strings.add(np.strings.add(_digits(b.rng.integers(10, 99, b.n), 2), "-"),
                          _digits(b.rng.integers(0, 10_000_000, b.n), 7)).astype(object)


def _npi(b: _Block, f: FieldSpec) -> np.ndarray:
    return _digits(b.rng.integers(1_000_000_000, 2_000_000_000, b.n), 10).astype(object)


def _states(b: _Block, f: FieldSpec) -> np.ndarray:
    values, weights = STATES
    if f.codes:
        keep = np.array([v in f.codes for v in values])
        values, weights = values[keep], weights[keep] / weights[keep].sum()
    return _pick(b.rng, (values, weights), b.n)


def _amounts(median: float, sigma: float, lo: float, hi: float) -> Generator:
    return lambda b, f: _money(np.round(_lognormal(b.rng, b.n, median, sigma, lo, hi) * 100))


# Generators for particular columns of particular record types.
BY_TYPE: dict[str, dict[str, Generator]] = {
    "disability": {
        "CLAIM_NO": _sequential("DC", 8, 10_000_000),
        "POLICY_NO": _references("POL", 6, 100_000, step=7),
        "DOB": _dates("1955-01-01", "2002-12-31"),
        "DISABILITY_TYPE": _codes({"STD": 7, "LTD": 3}),
        "DATE_OF_DISABILITY": _dates("2019-01-01", "2025-03-31"),
        "WEEKLY_BENEFIT_AMT": _amounts(850, 0.5, 75, 20000),
        "CLAIM_STATUS": _codes({"OPEN": 3, "APPROVED": 3, "CLOSED": 4, "PENDING": 1, "DENIED": 1}),
    },
    "absence": {
        "LEAVE_ID": _sequential("LV", 8, 20_000_000),
        "EMP_ID": _references("E", 7, 1_000_000, population=5000),
        "LEAVE_TYPE": _codes({"FMLA": 10, "STD": 5, "PFL": 3, "PERSONAL": 3, "MILITARY": 1, "BEREAVE": 2,
                              "JURY": 1, "ADA": 1}),
        "LEAVE_START_DT": _dates("2020-01-01", "2025-05-31"),
        "SCHED_TYPE": _codes({"C": 7, "I": 2, "R": 1}),
        "HRS_PER_WK": _pooled(np.array(["40.00"] * 6 + ["37.50", "35.00", "32.00", "30.00", "24.00", "20.00"],
                                       dtype=object)),
        "LEAVE_STATUS": _codes({"REQ": 1, "APPR": 4, "DENY": 1, "ACTV": 2, "CLSD": 5, "CANC": 1}),
    },
    "group_policy": {
        "GRP_POLICY_NO": _sequential("POL", 6, 100_000, step=7),
        "PLAN_TYPE": _codes({"STD": 3, "LTD": 3, "LIFE": 4, "ADD": 2, "DENT": 3, "VIS": 2, "ABS": 1}),
        "BILL_FREQ": _codes({"M": 8, "Q": 1, "S": 0.5, "A": 0.5}),
        "BROKER_ID": _references("BR", 5, 10_000, step=11, population=200),
        "POLICY_STATUS": _codes({"A": 10, "P": 1, "L": 1, "T": 2, "R": 0.5}),
    },
    "employee": {
        "EMP_ID": _sequential("E", 7, 1_000_000),
        "GRP_POLICY_NO": _references("POL", 6, 100_000, step=7),
        "GENDER": _codes({"M": 49, "F": 49, "X": 1, "U": 1}),
        "MARITAL_STAT": _codes({"S": 3, "M": 5, "D": 1.5, "W": 0.3, "P": 0.3}),
        "JOB_CLASS": _codes({"EXEC": 0.3, "MGMT": 1.5, "PROF": 3, "CLER": 2, "SALE": 1.5, "SKLD": 2, "LABR": 2}),
        "PAY_FREQ": _codes({"W": 2, "B": 5, "S": 2, "M": 1}),
        "EMP_STATUS": _codes({"A": 80, "L": 4, "T": 12, "R": 3, "D": 1}),
    },
    "claim": {
        "CLM_NO": _sequential("CL", 9, 300_000_000),
        "POLICY_NO": _references("POL", 6, 100_000, step=7),
        "REL_TO_INSURED": _codes({"EE": 60, "SP": 20, "CH": 15, "DP": 2, "BN": 3}),
        "CLAIM_TYPE": _codes({"LIFE": 1, "AD&D": 0.5, "DENTAL": 8, "VISION": 4, "CRIT": 1, "ACCID": 2, "HOSP": 1}),
        "INCIDENT_DT": _dates("2019-01-01", "2025-04-30"),
        "CLAIM_STATUS": _codes({"OPEN": 2, "PEND": 2, "APPR": 3, "DENY": 1, "CLSD": 6, "APPL": 0.3}),
    },
}

# Generators for a column name whatever the record type; matched on the whole name, then on a part.
BY_NAME: list[tuple[str, Generator]] = [
    ("LAST_NAME", _pooled(LAST_NAMES)),
    ("FIRST_NAME", _pooled(FIRST_NAMES)),
    ("MIDDLE_INIT", _pooled(LETTERS)),
    ("PROVIDER_NAME", _providers),
    ("EMPLOYER_NAME", _pooled(EMPLOYERS)),
    ("DIAG", _pooled(ICD10)),
    ("EIN", _ein),
    ("NPI", _npi),
    ("SIC", _pooled(SIC_CODES)),
    ("ADDR", _addresses),
    ("CITY", _pooled(CITIES)),
    ("STATE", _states),
    ("ZIP", _zips),
    ("REMARK", _pooled(REMARKS)),
    ("NOTE", _pooled(REMARKS)),
    ("COMMENT", _pooled(REMARKS)),
    ("DOB", _dates("1950-01-01", "2004-12-31")),
    ("BIRTH", _dates("1950-01-01", "2004-12-31")),
    ("NAME", _pooled(LAST_NAMES)),
]

# Share of records with the field blank, where it is optional; DEFAULT_BLANK_SHARE otherwise.
BLANK_SHARES: dict[str, dict[str, float]] = {
    "disability": {"DIAGNOSIS_CODE": 0.08, "GENDER": 0.02, "EMPLOYER_NAME": 0.03, "STATE": 0.02,
                   "BENEFIT_END_DATE": 0.0},
    "absence": {"REASON_CD": 0.0, "REL_CD": 0.0, "LEAVE_END_DT": 0.0, "RTW_DT": 0.0, "REMARKS": 0.6,
                "HRS_PER_WK": 0.03, "SCHED_TYPE": 0.02},
    "group_policy": {"EXP_DT": 0.0, "BROKER_ID": 0.2, "SIC_CD": 0.05, "BILL_FREQ": 0.25},
    "employee": {"TERM_DT": 0.0, "MIDDLE_INIT": 0.25, "MARITAL_STAT": 0.1},
    "claim": {"PAID_AMT": 0.0, "DIAG_CD": 0.1, "PROVIDER_NAME": 0.05, "PROVIDER_NPI": 0.1},
}


def _generator(spec: RecordSpec, f: FieldSpec) -> Generator:
    """The generator for a field: by record type and column, by column name, by pattern, by type."""
    specific = BY_TYPE.get(spec.record_type, {}).get(f.source)
    if specific:
        return specific
    if f.type == "ssn":
        return _ssn
    named = [generate for name, generate in BY_NAME if f.source == name and _suits(name, f)]
    named += [generate for name, generate in BY_NAME if name in f.source and _suits(name, f)]
    for generate in named[:2]:
        if _fits(spec, f, generate):
            return generate
    if f.type == "string" and f.pattern:
        return _from_pattern(f, is_key=f is spec.fields[0])
    return _by_type(f)


def _suits(name: str, f: FieldSpec) -> bool:
    return (f.type == "date") == (name in ("DOB", "BIRTH")) and f.type not in ("decimal", "integer")


def _fits(spec: RecordSpec, f: FieldSpec, generate: Generator) -> bool:
    """Whether a generator chosen by column name makes values the field accepts."""
    values = generate(_Block(spec, np.random.default_rng(0), 1, 200), f)
    if f.type == "code":
        return all(v in f.codes for v in values.tolist())
    if f.type == "string" and f.pattern:
        pattern = re.compile(f.pattern)
        return all(pattern.fullmatch(v) for v in values.tolist())
    return True


def _by_type(f: FieldSpec) -> Generator:
    if f.type == "code":
        return lambda b, f: _pick(b.rng, np.array(list(f.codes), dtype=object), b.n)
    if f.type == "date":
        return _dates("2016-01-01", "2025-03-31")
    if f.type in ("decimal", "integer"):
        lo = f.min if f.min is not None else 0
        hi = f.max if f.max is not None else lo + 10_000
        low = max(lo, 1)

        def numbers(b: _Block, f: FieldSpec) -> np.ndarray:
            x = np.exp(b.rng.uniform(np.log(low), np.log(max(hi, low)), b.n))
            if lo < 0:  # a field that takes negative numbers (credits, refunds) gets some
                below = np.exp(b.rng.uniform(0, np.log(max(-lo, 1)), b.n))
                x = np.where(b.rng.random(b.n) < 0.1, -below, x)
            if f.type == "integer":
                return np.clip(np.round(x), lo, hi).astype(np.int64).astype(str).astype(object)
            return _money(np.clip(np.round(x * 100), lo * 100, hi * 100))
        return numbers
    words = REMARKS if (f.max_length or 100) >= 40 else (np.array(["N/A", "MISC", "OTHER", "STD"], dtype=object))
    return _pooled(words)


def _from_pattern(f: FieldSpec, is_key: bool) -> Generator:
    simple = re.fullmatch(r"([A-Z]*)\\d\{(\d+)\}", f.pattern)
    if simple:
        prefix, digits = simple.group(1), int(simple.group(2))
        base = 10 ** (digits - 1)
        return _sequential(prefix, digits, base) if is_key else _references(prefix, digits, base)
    rnd = random.Random(zlib.crc32(f.pattern.encode()))
    compiled = re.compile(f.pattern)
    pool = sorted({v for v in (_sample(sre_parser.parse(f.pattern), rnd) for _ in range(2000))
                   if compiled.fullmatch(v)})
    if not pool:
        raise ValueError(f"cannot make values for pattern {f.pattern!r} of {f.source}: add a generator to datagen")
    return _pooled(np.array(pool, dtype=object))


_CATEGORY_CHARS = {
    sre_constants.CATEGORY_DIGIT: "0123456789",
    sre_constants.CATEGORY_WORD: "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    sre_constants.CATEGORY_SPACE: " ",
}


def _sample(items, rnd: random.Random) -> str:
    """One string a parsed regular expression matches (common constructs only)."""
    out = []
    for op, arg in items:
        if op is sre_constants.LITERAL:
            out.append(chr(arg))
        elif op is sre_constants.IN:
            chars = []
            for kind, value in arg:
                if kind is sre_constants.LITERAL:
                    chars.append(chr(value))
                elif kind is sre_constants.RANGE:
                    chars.extend(chr(c) for c in range(value[0], value[1] + 1))
                elif kind is sre_constants.CATEGORY and value in _CATEGORY_CHARS:
                    chars.extend(_CATEGORY_CHARS[value])
                else:
                    return ""
            out.append(rnd.choice(chars))
        elif op is sre_constants.CATEGORY and arg in _CATEGORY_CHARS:
            out.append(rnd.choice(_CATEGORY_CHARS[arg]))
        elif op is sre_constants.ANY:
            out.append(rnd.choice(_CATEGORY_CHARS[sre_constants.CATEGORY_WORD]))
        elif op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, sre_constants.POSSESSIVE_REPEAT):
            lo, hi, sub = arg
            hi = lo + 3 if hi is sre_constants.MAXREPEAT else hi
            out.extend(_sample(sub, rnd) for _ in range(rnd.randint(lo, hi)))
        elif op is sre_constants.SUBPATTERN:
            out.append(_sample(arg[-1], rnd))
        elif op is sre_constants.BRANCH:
            out.append(_sample(rnd.choice(arg[1]), rnd))
        elif op is sre_constants.AT:
            continue
        else:
            return ""
    return "".join(out)


# ------------------------------------------------------------------ per-type touches

def _disability(b: _Block) -> None:
    if not b.has("DATE_OF_DISABILITY", "BENEFIT_START_DATE", "BENEFIT_END_DATE", "DISABILITY_TYPE", "CLAIM_STATUS"):
        return
    rng, n = b.rng, b.n
    onset = b.days["DATE_OF_DISABILITY"]
    ltd = b.text["DISABILITY_TYPE"] == "LTD"
    elimination = np.where(ltd, rng.choice([90, 180], n), rng.choice([0, 7, 14], n))
    start = np.where(onset == NO_DAY, NO_DAY, onset + elimination)
    weeks = np.where(ltd, rng.integers(26, 261, n), rng.integers(2, 27, n))
    end = start + 7 * weeks
    status = b.text["CLAIM_STATUS"]
    open_ended = (status == "OPEN") | (status == "PENDING") | (ltd & (rng.random(n) < 0.4))
    b.days["BENEFIT_START_DATE"] = start
    end = np.where(status == "CLOSED", np.minimum(end, REFERENCE), end)  # a closed claim has ended
    b.days["BENEFIT_END_DATE"] = np.where(open_ended | (start == NO_DAY), NO_DAY, end)


_LEAVE_DAYS = {"FMLA": (5, 84), "STD": (7, 182), "PFL": (14, 84), "PERSONAL": (1, 30), "MILITARY": (14, 365),
               "BEREAVE": (1, 5), "JURY": (1, 10), "ADA": (30, 365)}
_LEAVE_REASONS = {"FMLA": {"OWN": 5, "FAM": 3, "BND": 2}, "STD": {"OWN": 8, "PRG": 2}, "PFL": {"FAM": 1, "BND": 1},
                  "MILITARY": {"MIL": 1}, "ADA": {"OWN": 1}, "PERSONAL": {"OTH": 1}, "BEREAVE": {"FAM": 1},
                  "JURY": {"OTH": 1}}
_REASON_RELATIONS = {"OWN": {"EE": 1}, "PRG": {"EE": 1}, "OTH": {"EE": 1}, "BND": {"CH": 1},
                     "FAM": {"SP": 3, "CH": 3, "PA": 3, "DP": 1}, "MIL": {"EE": 3, "SP": 1}}


def _absence(b: _Block) -> None:
    if not b.has("LEAVE_TYPE", "REASON_CD", "REL_CD", "REQUEST_DT", "LEAVE_START_DT", "LEAVE_END_DT", "RTW_DT",
                 "LEAVE_STATUS"):
        return
    rng, n = b.rng, b.n
    kind = b.text["LEAVE_TYPE"]
    start = b.days["LEAVE_START_DT"]
    length = np.ones(n, dtype=np.int64)
    reason = np.full(n, "", dtype=object)
    for code, (lo, hi) in _LEAVE_DAYS.items():
        mask = kind == code
        if mask.any():
            length[mask] = rng.integers(lo, hi + 1, mask.sum())
            reason[mask] = _weighted(rng, _LEAVE_REASONS[code], mask.sum())
    relation = np.full(n, "", dtype=object)
    for code, choices in _REASON_RELATIONS.items():
        mask = reason == code
        if mask.any():
            relation[mask] = _weighted(rng, choices, mask.sum())
    status = b.text["LEAVE_STATUS"]
    end = start + length - 1
    open_ended = ((status == "REQ") | (status == "ACTV")) & (rng.random(n) < 0.4)
    returned = (status == "CLSD") | ((status == "APPR") & (rng.random(n) < 0.5))
    b.text["REASON_CD"], b.text["REL_CD"] = reason, relation
    b.days["REQUEST_DT"] = start - rng.integers(-10, 45, n)  # some leaves are requested after they start
    b.days["LEAVE_END_DT"] = np.where(open_ended, NO_DAY, end)
    b.days["RTW_DT"] = np.where(returned & ~open_ended, end + 1, NO_DAY)


def _group_policy(b: _Block) -> None:
    if not b.has("EFF_DT", "EXP_DT", "POLICY_STATUS", "COVERED_LIVES", "MONTHLY_PREM", "PLAN_TYPE"):
        return
    rng, n = b.rng, b.n
    effective = _month_starts(rng, "2005-01", "2025-06", n)  # policies start on the first of a month
    years = rng.choice([1, 1, 1, 2, 3], n)
    expiry = _add_months(effective, 12 * years) - 1
    status = b.text["POLICY_STATUS"]
    evergreen = np.isin(status, ["A", "P", "R"]) & (rng.random(n) < 0.3)
    b.days["EFF_DT"] = effective
    b.days["EXP_DT"] = np.where(evergreen, NO_DAY, expiry)
    lives = np.round(_lognormal(rng, n, 60, 1.6, 2, 50_000)).astype(np.int64)
    rates = {"STD": (9, 25), "LTD": (8, 30), "LIFE": (4, 15), "ADD": (1, 4), "DENT": (25, 60), "VIS": (5, 15),
             "ABS": (2, 8)}
    rate = np.full(n, 10.0)
    for plan, (lo, hi) in rates.items():
        mask = b.text["PLAN_TYPE"] == plan
        rate[mask] = rng.uniform(lo, hi, mask.sum())
    top = b.fields["MONTHLY_PREM"].max or 1e12
    b.text["COVERED_LIVES"] = lives.astype(str).astype(object)
    b.text["MONTHLY_PREM"] = _money(np.minimum(np.round(lives * rate * 100), top * 100))


_SALARIES = {"EXEC": 210_000, "MGMT": 115_000, "PROF": 90_000, "CLER": 45_000, "SALE": 70_000, "SKLD": 60_000,
             "LABR": 38_000}


def _employee(b: _Block) -> None:
    if not b.has("DOB", "HIRE_DT", "TERM_DT", "EMP_STATUS", "JOB_CLASS", "ANNUAL_SALARY"):
        return
    rng, n = b.rng, b.n
    birth = b.days["DOB"]
    hire = _uniform_days(rng, birth + int(18 * _YEAR) + 1, np.minimum(REFERENCE, birth + int(50 * _YEAR)), n)
    status = b.text["EMP_STATUS"]
    left = np.isin(status, ["T", "R", "D"])
    term = _uniform_days(rng, hire, REFERENCE, n)
    b.days["HIRE_DT"] = np.where(birth == NO_DAY, b.days["HIRE_DT"], hire)
    b.days["TERM_DT"] = np.where(left, term, NO_DAY)
    median = np.array([_SALARIES.get(c, 60_000) for c in b.text["JOB_CLASS"].tolist()], dtype=float)
    salary = np.clip(median * rng.lognormal(0, 0.3, n), 15_000, b.fields["ANNUAL_SALARY"].max or 5e6)
    b.text["ANNUAL_SALARY"] = _money(np.round(salary) * 100)


_CLAIM_AMOUNTS = {"LIFE": (50_000, 0.8), "AD&D": (25_000, 0.8), "DENTAL": (350, 0.9), "VISION": (180, 0.5),
                  "CRIT": (15_000, 0.5), "ACCID": (1_500, 0.9), "HOSP": (2_500, 0.7)}


def _claim(b: _Block) -> None:
    if not b.has("CLMT_DOB", "REL_TO_INSURED", "INCIDENT_DT", "REPORTED_DT", "CLAIM_TYPE", "CLAIMED_AMT",
                 "PAID_AMT", "CLAIM_STATUS"):
        return
    rng, n = b.rng, b.n
    child = b.text["REL_TO_INSURED"] == "CH"
    b.days["CLMT_DOB"] = np.where(child, _uniform_days(rng, _day("2000-01-01"), _day("2018-12-31"), n),
                                  _uniform_days(rng, _day("1945-01-01"), _day("2003-12-31"), n))
    b.days["REPORTED_DT"] = b.days["INCIDENT_DT"] + rng.integers(0, 91, n)
    claimed = np.zeros(n)
    top = b.fields["CLAIMED_AMT"].max or 1e9
    for kind, (median, sigma) in _CLAIM_AMOUNTS.items():
        mask = b.text["CLAIM_TYPE"] == kind
        claimed[mask] = _lognormal(rng, mask.sum(), median, sigma, 25, top)
    cents = np.round(claimed * 100)
    status = b.text["CLAIM_STATUS"]
    paid = np.where(np.isin(status, ["APPR", "CLSD"]), _money(np.floor(cents * rng.uniform(0.6, 1.0, n))), "")
    paid[status == "DENY"] = "0.00"
    b.text["CLAIMED_AMT"] = _money(cents)
    b.text["PAID_AMT"] = paid.astype(object)


PER_TYPE: dict[str, Callable[[_Block], None]] = {
    "disability": _disability, "absence": _absence, "group_policy": _group_policy, "employee": _employee,
    "claim": _claim,
}


# ------------------------------------------------------------------ valid records

def _valid_block(spec: RecordSpec, generators: list[Generator], rng: np.random.Generator, first_row: int,
                 n: int, check: bool) -> _Block:
    b = _Block(spec, rng, first_row, n)
    shares = BLANK_SHARES.get(spec.record_type, {})
    for f, generate in zip(spec.fields, generators):
        values = generate(b, f)
        blank = rng.random(n) < (0.0 if f.required else shares.get(f.source, DEFAULT_BLANK_SHARE))
        if f.type == "date":
            b.days[f.source] = np.where(blank, NO_DAY, values).astype(np.int64)
        else:
            values = np.asarray(values, dtype=object)
            if f.max_length and max(map(len, values.tolist()), default=0) > f.max_length:
                values = np.array([v[: f.max_length] for v in values.tolist()], dtype=object)
            values[blank] = ""
            b.text[f.source] = values
    if spec.record_type in PER_TYPE:
        PER_TYPE[spec.record_type](b)
    for f in spec.fields:  # a two-digit year can only say a year of its century window
        if f.type == "date" and DATE_FORMATS[f.format].two_digit_year:
            first, last = _window(f)
            days = b.days[f.source]
            days[:] = np.where(days == NO_DAY, NO_DAY, np.clip(days, _day(f"{first:04d}-01-01"), _day(f"{last}-12-31")))
    _order_dates(b)
    for f in spec.fields:
        if f.type == "date":
            b.text[f.source] = _format_days(b.days[f.source], f.format)
        else:
            b.text[f.source] = _in_notation(b.text[f.source], f)
        if f.none_values:  # a system with a placeholder for "none" writes it instead of a blank
            b.text[f.source][b.text[f.source] == ""] = f.none_values[0]
    if check:
        _check_valid(b)
    return b


def _order_dates(b: _Block) -> None:
    """Make every date rule hold and keep 'not in the future' dates on or before REFERENCE_DAY."""
    future_checked = [f.source for f in b.spec.fields if f.type == "date" and f.not_in_future]
    for _ in range(len(b.spec.rules) + 2):
        changed = False
        for rule in b.spec.rules:
            first, then = b.days[rule.first], b.days[rule.then]
            bad = (first != NO_DAY) & (then != NO_DAY) & (then < first)
            if bad.any():
                then[bad] = first[bad] + b.rng.integers(0, 120, int(bad.sum()))
                changed = True
        for source in future_checked:
            days = b.days[source]
            late = (days != NO_DAY) & (days > REFERENCE)
            if late.any():
                days[late] = REFERENCE - b.rng.integers(0, 30, int(late.sum()))
                changed = True
        if not changed:
            return
    raise RuntimeError(f"datagen: cannot make the dates of {b.spec.record_type} agree with its rules")


def _check_valid(b: _Block) -> None:
    """Fail loudly when a generator makes values its own spec rejects (a spec changed under it)."""
    for f in b.spec.fields:
        values = [v for v in b.text[f.source].tolist() if v]
        bad: list[str] = []
        if f.type == "string" and f.pattern:
            pattern = re.compile(f.pattern)
            bad = [v for v in values if not pattern.fullmatch(v)]
        if f.type == "code":
            bad = [v for v in values if v not in f.codes]
        if bad:
            raise RuntimeError(f"datagen: {b.spec.record_type}.{f.source} generator made {bad[0]!r}, which its "
                               f"spec rejects: adjust BY_TYPE or BY_NAME in datagen/legacy_files.py")


# ------------------------------------------------------------------ invalid records

def _break_required(b: _Block, i: int, f: FieldSpec) -> bool:
    none = list(f.none_values)
    b.set_text(f.source, i, _choose(b, none) if none and b.rng.random() < 0.5 else "")
    return True


def _choose(b: _Block, candidates: list[str]) -> str | None:
    return candidates[int(b.rng.integers(len(candidates)))] if candidates else None


def _break_pattern(b: _Block, i: int, f: FieldSpec) -> bool:
    v = b.text[f.source][i]
    pattern = re.compile(f.pattern)
    candidates = [v[:-1], v + "9", v.lower(), "#" + v, "N/A", "UNKNOWN"]  # truncated, too long, keyed wrong...
    value = _choose(b, [c for c in candidates if c and not pattern.fullmatch(c)
                        and (not f.max_length or len(c) <= f.max_length)])
    if value is None:
        return False
    b.set_text(f.source, i, value)
    return True


def _break_max_length(b: _Block, i: int, f: FieldSpec) -> bool:
    base = b.text[f.source][i] or REMARKS[0][(b.first_row + i) % len(REMARKS[0])]
    long = (base + " ") * (f.max_length // (len(base) + 1) + 2)
    b.set_text(f.source, i, long[: f.max_length + int(b.rng.integers(1, 20))])
    return True


def _break_ssn(b: _Block, i: int, f: FieldSpec) -> bool:
    d = b.text[f.source][i].replace("-", "")
    d = d if len(d) == 9 else "123456789"
    candidates = ["000" + d[3:], "666" + d[3:], "9" + d[1:], d[:3] + "00" + d[5:], d[:5] + "0000", d[:8],
                  d + "1", d[:8] + "O", "999999999"]
    value = _choose(b, [c for c in candidates if not SSN_PATTERN.fullmatch(c)])
    if len(value) == 9 and b.rng.random() < 0.3:
        value = f"{value[:3]}-{value[3:5]}-{value[5:]}"
    b.set_text(f.source, i, value)
    return True


def _break_date_format(b: _Block, i: int, f: FieldSpec) -> bool:
    day = b.days[f.source][i]
    d = _EPOCH + timedelta(days=int(day if day != NO_DAY else REFERENCE - 400))
    y, m, dd = f"{d.year:04d}", f"{d.month:02d}", f"{d.day:02d}"
    yy, ddd = y[2:], f"{d.timetuple().tm_yday:03d}"
    leap = d.year % 4 == 0 and (d.year % 100 != 0 or d.year % 400 == 0)
    candidates = {
        "YYYYMMDD": ["00000000", "99999999", y + "0230", y + "13" + dd, f"{y}-{m}-{dd}", (y + m + dd)[:7]],
        "MMDDYYYY": ["00000000", "99999999", "0230" + y, "13" + dd + y, f"{m}/{dd}/{y}", (m + dd + y)[:7]],
        "MM/DD/YYYY": ["00/00/0000", f"02/30/{y}", f"13/{dd}/{y}", f"{y}-{m}-{dd}", f"{m}/{dd}/{y[2:]}",
                       m + dd + y],
        "YYYY-MM-DD": ["0000-00-00", f"{y}-02-30", f"{y}-13-{dd}", f"{m}/{dd}/{y}", f"{y}-{m}"],
        "MMDDYY": ["000000", "999999", "0230" + yy, "13" + dd + yy, f"{m}/{dd}/{yy}", m + dd + y,
                   (m + dd + yy)[:5]],
        "CCYYDDD": ["0000000", "9999999", y + "000", y + ("367" if leap else "366"), y + m + dd,
                    (y + ddd)[:6]],
    }[f.format]
    b.set_text(f.source, i, _choose(b, [c for c in candidates if c not in f.none_values]))
    b.days[f.source][i] = NO_DAY
    return True


def _break_not_in_future(b: _Block, i: int, f: FieldSpec) -> bool:
    # A later date can put a dependent date before it: blank optional dependents, give up on required ones.
    dependents = [r.then for r in b.spec.rules if r.first == f.source and b.days[r.then][i] != NO_DAY]
    if any(b.fields[d].required for d in dependents):
        return False
    day = b.days[f.source][i]
    d = _EPOCH + timedelta(days=int(day if day != NO_DAY else REFERENCE - 400))
    # A century typo (2123 for 2023); with a two-digit year, the last year of its window.
    year = d.year + 100 if d.year + 100 <= _window(f)[1] else _window(f)[1]
    if year <= REFERENCE_DAY.year:
        return False
    typo = date(year, d.month, 28 if (d.month, d.day) == (2, 29) else d.day)
    for dependent in dependents:
        b.set_text(dependent, i, "")
    b.set_day(f.source, i, _day(typo))
    return True


def _break_number_format(b: _Block, i: int, f: FieldSpec) -> bool:
    v = b.text[f.source][i]
    candidates = ["N/A", "TBD"]
    if v and (f.implied_decimals is not None or f.sign != "leading"):
        if "0" in v:
            candidates.append(v.replace("0", "O", 1))  # letter O keyed for zero
        digits = v.rstrip("+-CRDB")
        if f.implied_decimals is not None and len(digits) > f.implied_decimals:
            cut = len(digits) - f.implied_decimals   # the decimal point written after all
            candidates.append(digits[:cut] + "." + digits[cut:] + v[len(digits):])
        if f.sign != "leading":
            candidates.append("-" + digits)  # the sign on the wrong side
    elif v:
        candidates.append(v + "-")                  # COBOL trailing sign
        whole = v.split(".")[0]
        if len(whole) > 3:
            candidates.append(f"{int(whole):,}" + v[len(whole):])  # thousands separator
        if "0" in v:
            candidates.append(v.replace("0", "O", 1))  # letter O keyed for zero
        candidates.append(v + ".5" if f.type == "integer" else v.replace(".", ",") if "." in v else v + ",00")
    b.set_text(f.source, i, _choose(b, candidates))
    return True


def _break_min(b: _Block, i: int, f: FieldSpec) -> bool:
    if f.type == "integer":
        value = str(int(np.ceil(f.min)) - int(b.rng.integers(1, 3)))
    else:
        value = f"{f.min - int(b.rng.integers(1, 50_000)) / 100:.2f}"
    b.set_text(f.source, i, _number_in_notation(value, f))
    return True


def _break_max(b: _Block, i: int, f: FieldSpec) -> bool:
    if f.type == "integer":
        value = str(int(np.floor(f.max)) + int(b.rng.integers(1, 1000)))
    else:
        value = f"{f.max + int(b.rng.integers(1, 5_000_000)) / 100:.2f}"
    b.set_text(f.source, i, _number_in_notation(value, f))
    return True


def _break_code(b: _Block, i: int, f: FieldSpec) -> bool:
    v = b.text[f.source][i]
    candidates = [v.lower(), v + "X", "??", "UNK", "*", "0"]
    b.set_text(f.source, i, _choose(b, [c for c in candidates if c and c not in f.codes]))
    return True


def _break_date_order(b: _Block, i: int, rule: CrossFieldRule) -> bool:
    first = b.days[rule.first][i]
    if first == NO_DAY:
        return False
    day = int(first) - int(b.rng.integers(1, 91))
    if day < _day(f"{_window(b.fields[rule.then])[0]:04d}-01-01"):
        return False  # a two-digit year cannot say a day before its window
    for other in b.spec.rules:  # the earlier date must not break another rule on the same field
        if other.then == rule.then and other is not rule:
            limit = b.days[other.first][i]
            if limit != NO_DAY and day < limit:
                return False
    b.set_day(rule.then, i, day)
    return True


_BREAKERS: dict[str, Callable] = {
    "required": _break_required, "pattern": _break_pattern, "max_length": _break_max_length,
    "ssn_format": _break_ssn, "date_format": _break_date_format, "not_in_future": _break_not_in_future,
    "number_format": _break_number_format, "min": _break_min, "max": _break_max,
    "allowed_values": _break_code, "date_order": _break_date_order,
}


def _breakable(spec: RecordSpec) -> list[tuple[str, list]]:
    """Each rule a record can be made to break, with the fields (or date rules) it applies to."""
    fields = spec.fields
    kinds: list[tuple[str, list]] = [
        ("required", [f for f in fields if f.required]),
        ("pattern", [f for f in fields if f.type == "string" and f.pattern]),
        ("max_length", [f for f in fields if f.type == "string" and f.max_length and not f.pattern]),
        ("ssn_format", [f for f in fields if f.type == "ssn"]),
        ("date_format", [f for f in fields if f.type == "date"]),
        ("not_in_future", [f for f in fields if f.type == "date" and f.not_in_future]),
        ("number_format", [f for f in fields if f.type in ("decimal", "integer")]),
        ("min", [f for f in fields if f.type in ("decimal", "integer") and f.min is not None]),
        ("max", [f for f in fields if f.type in ("decimal", "integer") and f.max is not None]),
        ("allowed_values", [f for f in fields if f.type == "code"]),
        ("date_order", list(spec.rules)),
    ]
    return [(rule, targets) for rule, targets in kinds if targets]


def _break_rows(b: _Block, rows: np.ndarray, kinds: list[tuple[str, list]]) -> list[InvalidRecord]:
    invalid = []
    # A rule that applies to more fields is broken more often (required fields go missing most).
    weights = np.sqrt([len(targets) for _, targets in kinds])
    weights /= weights.sum()
    for row in rows.tolist():
        i = row - b.first_row
        for _ in range(100):
            rule, targets = kinds[int(b.rng.choice(len(kinds), p=weights))]
            target = targets[int(b.rng.integers(len(targets)))]
            if _BREAKERS[rule](b, i, target):
                invalid.append(InvalidRecord(row, target.then if rule == "date_order" else target.source, rule))
                break
        else:
            raise RuntimeError(f"datagen: no rule of {b.spec.record_type} can be broken in row {row}")
    return invalid


# ------------------------------------------------------------------ the file

def _spec(record_type: str, specs: dict[str, RecordSpec] | None) -> RecordSpec:
    specs = specs if specs is not None else load_specs()
    if record_type not in specs:
        raise ValueError(f"unknown record type {record_type!r} (known: {', '.join(sorted(specs))})")
    return specs[record_type]


def _blocks(spec: RecordSpec, records: int, invalid_share: float, seed: int
            ) -> Iterator[tuple[Iterator[tuple[str, ...]], list[InvalidRecord]]]:
    if records < 0 or not 0 <= invalid_share <= 1:
        raise ValueError("records must be >= 0 and invalid_share between 0 and 1")
    stream = zlib.crc32(spec.record_type.encode())
    plan = np.random.default_rng([seed, stream, 0])
    bad_rows = np.sort(plan.choice(records, int(round(records * invalid_share)), replace=False)) + 1
    kinds = _breakable(spec)
    generators = [_generator(spec, f) for f in spec.fields]
    for number, first in enumerate(range(1, records + 1, BLOCK_RECORDS)):
        n = min(BLOCK_RECORDS, records + 1 - first)
        b = _valid_block(spec, generators, np.random.default_rng([seed, stream, number + 1]), first, n, check=number == 0)
        here = bad_rows[(bad_rows >= first) & (bad_rows < first + n)]
        invalid = _break_rows(b, here, kinds) if len(here) and kinds else []
        yield zip(*(b.text[f.source].tolist() for f in spec.fields)), invalid


def generate_rows(record_type: str, records: int, invalid_share: float = 0.05, seed: int = 7,
                  specs: dict[str, RecordSpec] | None = None) -> Generated:
    """The header, the records and the deliberately invalid ones, exactly as the file would hold them."""
    spec = _spec(record_type, specs)
    rows: list[tuple[str, ...]] = []
    invalid: list[InvalidRecord] = []
    for block, broken in _blocks(spec, records, invalid_share, seed):
        rows.extend(block)
        invalid.extend(broken)
    return Generated(spec.source_columns, rows, invalid)


def write_legacy_csv(out: TextIO, record_type: str, records: int, invalid_share: float = 0.05, seed: int = 7,
                     specs: dict[str, RecordSpec] | None = None) -> list[InvalidRecord]:
    """Write a header and `records` records to an open text stream (opened with newline="")."""
    spec = _spec(record_type, specs)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(spec.source_columns)
    invalid: list[InvalidRecord] = []
    for block, broken in _blocks(spec, records, invalid_share, seed):
        writer.writerows(block)
        invalid.extend(broken)
    return invalid


def write_legacy_file(record_type: str, path: str, records: int, invalid_share: float = 0.05, seed: int = 7,
                      specs: dict[str, RecordSpec] | None = None) -> int:
    """Write a legacy export of `records` records to `path`; return how many are deliberately invalid."""
    with open(path, "w", encoding="utf-8", newline="") as out:
        return len(write_legacy_csv(out, record_type, records, invalid_share, seed, specs))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m datagen.legacy_files",
                                     description="Write a synthetic legacy CSV export for a record type.")
    parser.add_argument("record_type", help=f"one of: {', '.join(sorted(load_specs()))}")
    parser.add_argument("path", help="the CSV file to write")
    parser.add_argument("records", type=int, help="number of records (the header is extra)")
    parser.add_argument("--invalid-share", type=float, default=0.05,
                        help="share of records made invalid on purpose (default 0.05)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--list-invalid", action="store_true",
                        help="print the invalid records as CSV lines: row,field,rule")
    args = parser.parse_args(argv)
    try:
        with open(args.path, "w", encoding="utf-8", newline="") as out:
            invalid = write_legacy_csv(out, args.record_type, args.records, args.invalid_share, args.seed)
    except ValueError as err:
        parser.error(str(err))
    if args.list_invalid:
        print("row,field,rule")
        for record in invalid:
            print(f"{record.row},{record.field},{record.rule}")
    print(f"wrote {args.records} {args.record_type} records to {args.path} ({len(invalid)} deliberately invalid)",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
