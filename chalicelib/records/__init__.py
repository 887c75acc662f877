"""Record types: specs that say what a legacy record's fields are (schema), and mapping and
validating a chunk of records against one (mapping).

The mapping names (`transform`, `Transformed`, `RecordError`, `MASK`) are imported on first use,
not with the package: the mapping engine needs numpy and pandas, and the API reads the specs
without them.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.records.schema import FieldSpec, RecordSpec, load_spec, load_specs

if TYPE_CHECKING:
    from chalicelib.records.mapping import MASK, RecordError, Transformed, transform

__all__ = ["FieldSpec", "MASK", "RecordError", "RecordSpec", "Transformed", "load_spec", "load_specs", "transform"]
_FROM_MAPPING = ("MASK", "RecordError", "Transformed", "transform")


def __getattr__(name: str):
    if name in _FROM_MAPPING:
        from chalicelib.records import mapping
        return getattr(mapping, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
