"""A TFLite file's latency measured where the model runs: a user's command (``study.measure.command``,
``export.measure.command``), e.g. a script that pushes the file to a phone with ``adb`` and runs LiteRT's
``benchmark_model`` there.

The command is a shell line in which ``{tflite}`` stands for the (shell-quoted) path of a temporary copy of the
file; it prints the latency in milliseconds as the last number of its last non-empty line of stdout. Its figure
replaces the interpreter's timing: there is one figure per file, no coefficient of variation. A command that
exits non-zero, outlasts its timeout or prints no number raises :class:`~automl.errors.MeasureError` with one
line that says which and why; the temporary file is removed whatever happens.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shlex
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

from automl.errors import MeasureError

#: what ``{tflite}`` in a command is replaced by
PLACEHOLDER = "{tflite}"
#: where a trial's or a file's latency came from (an MLflow tag and an Optuna trial attribute)
LATENCY_SOURCE = "automl.latency_source"
#: the command's last line of output (clipped), beside its figure
LATENCY_OUTPUT = "automl.latency_output"
#: the longest line quoted in a tag or an error message
CLIP = 200

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


@dataclass(frozen=True)
class DeviceCommand:
    """A command that times a TFLite file on a device: plain data (it crosses to a trial process).

    ``key`` names the setting in messages (``study.measure.command`` or ``export.measure.command``).
    """

    command: str
    timeout: float = 300.0
    key: str = "study.measure.command"


@dataclass(frozen=True)
class DeviceLatency:
    """What a command reported: its milliseconds and the line they were read from."""

    ms: float
    line: str


def clip(text: str, limit: int = CLIP) -> str:
    """``text`` cut to ``limit`` characters (an ellipsis marks the cut).

    >>> clip("abcdef", 4)
    'abc…'
    """
    return text if len(text) <= limit else text[:limit - 1] + "…"


def last_line(text: str) -> str:
    """The last non-empty line of ``text`` (stripped); ``''`` when there is none."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def parse_latency(stdout: str, key: str = "study.measure.command") -> DeviceLatency:
    """The last number on the last non-empty line of ``stdout``, in milliseconds.

    >>> parse_latency("pushing...\\nINFO: avg=1250.5 us -> 1.2505 ms\\n")
    DeviceLatency(ms=1.2505, line='INFO: avg=1250.5 us -> 1.2505 ms')
    """
    line = last_line(stdout)
    numbers = _NUMBER.findall(line)
    if not numbers:
        raise MeasureError(f"{key} printed no number on its last line: {clip(line)!r}")
    ms = float(numbers[-1])
    if not math.isfinite(ms) or ms <= 0:
        raise MeasureError(f"{key} printed {numbers[-1]} ms on its last line: a latency must be a positive number "
                           f"of milliseconds, got {clip(line)!r}")
    return DeviceLatency(ms=ms, line=clip(line))


@contextlib.contextmanager
def _temporary(content: bytes) -> Iterator[str]:
    fd, path = tempfile.mkstemp(prefix="automl-", suffix=".tflite")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def run_command(device: DeviceCommand, content: bytes) -> DeviceLatency:
    """Time the TFLite file ``content`` with ``device.command`` (its own process group, killed whole on timeout
    or interruption, so an ``adb`` or a ``sleep`` it started does not outlive it)."""
    with _temporary(content) as path:
        line = device.command.replace(PLACEHOLDER, shlex.quote(path))
        proc = subprocess.Popen(["/bin/sh", "-c", line], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, errors="replace", start_new_session=True)
        try:
            stdout, stderr = proc.communicate(timeout=device.timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            raise MeasureError(f"{device.key} timed out after {device.timeout:g} s "
                               f"({device.key.rsplit('.', 1)[0]}.command_timeout)") from None
        finally:
            if proc.poll() is None:  # interrupted (Ctrl-C, SIGTERM) while it ran
                _kill(proc)
    if proc.returncode != 0:
        said = last_line(stderr) or last_line(stdout) or "no output"
        raise MeasureError(f"{device.key} exited {proc.returncode}: {clip(said)}")
    return parse_latency(stdout, device.key)


def _kill(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


__all__ = ["LATENCY_OUTPUT", "LATENCY_SOURCE", "PLACEHOLDER", "DeviceCommand", "DeviceLatency", "clip", "last_line",
           "parse_latency", "run_command"]
