"""When a column is worth working on once per distinct value, instead of once per value.

Decoding a fixed-width field (chalicelib.inputs.fixed.decoding) and encoding a field's JSON
(chalicelib.records.mapping) are functions of a value alone, so a column whose values repeat (states,
codes, names, dates) can be done once per distinct value and expanded. Finding the distinct values
costs a hash table over the column, which pays only when they are few: it is tried on a column of at
least MIN_VALUES values whose first SAMPLE values are not nearly all distinct, and kept when at most
half of the column is distinct.
"""
from __future__ import annotations

SAMPLE = 1000
MIN_VALUES = 2 * SAMPLE


def may_repeat(count: int, distinct_in_sample: int) -> bool:
    """Whether a column of `count` values, `distinct_in_sample` of its first SAMPLE distinct, is worth
    a hash table."""
    return count >= MIN_VALUES and distinct_in_sample < 0.9 * SAMPLE


def repeats(count: int, distinct: int) -> bool:
    """Whether a column of `count` values, `distinct` of them distinct, is worth doing once per value."""
    return 2 * distinct <= count
