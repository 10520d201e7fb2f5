"""Helpers shared by the benchmarks: the machine and versions line, Markdown sections, child processes."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("tensorflow", "jax", "keras", "keras-tuner", "optuna", "mlflow")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(load_before: tuple[float, float, float] | None = None) -> str:
    """One line: date, machine, cores, versions, and the load average (the cores may be shared)."""
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    load = os.getloadavg()
    before = f"{load_before[0]:.1f} at the start, " if load_before else ""
    return (f"Measured {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z} on {cpu_model()}, {os.cpu_count()} CPU "
            f"cores, Python {platform.python_version()}; {', '.join(versions)}. Load average {before}"
            f"{load[0]:.1f} at the end (1-minute; above the core count means other work shared the cores and "
            "timings are inflated).")


def write_section(path: Path, title: str, body: str) -> None:
    """Replace the ``## title`` section of ``path`` (up to the next ``## ``), or append it; keep the rest."""
    heading = f"## {title}"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    lines = text.rstrip("\n").splitlines()
    section = [heading, "", *body.strip("\n").splitlines()]
    start = next((i for i, line in enumerate(lines) if line.strip() == heading), None)
    if start is None:
        lines += ["", *section]
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        lines[start:end] = [*section, ""] if end < len(lines) else section
    path.write_text("\n".join(lines).rstrip() + "\n")


def publish(body: str, path: Path | None, title: str) -> None:
    """Print a benchmark's Markdown section and, with ``--write PATH``, put it in that file as ``## title``."""
    print(body)
    if path:
        write_section(path, title, body)


def answer_child(job: str, work: Any) -> None:
    """The child side of :func:`run_child`: run ``work`` on the JSON job, print its JSON result last."""
    print(json.dumps(work(json.loads(job))))


def table(headers: list[str], rows: Iterable[list[Any]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def mean_sd(values: list[float], digits: int = 3) -> str:
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return "-"
    text = f"{statistics.mean(values):.{digits}f}"
    return text + (f" ± {statistics.stdev(values):.{digits}f}" if len(values) > 1 else "")


def run_child(script: str, job: dict[str, Any], *, timeout: float | None = None) -> dict[str, Any]:
    """Run ``script --child JSON`` in a fresh Python process; its last stdout line is the JSON result."""
    env = {**os.environ, "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "tensorflow"), "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONHASHSEED": "0"}
    done = subprocess.run([sys.executable, script, "--child", json.dumps(job)], capture_output=True, text=True,
                          check=False, env=env, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{Path(script).name} {job}: exit {done.returncode}\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def quiet_tensorflow() -> None:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


# fixed spaces, written out here so that results stay comparable while the shipped spaces evolve
def cnn_space(filters_low: int = 16) -> dict[str, Any]:
    return {"block": "cnn", "params": {
        "conv_blocks": {"type": "int", "low": 1, "high": 2},
        "filters": {"type": "int", "low": filters_low, "high": 64, "log": True},
        "kernel_size": {"type": "categorical", "choices": [3, 5]},
        "dense_units": {"type": "categorical", "choices": [0, 64, 128]},
        "dropout": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.1},
        "optimizer": {"type": "categorical", "choices": ["sgd", "adam", "rmsprop"]},
        "momentum": {"type": "float", "low": 0.0, "high": 0.99, "when": {"optimizer": "sgd"}},
        "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
    }}


MLP_SPACE: dict[str, Any] = {"block": "mlp", "params": {
    "layers": {"type": "int", "low": 1, "high": 3},
    "units": {"type": "int", "low": 16, "high": 256, "log": True},
    "activation": {"type": "categorical", "choices": ["relu", "tanh"]},
    "dropout": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.1},
    "optimizer": {"type": "categorical", "choices": ["sgd", "adam", "rmsprop"]},
    "momentum": {"type": "float", "low": 0.0, "high": 0.99, "when": {"optimizer": "sgd"}},
    "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
}}


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (from /proc), depth first: a study's process and its trial processes."""
    out = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return out
    for child in children:
        out += process_tree(int(child))
    return out

