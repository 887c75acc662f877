"""Personal data kept out of what the service says: one mask, one pattern of what looks like an SSN.

Error reports, the target's reasons and messages show a value only after
`mask_ssn_like`: a social security number can sit in any column (a free-text
note, a misplaced field), not only in the ones a spec marks personal.
"""
from __future__ import annotations

import re

MASK = "***"
# Nine digits, alone or as 3-2-4 with dashes or spaces, not inside a longer run of digits.
SSN_LIKE = re.compile(r"(?<!\d)\d{3}[- ]?\d{2}[- ]?\d{4}(?!\d)")


def mask_ssn_like(text: str) -> str:
    return SSN_LIKE.sub(MASK, text)
