"""Where a target's CPU went: seconds of CPU per process tree, read from /proc around a wrk run.

On a machine whose cores the load generator, nginx, the service and PostgreSQL all share, req/s is
the machine's CPU divided by the CPU one request costs all of them together. Splitting that cost by
process shows what a target's number is made of, and what an extra hop (nginx) adds to it.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_times() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, user + system CPU seconds) for every process now alive."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:  # gone since the listing
            continue
        fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "; comm may hold spaces
        parent, utime, stime = int(fields[1]), int(fields[11]), int(fields[12])
        found[int(entry.name)] = (parent, (utime + stime) / CLOCK_TICKS)
    return found


def seconds_by_tree(roots: dict[str, int], times: dict[int, tuple[int, float]]) -> dict[str, float]:
    """name -> CPU seconds of that root process and all its descendants (a gunicorn master and its
    workers, say), the process tree built once for all roots."""
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in times.items():
        children.setdefault(parent, []).append(pid)

    def tree(root: int) -> float:
        total, pending = 0.0, [root]
        while pending:
            pid = pending.pop()
            total += times.get(pid, (0, 0.0))[1]
            pending.extend(children.get(pid, []))
        return total

    return {name: tree(pid) for name, pid in roots.items()}


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy (user, nice, system, irq, softirq) since boot."""
    user, nice, system, _idle, _iowait, irq, softirq = (
        int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]
    )
    return (user + nice + system + irq + softirq) / CLOCK_TICKS


def waited_children_seconds() -> float:
    """CPU seconds of our finished child processes (wrk, once subprocess.run has reaped it)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def snapshot(roots: dict[str, int]) -> dict[str, float]:
    return {
        **seconds_by_tree(roots, process_times()),
        "wrk": waited_children_seconds(),
        "machine": machine_busy_seconds(),
    }


def per_request_us(before: dict[str, float], after: dict[str, float], requests: int) -> dict[str, float]:
    """Microseconds of CPU per request for each name in both snapshots."""
    if requests <= 0:
        return {}
    return {
        name: round(max(0.0, after[name] - before[name]) * 1e6 / requests, 1)
        for name in before
        if name in after
    }


ROLES = ("wrk", "nginx", "services", "postgres", "other", "machine")


def by_role(per_process: dict[str, float]) -> dict[str, float]:
    """Per-process figures summed into the table's columns: wrk, nginx (the edge, or nginx alone as a
    floor), services (ours and the baselines), postgres; other is the rest of the machine's busy time
    (the kernel's work outside these processes, anything else running)."""
    roles = dict.fromkeys(ROLES, 0.0)
    for name, microseconds in per_process.items():
        if name == "machine":
            continue
        if name in ("wrk", "nginx", "postgres"):
            roles[name] += microseconds
        elif name.startswith("bench-nginx"):  # nginx alone, or in front of the metrics' twins
            roles["nginx"] += microseconds
        else:
            roles["services"] += microseconds
    roles["machine"] = per_process.get("machine", 0.0)
    roles["other"] = max(0.0, roles["machine"] - sum(roles[role] for role in ROLES[:4]))
    return {role: round(value, 1) for role, value in roles.items()}
