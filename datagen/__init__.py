"""Synthetic legacy exports for development, tests and benchmarks (not shipped to Lambda).

See datagen/legacy_files.py; run it with `python -m datagen.legacy_files --help`.
"""
from __future__ import annotations

__all__ = ["InvalidRecord", "generate_rows", "write_legacy_csv", "write_legacy_file"]


def __getattr__(name: str):
    # Imported lazily, so `python -m datagen.legacy_files` does not import the module twice.
    if name in __all__:
        from datagen import legacy_files
        return getattr(legacy_files, name)
    raise AttributeError(f"module 'datagen' has no attribute {name!r}")
