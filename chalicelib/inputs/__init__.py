"""Input formats: delimited text and fixed-width or variable-length mainframe records.

Two steps, one entry point each, whatever the format: `plan_file` scans a file
into chunks cut on record boundaries, `read_records` turns one chunk's bytes
into a frame of source text values and the records that could not be read.

They are imported on first use: the API loads record specs (and their layouts,
from chalicelib.inputs.fixed) but never reads a file, so it does not pay for
pandas and numpy at a cold start.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chalicelib.inputs.chunks import ChunkFrame, Plan
    from chalicelib.inputs.files import plan_file, read_records

__all__ = ["ChunkFrame", "Plan", "plan_file", "read_records"]
_HOMES = {"ChunkFrame": "chalicelib.inputs.chunks", "Plan": "chalicelib.inputs.chunks",
          "plan_file": "chalicelib.inputs.files", "read_records": "chalicelib.inputs.files"}


def __getattr__(name: str):
    if name in _HOMES:
        import importlib
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
