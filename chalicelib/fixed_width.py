"""Fixed-width mainframe records: copybook-like layouts, EBCDIC, zoned and packed decimals.

To be written. The interface the rest of the service uses:

- `load_layout(spec_file_name, raw_layout, source_fields) -> Layout`: validate the
  spec's "fixed_width" section; raise record_types.SpecError naming the file and
  the field on any problem.
- `plan_fixed_width(blocks, layout, fmt, records_per_chunk, max_chunk_bytes) -> planner.Plan`
  (header = the layout's field names, chunks cut on record boundaries).
- `read_fixed_chunk(data, layout, fmt, first_row) -> reader.ChunkFrame`: one text
  column per source field, values as the delimited reader would give them.
"""
