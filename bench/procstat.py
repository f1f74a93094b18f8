"""Readings from /proc: CPU time and resident memory of a process and its whole process tree."""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """Direct children of ``pid``, gathered over all its threads."""
    found: list[int] = []
    for children_file in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found.extend(int(child) for child in children_file.read_text().split())
        except OSError:  # the thread or process went away meanwhile
            continue
    return found


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants, parents first."""
    pids = [pid]
    index = 0
    while index < len(pids):
        pids.extend(child for child in children(pids[index]) if child not in pids)
        index += 1
    return pids


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process, in seconds (0 when it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # The command name (field 2) may hold spaces: split after its closing parenthesis.
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    """VmRSS of one process in bytes (0 when it is gone or a kernel thread)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def tree_cpu_seconds(pid: int) -> float:
    return sum(cpu_seconds(p) for p in tree(pid))


def tree_rss_bytes(pid: int) -> int:
    return sum(rss_bytes(p) for p in tree(pid))


def machine_busy_seconds() -> float:
    """Busy CPU seconds of the whole machine, all cores (first line of /proc/stat, less idle and iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def own_cpu_seconds() -> float:
    """CPU of this process (the harness, e.g. the streaming client)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def reaped_children_cpu_seconds() -> float:
    """CPU of this process's children that have exited and been waited for (e.g. one wrk run)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class CpuSnapshot:
    """CPU seconds used so far by everyone who shares the cores during a load phase."""

    proxy: float
    proxy_tree: float
    simulator: float
    client: float
    load_generator: float
    machine: float
    wall: float

    @classmethod
    def take(cls, proxy_pid: int, simulator_pid: int) -> CpuSnapshot:
        return cls(
            proxy=cpu_seconds(proxy_pid),
            proxy_tree=tree_cpu_seconds(proxy_pid),
            simulator=tree_cpu_seconds(simulator_pid),
            client=own_cpu_seconds(),
            load_generator=reaped_children_cpu_seconds(),
            machine=machine_busy_seconds(),
            wall=time.monotonic(),
        )

    def seconds_until(self, later: CpuSnapshot) -> dict[str, float]:
        """CPU seconds each party used up to ``later``, and ``wall`` seconds elapsed.

        ``machine`` is the whole machine's busy time; ``others`` the part of it used by none of the parties.
        """
        used = {name: later_value - getattr(self, name) for name, later_value in vars(later).items()}
        ours = used["proxy_tree"] + used["simulator"] + used["client"] + used["load_generator"]
        used["others"] = max(0.0, used["machine"] - ours)
        return {name: round(value, 3) for name, value in used.items()}

    def per_request_ms(self, later: CpuSnapshot, requests: int) -> dict[str, float]:
        """CPU milliseconds per completed request for each party between this snapshot and ``later``."""
        count = max(requests, 1)
        return {name: round(value * 1000 / count, 4) for name, value in self.seconds_until(later).items()
                if name != "wall"}
