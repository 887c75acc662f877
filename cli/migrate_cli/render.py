"""The API's answers as tables for people (rich), and the few facts read from them.

Fields that an older service does not answer yet (the live progress fields, `outcome`, `reconciliation`,
`counts_by_status`) are read with fallbacks, so the client works against either.
"""
from __future__ import annotations

import json
from typing import Any, Iterable

from rich.console import Console
from rich.table import Table
from rich.text import Text

FINAL = ("completed", "failed", "cancelled")
STYLE = {"completed": "green", "completed_with_rejections": "yellow", "failed": "red", "cancelled": "magenta",
         "running": "cyan", "pending": "blue"}


# ------------------------------------------------------------------ facts read from answers
def outcome(doc: dict) -> str | None:
    """How a run ended: the answer's `outcome`, or (from a service without it) its status, told apart when
    a completed run rejected records. None while it is active."""
    if doc.get("outcome"):
        return doc["outcome"]
    status = doc.get("status")
    if status not in FINAL:
        return None
    if status == "completed" and (doc.get("progress") or {}).get("error_count"):
        return "completed_with_rejections"
    return status


def live(progress: dict) -> tuple[int, float]:
    """Records processed so far and the percentage, live (during a chunk's delivery) when the service says."""
    records = progress.get("live_records")
    if records is None:
        records = progress.get("processed_records") or 0
    percentage = progress.get("live_percentage")
    if percentage is None:
        percentage = progress.get("progress_percentage") or 0.0
    return int(records), float(percentage)


# ------------------------------------------------------------------ small formats
def seconds(value: Any) -> str:
    if value is None:
        return "-"
    value = float(value)
    if value < 60:
        return f"{value:.1f}s"
    minutes, secs = divmod(int(round(value)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def number(value: Any) -> str:
    return "-" if value is None else f"{value:,}" if isinstance(value, int) else str(value)


def rate(value: Any) -> str:
    return "-" if value is None else f"{float(value):,.1f}/s"


def status_text(doc: dict) -> Text:
    shown = outcome(doc) or doc.get("status") or "?"
    return Text(shown, style=STYLE.get(shown, ""))


def short(value: Any, width: int = 80) -> str:
    if value is None:
        return "-"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= width else text[: width - 1] + "…"


def plain(value: Any) -> str:
    """A value of a report as one cell: a mapping as `k=v, ...`, a list joined, None as `-`."""
    if value is None:
        return "-"
    if isinstance(value, dict):
        return ", ".join(f"{k}={plain(v)}" for k, v in value.items()) or "-"
    if isinstance(value, (list, tuple)):
        return ", ".join(plain(v) for v in value) or "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return number(value)


def cell(value: Any) -> Text:
    """A table cell as literal text: a value from the service is never read as rich markup ("[red]")."""
    return value if isinstance(value, Text) else Text(plain(value))


def add_row(table: Table, *values: Any) -> None:
    table.add_row(*(cell(value) for value in values))


def fields_table(rows: Iterable[tuple[str, Any]], title: str | None = None) -> Table:
    table = Table(show_header=False, box=None, title=title, title_justify="left", pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for name, value in rows:
        add_row(table, name, value)
    return table


# ------------------------------------------------------------------ one table per answer
def trigger_table(answer: dict, file_path: str) -> Table:
    estimate = answer.get("estimated_duration")
    if isinstance(estimate, (int, float)):
        estimate = seconds(estimate)
    basis = answer.get("estimate_basis")
    return fields_table([
        ("run", answer.get("run_id")), ("status", status_text(answer)), ("file", file_path),
        ("estimated", f"{estimate} ({basis})" if basis else estimate),
        ("message", answer.get("message")),
    ])


def status_table(doc: dict) -> Table:
    progress = doc.get("progress") or {}
    records, percentage = live(progress)
    total = progress.get("total_records")
    rows: list[tuple[str, Any]] = [
        ("run", doc.get("run_id")), ("status", status_text(doc)), ("step", progress.get("current_step")),
        ("record type", doc.get("record_type")), ("file", doc.get("file_path")),
        ("progress", f"{number(records)} / {number(total)} records ({percentage:.2f}%)"),
        ("delivered", progress.get("success_count")), ("rejected", progress.get("error_count")),
    ]
    if doc.get("status") not in FINAL:
        rows += [("rate", rate(progress.get("records_per_second"))), ("eta", seconds(progress.get("eta_seconds")))]
    rows += [("created", doc.get("created_at")), ("started", doc.get("started_at")),
             ("ended", doc.get("completed_at")), ("duration", seconds(doc.get("duration")))]
    if doc.get("error_message"):
        rows.append(("message", doc["error_message"]))
    reconciliation = doc.get("reconciliation")
    if reconciliation and "failed" in reconciliation:
        rows.append(("reconciliation", Text(f"NOT BUILT: {reconciliation['failed']} "
                                            f"({reconciliation.get('failed_at')})", style="bold red")))
    elif reconciliation:
        balanced = reconciliation.get("balanced")
        rows.append(("reconciliation", Text(f"{'balanced' if balanced else 'NOT BALANCED'}: "
                                            f"{reconciliation.get('report')}",
                                            style="green" if balanced else "bold red")))
    details = doc.get("details") or {}
    for name in ("output_mode", "batch_size", "chunks", "error_report", "output_location", "errors_by_rule"):
        if details.get(name) is not None:
            rows.append((name.replace("_", " "), details[name]))
    return fields_table(rows)


def runs_table(rows: list[dict], counts: dict | None = None) -> Table:
    caption = None
    if counts:
        caption = "  ".join(f"{name}: {count}" for name, count in counts.items())
    table = Table(title=None, caption=caption, caption_justify="left")
    for name, options in (("run", {"no_wrap": True, "min_width": 36}), ("status", {}), ("type", {}),
                          ("mode", {}), ("records", {"justify": "right"}), ("rejected", {"justify": "right"}),
                          ("%", {"justify": "right"}), ("created", {"no_wrap": True}), ("duration", {}),
                          ("file", {"overflow": "fold"})):
        table.add_column(name, **options)
    for row in rows:
        progress = row.get("progress") or {}
        records, percentage = live(progress)
        add_row(table, row.get("run_id"), status_text(row), row.get("record_type") or "-",
                      row.get("output_mode") or "-", f"{number(records)}/{number(progress.get('total_records'))}",
                      number(progress.get("error_count")), f"{percentage:.1f}", row.get("created_at") or "-",
                      seconds(row.get("duration")), row.get("file_path") or "-")
    return table


def running_table(answer: dict) -> Table:
    table = Table()
    for name in ("run", "status", "type", "created", "file"):
        table.add_column(name, no_wrap=name in ("run", "created"), min_width=36 if name == "run" else None)
    for run_id, run in (answer.get("running_migrations") or {}).items():
        add_row(table, run_id, status_text(run), run.get("record_type") or "-", run.get("created_at") or "-",
                      run.get("file_path") or "-")
    return table


def audit_tables(answer: dict) -> list:
    """Who did what to a run, and when, oldest first."""
    table = Table()
    for name in ("when", "action", "by"):
        table.add_column(name, no_wrap=name == "when", overflow="fold")
    for entry in answer.get("audit") or []:
        add_row(table, entry.get("at") or "-", plain(entry.get("action")).replace("_", " "), entry.get("by") or "-")
    return [fields_table([("run", answer.get("run_id")), ("tenant", answer.get("tenant"))]), table]


ERROR_COLUMNS = ("row", "field", "rule", "message", "value")


def errors_table(rows: list[dict]) -> Table:
    table = Table()
    for name in ERROR_COLUMNS:
        table.add_column(name, justify="right" if name == "row" else "left", overflow="fold")
    for row in rows:
        add_row(table, *(plain(row.get(name)) for name in ERROR_COLUMNS))
    return table


def record_types_table(answer: dict) -> Table:
    table = Table()
    for name in ("record type", "title", "formats", "columns", "required", "target fields"):
        table.add_column(name, overflow="fold")
    for kind in answer.get("record_types") or []:
        add_row(table, kind.get("record_type"), kind.get("title") or "-", plain(kind.get("input_formats")),
                      number(len(kind.get("source_columns") or [])), number(len(kind.get("required_columns") or [])),
                      number(len(kind.get("target_fields") or [])))
    return table


def reconciliation_tables(report: dict) -> list:
    balanced = bool(report.get("balanced"))
    head = Text("BALANCED" if balanced else "NOT BALANCED", style="bold green" if balanced else "bold red")
    source = report.get("input") or {}
    records = report.get("records") or {}
    parts: list = [fields_table([
        ("reconciliation", head), ("run", report.get("run_id")), ("record type", report.get("record_type")),
        ("status", report.get("status")), ("generated", report.get("generated_at")),
        ("input", source.get("file_path")), ("size", f"{number(source.get('size_bytes'))} bytes"),
        ("sha256", source.get("sha256")), ("version", source.get("version")),
    ])]
    counts = Table(title="records", title_justify="left")
    names = ("planned", "read", "delivered", "rejected", "not_processed")
    for name in names:
        counts.add_column(name.replace("_", " "), justify="right")
    add_row(counts, *(number(records.get(name)) for name in names))
    parts.append(counts)
    if records.get("rejected_by_rule"):
        parts.append(fields_table(sorted(records["rejected_by_rule"].items()), title="rejected by rule"))
    totals = Table(title="control totals (source = delivered + rejected + not processed)", title_justify="left")
    for name, justify in (("name", "left"), ("kind", "left"), ("field", "left"), ("source", "right"),
                          ("delivered", "right"), ("rejected", "right"), ("not processed", "right"),
                          ("balanced", "left")):
        totals.add_column(name, justify=justify, overflow="fold")
    for total in report.get("control_totals") or []:
        ok = total.get("balanced")
        add_row(totals, plain(total.get("name")), plain(total.get("kind")), plain(total.get("field")),
                       plain(total.get("source")), plain(total.get("delivered")), plain(total.get("rejected")),
                       plain(total.get("not_processed")),
                       Text("yes" if ok else "NO", style="green" if ok else "bold red"))
    parts.append(totals)
    if report.get("checks"):
        checks = Table(title="checks", title_justify="left")
        for name in ("check", "ok", "detail"):
            checks.add_column(name, overflow="fold")
        for check in report["checks"]:
            ok = check.get("ok")
            add_row(checks, plain(check.get("check")), Text("yes" if ok else "NO", style="green" if ok else "bold red"),
                           plain(check.get("detail")))
        parts.append(checks)
    return parts


def preview_tables(answer: dict, documents: int) -> list:
    parts: list = [fields_table([
        ("record type", answer.get("record_type")), ("file", answer.get("file_path")),
        ("records read", answer.get("records_read")), ("valid", answer.get("valid")),
        ("rejected", answer.get("rejected")),
        ("more records", "yes: the file goes on past the preview" if answer.get("more_records") else "no"),
    ])]
    shown = (answer.get("documents") or [])[:documents]
    if shown:
        parts.append(Text(f"first {len(shown)} of {len(answer.get('documents') or [])} documents "
                          f"(personal fields masked):", style="bold"))
        parts.extend(Text(json.dumps(doc, indent=2, ensure_ascii=False)) for doc in shown)
    errors = answer.get("errors") or []
    if errors:
        parts.append(Text(f"{len(errors)} error rows:", style="bold"))
        parts.append(errors_table(errors))
    return parts


def console(stderr: bool = False) -> Console:
    """A console that never cuts a run id: a terminal's width, or a wide one when the output is piped."""
    probe = Console(stderr=stderr)
    return probe if probe.is_terminal else Console(stderr=stderr, width=200, no_color=True)
