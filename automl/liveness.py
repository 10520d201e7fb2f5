"""Which process owns a running trial or run, and whether it is still alive.

Every trial and MLflow run automl starts carries its owner: ``host/pid/start`` where ``start`` is the
process's start time as the kernel counts it (``/proc/<pid>/stat``, field 22, with the boot id), so that a
pid reused after the owner died (or after a reboot) is not mistaken for it. Only an owner on this host can be
judged; another host's trials are left alone (a shared RDB storage relies on Optuna's heartbeat there).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from functools import cache
from pathlib import Path

#: the user attribute (Optuna) and tag (MLflow) that name a trial's or run's owner
OWNER = "automl.owner"


@cache
def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()[:8]
    except OSError:
        return ""


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """``(state, start)`` of ``pid`` from ``/proc/<pid>/stat``: its state letter (``Z``: a zombie, dead but not
    yet reaped) and its start time (clock ticks since boot, prefixed by the boot id); None without /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # the command name may hold spaces and parentheses
    return fields[0], f"{_boot_id()}.{fields[19]}"


def _start_time(pid: int) -> str:
    stat = _proc_stat(pid)
    return stat[1] if stat else ""


def pid_alive(pid: int, start: str = "") -> bool:
    """Whether process ``pid`` of this host runs (not a zombie), and, given ``start``, is the one that started
    then (a reused pid is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process of that pid: alive, unless it is a reused pid
        pass
    stat = _proc_stat(pid)
    if stat is None:
        return True  # no /proc: the pid exists, and that is all that can be told
    state, started = stat
    return state not in ("Z", "X") and (not start or started == start)


@dataclass(frozen=True)
class Owner:
    host: str
    pid: int
    start: str  # "" where /proc is missing: then only the pid is checked

    def __str__(self) -> str:
        return f"{self.host}/{self.pid}/{self.start}"

    @classmethod
    def parse(cls, text: object) -> Owner | None:
        parts = str(text).rsplit("/", 2) if text else []
        if len(parts) != 3 or not parts[1].isdigit():
            return None
        return cls(parts[0], int(parts[1]), parts[2])

    def is_local(self) -> bool:
        return self.host == _host()

    def alive(self) -> bool:
        """Whether the owner still runs; only meaningful for a local owner (another host's counts as alive)."""
        if not self.is_local():
            return True
        return pid_alive(self.pid, self.start)

    def died(self) -> str:
        return f"process {self.pid} on {self.host} died"


@cache
def _host() -> str:
    return socket.gethostname()


def this_process() -> Owner:
    """The owner record of the calling process (computed afresh: a forked child has its own pid)."""
    pid = os.getpid()
    return Owner(_host(), pid, _start_time(pid))


def dead(text: object) -> Owner | None:
    """The owner named by ``text`` when it is a process of this host that is no longer running."""
    owner = Owner.parse(text)
    return owner if owner is not None and not owner.alive() else None


__all__ = ["OWNER", "Owner", "dead", "pid_alive", "this_process"]
