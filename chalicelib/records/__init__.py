"""Record types: specs that say what a legacy record's fields are (schema), and mapping and
validating a chunk of records against one (transform)."""
from chalicelib.records.schema import FieldSpec, RecordSpec, load_spec, load_specs
from chalicelib.records.transform import MASK, RecordError, Transformed, transform

__all__ = ["FieldSpec", "MASK", "RecordError", "RecordSpec", "Transformed", "load_spec", "load_specs", "transform"]
