"""Input formats: delimited text and fixed-width or variable-length mainframe records.

Two steps, one entry point each, whatever the format: `plan_file` scans a file
into chunks cut on record boundaries, `read_records` turns one chunk's bytes
into a frame of source text values and the records that could not be read.
"""
from chalicelib.inputs.chunks import ChunkFrame, Plan
from chalicelib.inputs.files import plan_file, read_records

__all__ = ["ChunkFrame", "Plan", "plan_file", "read_records"]
