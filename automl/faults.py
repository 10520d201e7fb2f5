"""Fault points: named places where a test can make ``automl run`` fail the way the world makes it fail.

``AUTOML_FAULT`` (test-only) names one fault as ``POINT:ACTION`` or ``POINT:ACTION:N``: act on the N-th time
the point is reached in this process, counting from 1 (default 1; ``*``: every time). Points: ``store_create``,
``trial_start``, ``epoch_end``, ``between_trials``, ``save_best`` (the temporary file is written, not yet
renamed), ``final_stage``, ``publish_students`` (a distill run's students are staged and listed, not yet
moved into place), ``predict_batch`` (``automl predict``, after each batch of rows); in a trial process
(``train.isolation: process``) the trial's own points are named ``child_trial_start``, ``child_epoch_end``,
``child_save_best``. Actions:

- ``kill``: SIGKILL this process (what ``kill -9`` and the kernel's OOM killer do);
- ``sigint`` / ``sigterm``: send that signal to this process (Ctrl-C, a scheduler's stop);
- ``abort``: ``os.abort()`` (a crash in native code);
- ``raise``: raise :class:`InjectedFault` (a bug in a trial or stage);
- ``pause``: write ``$AUTOML_FAULT_READY`` (when set) and sleep until it is deleted or 60 s pass, so a test can
  act from outside at exactly that moment.

``AUTOML_FAULT_ONCE=PATH`` makes the fault act once across processes: the first process to act creates PATH,
and none acts while it exists. Unset, a point costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

ENV = "AUTOML_FAULT"
_reached: dict[str, int] = {}
#: prefixed to every point's name in a trial process (``child_epoch_end``), so a fault aimed at the study's
#: process (``epoch_end``) does not fire in its trial process too, and the other way round
scope = ""


class InjectedFault(RuntimeError):
    """What the ``raise`` action raises."""


def point(name: str) -> None:
    """Act on ``AUTOML_FAULT`` when it names this point (and this is the time it counts)."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    where, _, rest = spec.partition(":")
    if where != scope + name:
        return
    action, _, nth = rest.partition(":")
    _reached[name] = _reached.get(name, 0) + 1
    if nth != "*" and _reached[name] != int(nth or 1):
        return
    once = os.environ.get("AUTOML_FAULT_ONCE")
    if once:  # across processes (a recycled trial process counts afresh): only the first to get here acts
        try:
            os.close(os.open(once, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action in ("sigint", "sigterm"):
        os.kill(os.getpid(), signal.SIGINT if action == "sigint" else signal.SIGTERM)
        time.sleep(0.05)  # let the handler run here, as a signal from outside would
    elif action == "abort":
        os.abort()
    elif action == "raise":
        raise InjectedFault(f"fault injected at {name}")
    elif action == "pause":
        ready = os.environ.get("AUTOML_FAULT_READY")
        if ready:
            Path(ready).write_text(str(os.getpid()))
        deadline = time.monotonic() + 60
        while ready and Path(ready).exists() and time.monotonic() < deadline:
            time.sleep(0.05)


__all__ = ["ENV", "InjectedFault", "point"]
