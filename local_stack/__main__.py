"""`python -m local_stack`: start the whole service locally, in the foreground.

Ctrl-C (or SIGTERM) stops everything it started.
"""
from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import signal
import socket
import sys
import threading
import warnings

from local_stack import metrics as local_metrics
from local_stack.environment import PROJECT_DIR, SANDBOX_TOKEN, apply, local_environment
from local_stack.metrics import EmfTee, LocalMetrics

# Printed once the API is bound and everything else has started: local_stack.child waits for it.
READY_BANNER = "Records migration service, running locally"
# How often the API and the sandbox target check whether they are asked to stop: shutdown() waits for that
# check, which at socketserver's default 0.5 s each made every stop (tests stop a dozen stacks) a second slower.
SERVER_POLL_SECONDS = 0.05


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local_stack", description=__doc__)
    parser.add_argument("--api-port", type=int, default=int(os.environ.get("API_PORT", 8000)))
    parser.add_argument("--emulator-port", type=int, default=int(os.environ.get("EMULATOR_PORT", 5001)))
    parser.add_argument("--target-port", type=int, default=int(os.environ.get("TARGET_PORT", 8001)))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WORKERS", 0)) or None,
                        help="worker processes polling the work queue (default: one per core, at most the "
                             "stage's WORKER_MAX_CONCURRENCY)")
    parser.add_argument("--target-faults", default=os.environ.get("TARGET_FAULTS", "{}"),
                        help='faults the sandbox target starts with, as JSON: {"latency_ms": 20, "error_rate": 0.1}')
    parser.add_argument("--data-root", default=os.environ.get("LOCAL_DATA_ROOT", PROJECT_DIR),
                        help="folder that file_path and output_dir are relative to (default: the project)")
    parser.add_argument("--target-token", default=os.environ.get("SANDBOX_TOKEN", SANDBOX_TOKEN),
                        help="bearer token the sandbox target accepts, also the stage's default credentials")
    return parser.parse_args(argv)


def local_api_server(config, port: int, metrics: LocalMetrics | None = None):
    """`chalice local`'s server, with room for a burst of connections, and the local metrics at /local/metrics.

    Python's socket servers queue 5 connections; a client that sends twenty
    triggers at once then sees some reset.
    """
    from chalice.local import ChaliceRequestHandler, LocalDevServer, ThreadedHTTPServer, create_local_server

    class RoomyServer(ThreadedHTTPServer):
        request_queue_size = 128

    class WithLocalMetrics(ChaliceRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            if metrics is None or self.path.split("?", 1)[0] != local_metrics.PATH:
                return super().do_GET()
            body = local_metrics.answer(metrics)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    # create_local_server prepares the app for local serving; keep that, swap the server and handler classes.
    prepared = create_local_server(config.chalice_app, config, "127.0.0.1", 0)
    prepared.server.server_close()
    return LocalDevServer(prepared.app_object, config, "127.0.0.1", port, handler_cls=WithLocalMetrics,
                          server_cls=RoomyServer)


def taken_port(ports: dict[str, int]) -> str | None:
    """The first of the stack's ports that something else holds, as a one-line error; None if all are free.

    Checked before anything starts: the emulator would otherwise hang start-up on its port, and the API end
    in a traceback on its own.
    """
    for name, port in ports.items():
        with socket.socket() as probe:
            # As the servers bind: a port left in TIME_WAIT is free, one something listens on is not.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError as err:
                if err.errno != errno.EADDRINUSE:
                    raise
                return (f"error: port {port} ({name}) is already in use on 127.0.0.1: stop what holds it, or "
                        f"choose another port with --{name.replace(' ', '-')}-port")
    return None


def quiet_logging() -> None:
    """INFO for the service's own logs; the SDK, the emulator and its template warnings only when they matter."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    for noisy in ("werkzeug", "botocore", "boto3", "urllib3", "moto"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    # moto's CloudFormation skips policies and alarms with a warning each; the
    # local stack applies what matters itself (see emulator.deploy).
    warnings.filterwarnings("ignore", message="Tried to parse AWS::", category=UserWarning)


def first_admin_key() -> str:
    """With AUTH=on the emulator starts with no keys: an admin key of the default tenant to start from."""
    import boto3

    from chalicelib.access import KeyRequest, KeyStore
    from chalicelib.config import Settings
    keys = KeyStore(boto3.client("dynamodb"), Settings.from_environ().access_table_name)
    return keys.issue(KeyRequest(tenant="default", role="admin", description="first key of the local stack"),
                      created_by="local stack")[1]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    taken = taken_port({"api": args.api_port, "emulator": args.emulator_port, "target": args.target_port})
    if taken:
        print(taken, file=sys.stderr)
        return 1
    # What the handlers of this process print (the API, the upload and DLQ pollers, the reaper) passes through
    # here; the workers' documents come through their pipes (pollers.WorkerPool).
    metrics = LocalMetrics()
    sys.stdout = EmfTee(sys.stdout, metrics.add)
    quiet_logging()
    env = local_environment(emulator_url=f"http://127.0.0.1:{args.emulator_port}",
                            target_url=f"http://127.0.0.1:{args.target_port}",
                            data_root=os.path.abspath(args.data_root))
    apply(env)
    if args.workers is None:
        args.workers = min(os.cpu_count() or 2, int(env.get("WORKER_MAX_CONCURRENCY", "2")))
    sys.path.insert(0, PROJECT_DIR)
    from chalicelib.config import Settings
    auth = Settings.from_environ().auth
    if auth == "iam":
        print("error: AUTH=iam needs API Gateway to check signatures; locally, AUTH=on uses API keys",
              file=sys.stderr)
        return 2

    from chalice.cli.factory import CLIFactory

    from local_stack import emulator, pollers, run_events, sandbox_target

    emulator_server = emulator.start_emulator(args.emulator_port)
    emulator.deploy(env["STAGE"], args.target_token)
    access = "open (no key needed; AUTH=on make run asks for keys)"
    if auth == "keys":
        access = f"API keys; admin key of tenant 'default': {first_admin_key()}"
    target = sandbox_target.make_server(args.target_port, args.target_token, faults=json.loads(args.target_faults))
    threading.Thread(target=target.serve_forever, kwargs={"poll_interval": SERVER_POLL_SECONDS},
                     name="sandbox-target", daemon=True).start()

    workers = pollers.WorkerPool(args.workers, env, env["WORK_QUEUE_NAME"], metrics_sink=metrics.add)
    stop = threading.Event()
    pollers.start_poller_thread(env["UPLOADS_QUEUE_NAME"], "handle_upload", stop)
    pollers.start_poller_thread(env["WORK_DLQ_NAME"], "handle_dead_chunk", stop)
    # The run-end events, routed by an EventBridge rule of the emulator's to a queue, shown by the target.
    run_events.start_drain(run_events.subscribe(env["STAGE"]), target.state.record_event, stop)
    # app.py schedules the reaper every 5 minutes; locally once a minute is as cheap.
    pollers.start_schedule_thread("reap_stalled_runs", float(os.environ.get("REAPER_SECONDS", 60)), stop)

    config = CLIFactory(PROJECT_DIR).create_config_obj(chalice_stage_name=env["STAGE"])
    api = local_api_server(config, args.api_port, metrics)
    api_thread = threading.Thread(target=api.server.serve_forever, kwargs={"poll_interval": SERVER_POLL_SECONDS},
                                  name="api", daemon=True)
    api_thread.start()

    print(f"""
{READY_BANNER} (stage {env['STAGE']}):
  API and dashboard   http://127.0.0.1:{args.api_port}/
  metrics             http://127.0.0.1:{args.api_port}{local_metrics.PATH}  (what CloudWatch would show)
  AWS emulator        http://127.0.0.1:{args.emulator_port}  (moto; table, queues, bucket from infra/)
  sandbox target      http://127.0.0.1:{args.target_port}/records/count  (bearer token: {args.target_token})
  run-end events      http://127.0.0.1:{args.target_port}/events  (EventBridge); webhooks received: /webhooks
  workers             {args.workers} processes on {env['WORK_QUEUE_NAME']}
  access              {access}
  data root           {args.data_root}
Ctrl-C stops everything.
""", flush=True)

    # Both set here explicitly: a shell without job control starts background
    # commands with SIGINT ignored, and Python keeps it that way.
    finished = threading.Event()
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, lambda *_: finished.set())
    while not finished.wait(1.0):
        workers.replace_dead()
    print("stopping...", flush=True)
    stop.set()
    api.server.shutdown()
    target.shutdown()
    workers.stop()
    emulator_server.stop()
    return 0


def exit_now(code: int) -> None:
    """Exit with `code` once the exit handlers ran, without tearing the interpreter down piece by piece.

    Everything the stack started is stopped by then; what is left is freeing the modules of moto, pandas and
    the SDK one by one, which took most of a second of every stop (tests stop a dozen stacks).
    """
    import atexit
    atexit._run_exitfuncs()  # multiprocessing's and logging's clean-up, as a normal exit runs them
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
