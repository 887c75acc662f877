"""The `migrate` command line (click): one command per operation of the service's API.

Every command prints a table for people, or with `--json` the API's JSON documents on stdout, one a line.
Exit codes (docs/cli.md):

    0  done; a run that was waited for completed (with or without rejected records)
    1  a run that was waited for failed; a reconciliation report that does not balance
    2  a usage error, or the service refused the request (4xx: its `detail` is printed)
    3  a run that was waited for was cancelled
    4  the service could not be reached, or failed (5xx, an answer that is not the API's)
    5  --timeout passed before the run ended, or before a report asked for again was written (both go on)
    130  interrupted (Ctrl-C) while waiting (the run goes on)
"""
from __future__ import annotations

import csv
import json
import os
import sys
from typing import Any, Callable

import click

from migrate_cli import __version__
from migrate_cli.client import ApiError, MigrationApi, Unreachable
from migrate_cli.files import FileProblem, service_path, upload
from migrate_cli.render import (ERROR_COLUMNS, audit_tables, console, errors_table, outcome, preview_tables,
                                reconciliation_tables, record_types_table, running_table, runs_table, status_table,
                                trigger_table)
from migrate_cli.settings import Settings, SettingsError, resolve
from migrate_cli.watch import WaitTimeout, wait_for_end, wait_for_report

EXIT_OK, EXIT_BAD_OUTCOME, EXIT_REFUSED, EXIT_CANCELLED, EXIT_UNREACHABLE, EXIT_TIMEOUT = 0, 1, 2, 3, 4, 5
EXIT_INTERRUPTED = 130
OUTCOME_EXIT = {"completed": EXIT_OK, "completed_with_rejections": EXIT_OK, "failed": EXIT_BAD_OUTCOME,
                "cancelled": EXIT_CANCELLED}
FORMATS = {"csv": {"type": "delimited", "delimiter": ","}, "pipe": {"type": "delimited", "delimiter": "|"},
           "psv": {"type": "delimited", "delimiter": "|"}, "semicolon": {"type": "delimited", "delimiter": ";"},
           "tab": {"type": "delimited", "delimiter": "\t"}, "tsv": {"type": "delimited", "delimiter": "\t"},
           "fixed": {"type": "fixed_width"}, "fixed-v": {"type": "fixed_width", "recfm": "V"},
           "fixed-vb": {"type": "fixed_width", "recfm": "VB"}}
META = "migrate"


class Failure(click.ClickException):
    """An error said in one line on stderr, with its exit code."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def _api_failure(err: ApiError) -> Failure:
    message = f"{err.status}: {err.detail}"
    if err.status == 401:
        message += " (no API key was sent: give one with --key, MIGRATE_KEY or the config file)"
    elif err.status == 403 and "role" not in err.detail:
        message += " (the API key was refused: unknown, expired or revoked; or this is not the API's path)"
    return Failure(message, EXIT_REFUSED if err.status < 500 else EXIT_UNREACHABLE)


def _unreachable_failure(err: Unreachable) -> Failure:
    message = f"cannot reach the service at {err.url}: {err.reason}."
    if err.reason in ("connection refused", "the connection failed", "the connection timed out",
                      "the host name does not resolve"):
        message += (" Is it running? Start the local stack with `make run` in the project folder, or give a "
                    "deployed stage's URL with --url or MIGRATE_URL.")
    return Failure(message, EXIT_UNREACHABLE)


class MigrateGroup(click.Group):
    """Turns the client's errors into one line and an exit code, whichever command raised them."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ApiError as err:
            raise _api_failure(err) from None
        except Unreachable as err:
            raise _unreachable_failure(err) from None
        except (SettingsError, FileProblem) as err:
            raise Failure(str(err), EXIT_REFUSED) from None
        except WaitTimeout as err:
            raise Failure(str(err), EXIT_TIMEOUT) from None
        except KeyboardInterrupt:
            waiting = ctx.find_root().meta.get(META, {}).get("waiting_for")
            if waiting:
                click.echo(f"\nStopped waiting; run {waiting} goes on (migrate status {waiting}, "
                           f"migrate cancel {waiting}).", err=True)
            ctx.exit(EXIT_INTERRUPTED)


# ------------------------------------------------------------------ options every command takes
def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    """Options may come before the command (`migrate --json list`) or after it (`migrate list --json`)."""
    if value is not None and value is not False:
        ctx.find_root().meta.setdefault(META, {})[param.name] = value


def common_options(function: Callable) -> Callable:
    for option in reversed([
        click.option("--url", envvar="MIGRATE_URL", show_envvar=True, expose_value=False, callback=_remember,
                     help="The service's base URL (default: the config file's, else http://127.0.0.1:8000)."),
        click.option("--key", envvar="MIGRATE_KEY", show_envvar=True, expose_value=False, callback=_remember,
                     help="API key (rmk_...), sent as a bearer token. Prefer MIGRATE_KEY or the config file: "
                          "a flag is visible to other users in the process list."),
        click.option("--profile", envvar="MIGRATE_PROFILE", show_envvar=True, expose_value=False,
                     callback=_remember, help="A [profiles.NAME] table of the config file."),
        click.option("--config", type=click.Path(dir_okay=False), expose_value=False, callback=_remember,
                     help="Config file (default: $MIGRATE_CONFIG, else ~/.config/migrate/config.toml)."),
        click.option("--json", "as_json", is_flag=True, default=None, expose_value=False, callback=_remember,
                     help="JSON on stdout (one document a line) instead of tables."),
    ]):
        function = option(function)
    return function


def _options(ctx: click.Context) -> dict:
    return ctx.find_root().meta.setdefault(META, {})


def _as_json(ctx: click.Context) -> bool:
    return bool(_options(ctx).get("as_json"))


def _api(ctx: click.Context) -> MigrationApi:
    options = _options(ctx)
    settings: Settings = resolve(url=options.get("url"), key=options.get("key"), profile=options.get("profile"),
                                 config=options.get("config"))
    for warning in settings.warnings:
        click.echo(f"warning: {warning}", err=True)
    return MigrationApi(settings)


def emit(doc: Any) -> None:
    click.echo(json.dumps(doc, ensure_ascii=False, default=str))


def show(*renderables: Any) -> None:
    out = console()
    if out.is_terminal:
        out.print(*renderables, sep="\n")
        return
    with out.capture() as captured:  # piped: the same tables, without the padding rich puts at each line's end
        out.print(*renderables, sep="\n")
    click.echo("\n".join(line.rstrip() for line in captured.get().splitlines()))


# ------------------------------------------------------------------ the trigger body (run and preview)
def trigger_options(function: Callable) -> Callable:
    for option in reversed([
        click.option("--type", "-t", "record_type", required=True, help="The record type (migrate record-types)."),
        click.option("--mode", "output_mode", type=click.Choice(["api", "file"]), default="api", show_default=True,
                     help="api: deliver to the target API; file: write JSON Lines under --output-dir."),
        click.option("--batch-size", type=int, help="Records per delivery call (the service takes 1 to 1000)."),
        click.option("--format", "input_format",
                     help="The file's layout: " + ", ".join(FORMATS) + ", or an input_format JSON object."),
        click.option("--encoding", help="The file's encoding (utf-8, latin-1, windows-1252, cp037, ...)."),
        click.option("--no-header", is_flag=True, help="A delimited file without a header row."),
        click.option("--output-dir", help="Where outputs and the error report go (default data/output)."),
        click.option("--max-error-rate", type=float, help="Share of rejected records tolerated (default 0.1)."),
        click.option("--validate-only", is_flag=True, help="Validate and report; deliver nothing."),
        click.option("--meta", multiple=True, metavar="KEY=VALUE", help="A metadata entry (repeatable)."),
        click.option("--target-token", envvar="MIGRATE_TARGET_TOKEN", show_envvar=True,
                     help="Bearer token for the target API (default: the stage's credentials). Never printed."),
    ]):
        function = option(function)
    return function


def _input_format(name: str | None, encoding: str | None, no_header: bool) -> dict | None:
    if name is None:
        chosen: dict = {}
    elif name.strip().startswith("{"):
        try:
            chosen = json.loads(name)
        except ValueError as err:
            raise click.BadParameter(f"not a JSON object: {err}", param_hint="--format") from None
        if not isinstance(chosen, dict):
            raise click.BadParameter("must be a JSON object", param_hint="--format")
    elif name.lower() in FORMATS:
        chosen = dict(FORMATS[name.lower()])
    else:
        raise click.BadParameter(f"{name!r}: one of {', '.join(FORMATS)}, or a JSON object", param_hint="--format")
    if encoding:
        chosen["encoding"] = encoding
    if no_header:
        chosen["header"] = False
    if chosen and "type" not in chosen:
        chosen["type"] = "delimited"
    return chosen or None


def _metadata(entries: tuple[str, ...]) -> dict | None:
    metadata = {}
    for entry in entries:
        name, sep, value = entry.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{entry!r} is not KEY=VALUE", param_hint="--meta")
        metadata[name] = value
    return metadata or None


def _authentication(token: str | None) -> dict | None:
    return {"type": "bearer_token", "token": token} if token else None


def trigger_body(file_path: str, record_type: str, output_mode: str, batch_size: int | None,
                 input_format: str | None, encoding: str | None, no_header: bool, output_dir: str | None,
                 max_error_rate: float | None, validate_only: bool, meta: tuple[str, ...],
                 target_token: str | None) -> dict:
    body = {"file_path": file_path, "record_type": record_type, "output_mode": output_mode,
            "batch_size": batch_size, "input_format": _input_format(input_format, encoding, no_header),
            "output_dir": output_dir, "max_error_rate": max_error_rate,
            "validate_only": True if validate_only else None, "metadata": _metadata(meta),
            "authentication": _authentication(target_token)}
    return {name: value for name, value in body.items() if value is not None}


def _file_path(file: str, upload_to: str | None) -> str:
    if upload_to:
        if file.startswith("s3://"):
            raise FileProblem("--upload takes a local file, not an s3:// one")
        return str(upload(file, upload_to))
    return service_path(file)


def follow(ctx: click.Context, api: MigrationApi, answer: dict, file_path: str, wait: bool, poll: float,
           timeout: float | None) -> None:
    """Show a trigger's answer, and with --wait follow the run to its end and exit by its outcome."""
    as_json = _as_json(ctx)
    run_id = answer["run_id"]
    if as_json:
        emit(answer)
    else:
        show(trigger_table(answer, file_path))
    if not wait:
        if not as_json:
            click.echo(f"Follow it: migrate status {run_id}   (or migrate run ... --wait)", err=True)
        return
    _options(ctx)["waiting_for"] = run_id
    stderr = console(stderr=True)
    bar = None if as_json and not stderr.is_terminal else stderr
    final = wait_for_end(api, run_id, poll=poll, timeout=timeout, console=bar,
                         on_status=emit if as_json else None)
    if as_json:
        emit(final)  # the last line: the run's final status document
    else:
        show(status_table(final))
    ctx.exit(OUTCOME_EXIT.get(outcome(final) or "", EXIT_BAD_OUTCOME))


def wait_options(function: Callable) -> Callable:
    for option in reversed([
        click.option("--wait", is_flag=True, help="Follow the run with a progress bar until it ends; the exit "
                                                  "code says how it ended."),
        click.option("--poll", type=click.FloatRange(min=0.1), default=1.0, show_default=True,
                     help="Seconds between two status polls while waiting."),
        click.option("--timeout", type=click.FloatRange(min=0), help="Stop waiting after so many seconds (exit 5)."),
    ]):
        function = option(function)
    return function


# ------------------------------------------------------------------ the commands
@click.group(cls=MigrateGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="migrate")
@common_options
def cli() -> None:
    """migrate: drive the records migration service from the command line.

    Against the local stack (`make run`) by default; --url / MIGRATE_URL and --key / MIGRATE_KEY (or a
    config file's profile) for a deployed stage. See docs/cli.md.
    """


@cli.command()
@click.argument("file")
@trigger_options
@click.option("--upload", "upload_to", metavar="S3URI",
              help="Upload the local FILE to s3://bucket/prefix/ first (boto3; AWS_ENDPOINT_URL honoured) "
                   "and run the uploaded object.")
@click.option("--idempotency-key", help="Makes the trigger safe to repeat: the same key answers the same run.")
@wait_options
@common_options
@click.pass_context
def run(ctx: click.Context, file: str, upload_to: str | None, idempotency_key: str | None, wait: bool,
        poll: float, timeout: float | None, **options: Any) -> None:
    """Start a migration of FILE.

    FILE is read by the service: a path under its data root (the project folder for `make run`), or
    s3://<data bucket>/<key>. A local file under the current folder is sent as its relative path.
    """
    api = _api(ctx)
    body = trigger_body(_file_path(file, upload_to), **options)
    answer = api.trigger(body, idempotency_key)
    follow(ctx, api, answer, body["file_path"], wait, poll, timeout)


@cli.command()
@click.argument("file")
@trigger_options
@click.option("--records", "-n", type=click.IntRange(min=1), help="Records to map (the service's default 100).")
@click.option("--documents", type=click.IntRange(min=0), default=3, show_default=True,
              help="Documents to show in the table (all are in --json).")
@click.option("--promote", is_flag=True, help="Then start the full run with the same options.")
@wait_options
@common_options
@click.pass_context
def preview(ctx: click.Context, file: str, records: int | None, documents: int, promote: bool, wait: bool,
            poll: float, timeout: float | None, **options: Any) -> None:
    """Map the first records of FILE and show what would be sent and what rejected; nothing is delivered."""
    api = _api(ctx)
    body = trigger_body(service_path(file), **options)
    answer = api.preview(body, records)
    if _as_json(ctx):
        emit(answer)
    else:
        show(*preview_tables(answer, documents))
    if not promote:
        return
    promotion = answer.get("promote")
    if not isinstance(promotion, dict) or not isinstance(promotion.get("body"), dict):
        raise Failure("the service's preview answer has no promote body to start the run with", EXIT_UNREACHABLE)
    full = dict(promotion["body"])
    if body.get("authentication"):  # the service gives the request back without its secrets
        full["authentication"] = body["authentication"]
    started = api.post_path(promotion.get("path") or "/api/v1/migrations/trigger", full)
    follow(ctx, api, started, full.get("file_path", body["file_path"]), wait, poll, timeout)


@cli.command()
@click.argument("run_id", metavar="RUN")
@click.option("--details", is_flag=True, help="Add the processing details (chunks, steps, output location).")
@common_options
@click.pass_context
def status(ctx: click.Context, run_id: str, details: bool) -> None:
    """A run's status and progress."""
    doc = _api(ctx).status(run_id, details)
    emit(doc) if _as_json(ctx) else show(status_table(doc))


@cli.command(name="list")
@click.option("--status", "status_filter", help="Only runs of this status (pending, running, completed, "
                                                "completed_with_rejections, failed, cancelled).")
@click.option("--type", "-t", "record_type", help="Only runs of this record type.")
@click.option("--since", help="Only runs created at or after this ISO 8601 time or date.")
@click.option("--until", help="Only runs created before this ISO 8601 time or date.")
@click.option("--limit", type=click.IntRange(1, 200), default=20, show_default=True, help="Runs per page.")
@click.option("--all", "every", is_flag=True, help="Every page, following the cursor to the last.")
@click.option("--cursor", help="The page after this cursor (a previous answer's next_cursor).")
@common_options
@click.pass_context
def list_runs(ctx: click.Context, status_filter: str | None, record_type: str | None, since: str | None,
              until: str | None, limit: int, every: bool, cursor: str | None) -> None:
    """Recent runs, newest first."""
    api = _api(ctx)
    rows: list[dict] = []
    counts = None
    seen: set[str] = set()
    while True:
        page = api.recent(limit, status_filter, record_type, since, until, cursor)
        filtered = "counts_by_status" in page  # a service without it ignores the filters: apply them here
        counts = counts if counts is not None else page.get("counts_by_status")
        found = page.get("migrations") or []
        rows += found if filtered else _filter_rows(found, status_filter, record_type, since, until)
        cursor = page.get("next_cursor")
        if not every or not cursor or cursor in seen:
            break
        seen.add(cursor)
    if _as_json(ctx):
        emit({"migrations": rows, "count": len(rows), "next_cursor": cursor, "counts_by_status": counts})
        return
    show(runs_table(rows, counts))
    if cursor:
        click.echo(f"More runs: --all, or --cursor {cursor}", err=True)


def _filter_rows(rows: list[dict], status_filter: str | None, record_type: str | None, since: str | None,
                 until: str | None) -> list[dict]:
    def keep(row: dict) -> bool:
        created = row.get("created_at") or ""
        return ((not status_filter or status_filter in (row.get("status"), outcome(row)))
                and (not record_type or row.get("record_type") == record_type)
                and (not since or created >= since) and (not until or created < until))
    return [row for row in rows if keep(row)]


@cli.command()
@common_options
@click.pass_context
def running(ctx: click.Context) -> None:
    """The runs pending or running."""
    answer = _api(ctx).running()
    emit(answer) if _as_json(ctx) else show(running_table(answer))


@cli.command()
@click.argument("run_id", metavar="RUN")
@common_options
@click.pass_context
def audit(ctx: click.Context, run_id: str) -> None:
    """Who started, cancelled and retried a run, and asked again for its report, and when."""
    answer = _api(ctx).audit(run_id)
    emit(answer) if _as_json(ctx) else show(*audit_tables(answer))


@cli.command()
@click.argument("run_id", metavar="RUN")
@common_options
@click.pass_context
def cancel(ctx: click.Context, run_id: str) -> None:
    """Cancel a pending or running run (a finished one is refused: exit 2)."""
    answer = _api(ctx).cancel(run_id)
    emit(answer) if _as_json(ctx) else click.echo(answer.get("message") or f"Run {run_id} cancelled")


@cli.command()
@click.argument("run_id", metavar="RUN")
@click.option("--target-token", envvar="MIGRATE_TARGET_TOKEN", show_envvar=True,
              help="The target's bearer token again, for a run that had its own (its credentials were deleted "
                   "when it ended).")
@common_options
@click.pass_context
def retry(ctx: click.Context, run_id: str, target_token: str | None) -> None:
    """Process again the chunks of a finished run that failed on every attempt."""
    authentication = _authentication(target_token)
    answer = _api(ctx).retry(run_id, {"authentication": authentication} if authentication else None)
    emit(answer) if _as_json(ctx) else click.echo(answer.get("message") or f"Run {run_id} queued again")


@cli.command()
@click.argument("run_id", metavar="RUN")
@click.option("--rule", help="Only the rows of this rule.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True),
              help="Write every row to this file (CSV, or JSON Lines for .jsonl/.ndjson/.json).")
@click.option("--format", "file_format", type=click.Choice(["csv", "jsonl"]),
              help="Write every row in this format (to --output, else to stdout).")
@click.option("--page-size", type=click.IntRange(1, 1000), default=1000, show_default=True)
@common_options
@click.pass_context
def errors(ctx: click.Context, run_id: str, rule: str | None, output: str | None, file_format: str | None,
           page_size: int) -> None:
    """A run's error report: every page, as a table, or written as CSV or JSON Lines."""
    api = _api(ctx)
    pages = api.error_pages(run_id, page_size, rule)
    first = next(pages)
    summary = {"run_id": first.get("run_id", run_id), "status": first.get("status"),
               "records_rejected": first.get("records_rejected"), "error_rows": first.get("error_rows"),
               "by_rule": first.get("by_rule")}

    def rows():
        for page in _chain(first, pages):
            for row in page.get("errors") or []:
                if not rule or row.get("rule") == rule:  # a service without the rule filter answers every row
                    yield row

    if output is None and file_format is None:
        every = list(rows())
        if _as_json(ctx):
            emit({**summary, "rule": rule, "errors": every})
        else:
            show(errors_table(every))
            click.echo(f"{len(every)} error rows; {summary['records_rejected']} records rejected; by rule: "
                       f"{_by_rule(summary['by_rule'])}")
        return
    chosen = file_format or _format_of(output)
    if output is None:
        _write_rows(sys.stdout, rows(), chosen)
        return
    partial = output + ".part"
    try:
        with open(partial, "w", encoding="utf-8", newline="") as f:
            written = _write_rows(f, rows(), chosen)
        os.replace(partial, output)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    if _as_json(ctx):
        emit({**summary, "rule": rule, "output": output, "format": chosen, "rows": written})
    else:
        click.echo(f"Wrote {written} error rows of run {summary['run_id']} to {output} ({chosen}); "
                   f"by rule: {_by_rule(summary['by_rule'])}")


def _chain(first: dict, rest):
    yield first
    yield from rest


def _by_rule(by_rule: Any) -> str:
    return ", ".join(f"{name} {count}" for name, count in (by_rule or {}).items()) or "-"


def _format_of(path: str | None) -> str:
    return "jsonl" if path and path.lower().endswith((".jsonl", ".ndjson", ".json")) else "csv"


def _write_rows(stream, rows, file_format: str) -> int:
    count = 0
    if file_format == "jsonl":
        for row in rows:
            stream.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
        return count
    writer = None
    for row in rows:
        if writer is None:  # the report's columns first, then any the service added, as the first row has them
            columns = [*ERROR_COLUMNS, *(name for name in row if name not in ERROR_COLUMNS)]
            writer = csv.DictWriter(stream, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
        writer.writerow(row)
        count += 1
    if writer is None:
        csv.writer(stream).writerow(ERROR_COLUMNS)
    return count


@cli.command(name="record-types")
@common_options
@click.pass_context
def record_types(ctx: click.Context) -> None:
    """The record types the service knows."""
    answer = _api(ctx).record_types()
    emit(answer) if _as_json(ctx) else show(record_types_table(answer))


@cli.command()
@click.argument("run_id", metavar="RUN")
@click.option("--rebuild", is_flag=True, help="Ask again for a report that could not be built or queued (the run's "
                                              "status says so), wait until it is written, and show it.")
@click.option("--poll", type=click.FloatRange(min=0.1), default=1.0, show_default=True,
              help="With --rebuild: seconds between two status polls while waiting.")
@click.option("--timeout", type=click.FloatRange(min=0), default=300, show_default=True,
              help="With --rebuild: stop waiting for the report after so many seconds (exit 5).")
@common_options
@click.pass_context
def reconcile(ctx: click.Context, run_id: str, rebuild: bool, poll: float, timeout: float) -> None:
    """A finished run's reconciliation report; exit 1 when it does not balance."""
    api = _api(ctx)
    if rebuild:
        click.echo(api.rebuild_reconciliation(run_id)["message"], err=True)
        report = wait_for_report(api, run_id, poll=poll, timeout=timeout)
    else:
        report = api.reconciliation(run_id)
    emit(report) if _as_json(ctx) else show(*reconciliation_tables(report))
    if report.get("balanced") is not True:
        ctx.exit(EXIT_BAD_OUTCOME)


def main() -> None:
    cli(prog_name="migrate")
