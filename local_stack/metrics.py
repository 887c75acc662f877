"""The laptop's CloudWatch: the metrics the functions print as EMF documents, added up as CloudWatch would.

The handlers print their metrics to stdout as Embedded Metric Format documents (chalicelib/observability.py),
in Lambda and here alike. The local stack reads every line its processes print (`EmfTee`: the API and the
pollers in its own process, each worker through a pipe of its own, WorkerPool) and hands the documents to
`LocalMetrics`, which keeps, per metric and per dimension set, what CloudWatch would: sample count, sum,
minimum, maximum, and the values for percentiles. `GET /local/metrics` of the local API serves it: this
server's route, not the app's, so it is never deployed.
"""
from __future__ import annotations

import io
import json
import math
import threading
from dataclasses import dataclass, field

PATH = "/local/metrics"
KEPT_VALUES = 10_000  # per series, for percentiles; the statistics themselves count every value


def emf_document(line: str) -> dict | None:
    """The EMF document a printed line holds, or None (a log line, a banner, half a line)."""
    line = line.strip()
    if not line.startswith("{") or '"_aws"' not in line:
        return None
    try:
        document = json.loads(line)
    except ValueError:
        return None
    return document if isinstance(document, dict) and isinstance(document.get("_aws"), dict) else None


@dataclass
class Series:
    unit: str
    count: int = 0
    total: float = 0.0
    minimum: float = math.inf
    maximum: float = -math.inf
    values: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.minimum = min(self.minimum, value)
        self.maximum = max(self.maximum, value)
        if len(self.values) < KEPT_VALUES:
            self.values.append(value)

    def statistics(self) -> dict:
        ordered = sorted(self.values)

        def percentile(p: float) -> float:
            return ordered[min(len(ordered) - 1, math.ceil(p * len(ordered)) - 1)]

        return {"unit": self.unit, "sample_count": self.count, "sum": self.total, "minimum": self.minimum,
                "maximum": self.maximum, "average": self.total / self.count,
                "p50": percentile(0.5), "p95": percentile(0.95)}


class LocalMetrics:
    """Every series the documents describe: one per (namespace, metric, dimension set and values), as in
    CloudWatch, where a document with dimension sets [Stage] and [Stage, RecordType] makes two series."""

    def __init__(self):
        self._series: dict[tuple, Series] = {}
        self._documents = 0
        self._lock = threading.Lock()

    def add(self, document: dict) -> None:
        with self._lock:
            self._documents += 1
            for directive in document["_aws"].get("CloudWatchMetrics", []):
                namespace = directive.get("Namespace", "")
                for dimension_set in directive.get("Dimensions", []) or [[]]:
                    dimensions = tuple((name, str(document.get(name, ""))) for name in dimension_set)
                    for definition in directive.get("Metrics", []):
                        name = definition["Name"]
                        values = document.get(name)
                        values = values if isinstance(values, list) else [values]
                        key = (namespace, name, dimensions)
                        series = self._series.setdefault(key, Series(definition.get("Unit", "None")))
                        for value in values:
                            if isinstance(value, (int, float)):
                                series.add(float(value))

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "documents": self._documents,
                "metrics": [{"namespace": namespace, "name": name, "dimensions": dict(dimensions),
                             **series.statistics()}
                            for (namespace, name, dimensions), series in sorted(self._series.items())
                            if series.count],
            }


class EmfTee(io.TextIOBase):
    """A text stream that passes everything on to `stream` and hands each EMF document line to `sink`."""

    def __init__(self, stream, sink):
        self._stream = stream
        self._sink = sink
        self._partial = ""
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        written = self._stream.write(text)
        documents = []
        with self._lock:
            self._partial += text
            *lines, self._partial = self._partial.split("\n")
            documents = [d for d in map(emf_document, lines) if d is not None]
        for document in documents:
            self._sink(document)
        return written if written is not None else len(text)

    def flush(self) -> None:
        self._stream.flush()

    def fileno(self) -> int:
        return self._stream.fileno()

    def isatty(self) -> bool:
        return self._stream.isatty()

    @property
    def encoding(self):
        return getattr(self._stream, "encoding", "utf-8")

    @property
    def buffer(self):
        return self._stream.buffer


def answer(metrics: LocalMetrics) -> bytes:
    return (json.dumps(metrics.snapshot(), indent=2) + "\n").encode("utf-8")
