"""Answers that carry mainframe amounts write them as the numbers they are, never through a float."""
from __future__ import annotations

import json
from decimal import Decimal

from chalicelib.api import exact_json


def test_decimals_are_written_as_read_and_everything_else_as_json_writes_it():
    # GIVEN an amount of 31 digits (COMP-3's most), which a float would round, beside the other JSON types
    body = {"amount": Decimal("1234567890123456789012345678.901"), "small": Decimal("0.10"), "big": Decimal("1E+3"),
            "neg": Decimal("-0.01"), "text": 'a "quoted"\u2028line', "none": None, "flag": True, "n": 7,
            "nested": [{"x": Decimal("2.50")}], "astral": "\U0001F600"}
    # WHEN it is answered
    response = exact_json(body)
    # THEN the text holds each amount's digits exactly, and it is JSON that reads back to the same values
    text = response.body
    assert '"amount":1234567890123456789012345678.901' in text and '"small":0.10' in text and '"big":1E+3' in text
    assert json.loads(text, parse_float=Decimal) == {**body, "big": Decimal("1E+3")}
    assert response.headers["Content-Type"] == "application/json"
