"""The API's cold start: seconds to import the app in a fresh interpreter, beside importing what it used to.

Every Lambda function shares app.py. The API's cold start is the import of the
app (and the spec check it runs) in a new interpreter; it no longer imports
pandas, numpy, requests or boto3. The baseline, measured in the same run, is
the import of the app together with the worker path (pandas, numpy, requests,
boto3), which is what every function imported before. Each figure is the
median of `runs` fresh interpreters, alternating, so a busy machine slows both
alike.

`python -m bench.cold_start [--runs N]` prints the figures as JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

from local_stack.environment import PROJECT_DIR

API_ONLY = "import app"
WITH_WORKER_PATH = "import app, chalicelib.worker, chalicelib.inputs.files, boto3, requests, pandas"
TIMED = "import time\nt = time.perf_counter()\n{imports}\nprint(time.perf_counter() - t)"


def _seconds(imports: str) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    done = subprocess.run([sys.executable, "-c", TIMED.format(imports=imports)], cwd=PROJECT_DIR, env=env,
                          capture_output=True, text=True, check=True, timeout=120)
    return float(done.stdout.strip().splitlines()[-1])


def bench_cold_start(runs: int = 15) -> dict:
    api, before = [], []
    for _ in range(runs):
        api.append(_seconds(API_ONLY))
        before.append(_seconds(WITH_WORKER_PATH))
    api_s, before_s = statistics.median(api), statistics.median(before)
    results = {"runs": runs, "api_import_seconds": round(api_s, 3),
               "api_import_with_worker_path_seconds": round(before_s, 3),
               "ratio": round(before_s / api_s, 2), "target_seconds": 0.3}
    print(f"cold start: import app {api_s:.3f} s (median of {runs}) vs {before_s:.3f} s with the worker path, "
          f"as every function imported it before", flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cold_start", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args(argv)
    print(json.dumps(bench_cold_start(args.runs), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
