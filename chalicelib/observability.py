"""Structured logs and CloudWatch metrics (Embedded Metric Format).

Log lines are JSON with run and chunk ids and counts only: never record
contents, file rows or credentials. Metrics are EMF documents printed to
stdout, which Lambda ships to CloudWatch Logs and CloudWatch turns into metrics
without an API call on the hot path.
"""
from __future__ import annotations

import json
import logging
import sys
import time

from chalicelib.config import Settings

NAMESPACE = "RecordsMigration"
_logger: logging.Logger | None = None


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"level": record.levelname, "message": record.getMessage(), "logger": record.name}
        entry.update(getattr(record, "fields", {}))
        if record.exc_info and record.exc_info[0] is not None:
            # The exception's type only: its text may quote a record or a token.
            entry["exception"] = record.exc_info[0].__name__
        return json.dumps(entry, default=str)


def logger() -> logging.Logger:
    global _logger
    if _logger is None:
        _logger = logging.getLogger("records_migration")
        _logger.setLevel(Settings.from_environ().log_level)
        if not _logger.handlers:
            handler = logging.StreamHandler(sys.stdout)
            handler.setFormatter(_JsonFormatter())
            _logger.addHandler(handler)
        _logger.propagate = False
    return _logger


def log(message: str, level: int = logging.INFO, exc_info: bool = False, **fields) -> None:
    logger().log(level, message, extra={"fields": fields}, exc_info=exc_info)


def emit_metrics(record_type: str, processed: int, failed: int, seconds: float) -> None:
    document = {
        "_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [{
            "Namespace": NAMESPACE, "Dimensions": [["RecordType"]],
            "Metrics": [{"Name": "RecordsProcessed", "Unit": "Count"},
                        {"Name": "RecordsFailed", "Unit": "Count"},
                        {"Name": "ChunkSeconds", "Unit": "Seconds"}]}]},
        "RecordType": record_type, "RecordsProcessed": processed, "RecordsFailed": failed,
        "ChunkSeconds": round(seconds, 3),
    }
    print(json.dumps(document), flush=True)
