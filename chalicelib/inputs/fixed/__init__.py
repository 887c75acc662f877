"""Fixed-width and variable-length mainframe records: layouts, copybooks, code pages, framing, decoding."""
