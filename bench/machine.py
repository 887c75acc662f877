"""How busy the machine was while a section ran: its load, and the CPU time its hypervisor gave to others.

These benchmarks run on shared virtual machines whose speed moves by a third within an hour. Every figure
is a ratio to a baseline taken in the same run, which cancels much of that; what it cannot cancel is a
change between the baseline's round and ours. So each section prints the load average before and after,
and the share of CPU time stolen by the hypervisor while it ran (`steal` in /proc/stat: time this
machine's virtual CPUs were ready to run and were not run), for the reader to judge a figure by.
"""
from __future__ import annotations

import os
import resource
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator


def _cpu_times() -> list[int] | None:
    """The machine's CPU time counters (user, nice, system, idle, iowait, irq, softirq, steal), or None."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:  # not Linux
        return None
    return [int(x) for x in fields[1:9]] if fields and fields[0] == "cpu" and len(fields) >= 9 else None


@contextmanager
def watched(section: str, results: dict) -> Iterator[None]:
    """Record in results["machine"][section] the load before and after the block, and the steal share."""
    load_before, cpu_before, started = os.getloadavg()[0], _cpu_times(), time.perf_counter()
    try:
        yield
    finally:
        cpu_after = _cpu_times()
        state = {"seconds": round(time.perf_counter() - started, 1), "load_before": round(load_before, 2),
                 "load_after": round(os.getloadavg()[0], 2)}
        if cpu_before and cpu_after:
            spent = [b - a for a, b in zip(cpu_before, cpu_after)]
            state["steal_percent"] = round(100 * spent[7] / max(1, sum(spent)), 1)
        results.setdefault("machine", {})[section] = state
        print(f"[{section}: {state['seconds']} s, load {state['load_before']} -> {state['load_after']}"
              + (f", CPU stolen by the hypervisor {state['steal_percent']} %" if "steal_percent" in state else "")
              + "]", flush=True)


def cpu_seconds(fn: Callable[..., Any], *args: Any) -> tuple[Any, float, float]:
    """What fn(*args) returns, and the user and system CPU seconds this process spent in it: a figure's user
    time is our code's, its system time largely the machine's (page faults, whose cost moves by the hour)."""
    before = resource.getrusage(resource.RUSAGE_SELF)
    result = fn(*args)
    after = resource.getrusage(resource.RUSAGE_SELF)
    return result, after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
