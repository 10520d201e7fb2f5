"""A trial's model as a phone would run it: its TFLite size and batch-1 latency, measured inside the search.

Size and latency do not depend on the trained weights, so a trial measures its built, untrained model before
fitting (:func:`automl.trial.runner.run_trial`): a configuration that breaks a budget is then known before
any training. The model is converted by :func:`automl.tflite.convert.convert` (``int8`` calibrated on
training samples by default) and timed in the ai-edge-litert interpreter: warm-up invocations, then timed
*blocks* of invocations (one clock reading per block, not per call, so the timer's own cost and jitter stay
out) until the median of the block times moves by less than ``tolerance``. The coefficient of variation of
the block times and the load average are recorded beside the median, to judge how far to trust it.

Only one measurement runs at a time on a host (a lock file under the study folder): two trials timing at
once would each slow the other down.

With ``study.measure.command`` the figure comes from where the model runs instead (:mod:`automl.tflite.device`,
e.g. a phone over adb): the command's milliseconds are ``tflite_latency_ms``, the interpreter is not used, and
the source (:data:`~automl.tflite.device.LATENCY_SOURCE`) and the command's last line go beside it.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from automl.tflite.device import LATENCY_OUTPUT, LATENCY_SOURCE, DeviceCommand, run_command


@dataclass(frozen=True)
class MeasureRequest:
    """How to measure (``study.measure``), and where the lock lives: plain data (it crosses to a trial process)."""

    format: str = "int8"
    threads: int = 1
    representative_samples: int = 100
    warmup_runs: int = 20
    block_runs: int = 20
    min_blocks: int = 7
    max_blocks: int = 60
    tolerance: float = 0.02
    #: a command that times the file where it runs (``{tflite}``: its path); None: the interpreter times it
    command: str | None = None
    command_timeout: float = 300.0
    lock: str | None = None  # a lock file shared by every process of the study (None: no lock)


@dataclass
class Latency:
    """Milliseconds of one batch-1 invocation: the median over timed blocks, their coefficient of variation."""

    median_ms: float
    cv: float
    blocks: int
    runs: int  # invocations timed in all


@contextlib.contextmanager
def one_at_a_time(lock: str | None) -> Iterator[None]:
    """Hold the exclusive lock ``lock`` (a file; made when missing) while the block runs."""
    if lock is None:
        yield
        return
    import fcntl

    Path(lock).parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


#: a timed block lasts at least this long (ms): a tiny model's 20 calls take microseconds, where the clock's
#: own jitter would be most of what is measured
MIN_BLOCK_MS = 2.0
MAX_BLOCK_RUNS = 100_000


def time_blocks(call: Any, request: MeasureRequest) -> Latency:
    """Time ``call`` in blocks of ``request.block_runs`` (more when they would last under
    :data:`MIN_BLOCK_MS`) until the median per-call time is stable."""
    for _ in range(request.warmup_runs):
        call()
    runs = request.block_runs
    start = time.perf_counter()
    for _ in range(runs):
        call()
    elapsed_ms = (time.perf_counter() - start) * 1000
    if elapsed_ms < MIN_BLOCK_MS:
        runs = min(MAX_BLOCK_RUNS, int(runs * MIN_BLOCK_MS / max(elapsed_ms, 1e-6)) + 1)
    per_call: list[float] = []
    median = float("nan")
    for _ in range(request.max_blocks):
        start = time.perf_counter()
        for _ in range(runs):
            call()
        per_call.append((time.perf_counter() - start) * 1000 / runs)
        previous, median = median, float(np.median(per_call))
        if len(per_call) >= request.min_blocks and abs(median - previous) <= request.tolerance * median:
            break
    times = np.asarray(per_call)
    cv = float(times.std() / times.mean()) if times.mean() > 0 else 0.0
    return Latency(median_ms=median, cv=cv, blocks=len(per_call), runs=len(per_call) * runs)


def tflite_latency(content: bytes, sample: np.ndarray, request: MeasureRequest) -> Latency:
    """The batch-1 latency of the TFLite file ``content`` on ``sample`` (one raw input row)."""
    from automl.tflite.validate import _interpreter, _spec, quantize

    interp = _interpreter(content, 1, threads=request.threads)
    inp = interp.get_input_details()[0]
    interp.set_tensor(inp["index"], quantize(sample[None], _spec(inp)))
    return time_blocks(interp.invoke, request)


@dataclass
class Measurement:
    """What a trial measured of its model: the figures (``values``, MLflow metrics and trial attributes) and
    where the latency came from (``tags``: :data:`~automl.tflite.device.LATENCY_SOURCE`, and with a command
    its last line of output)."""

    values: dict[str, float]
    tags: dict[str, str]


def measure(model: Any, x_train: np.ndarray, request: MeasureRequest) -> Measurement:
    """``tflite_kib`` and ``tflite_latency_ms`` of ``model`` converted to ``request.format``; timed in the
    interpreter, with ``tflite_latency_cv`` and ``tflite_load`` (1-minute load average while timing), or by
    ``request.command`` (one figure: no CV, no host load).

    Raises ExportError (naming the layer) when the model has no TFLite form, MeasureError when the command fails.
    """
    from automl.tflite.convert import ConvertOptions, convert
    from automl.tflite.prepare import inference_model

    samples = np.asarray(x_train[:request.representative_samples], dtype=np.float32)
    content = convert(inference_model(model), request.format, ConvertOptions(representative=samples))
    size = {"tflite_kib": len(content) / 1024}
    if request.command is not None:
        with one_at_a_time(request.lock):  # one device, one file at a time
            timed = run_command(DeviceCommand(request.command, request.command_timeout), content)
        return Measurement({**size, "tflite_latency_ms": timed.ms},
                           {LATENCY_SOURCE: "command", LATENCY_OUTPUT: timed.line})
    with one_at_a_time(request.lock):
        latency = tflite_latency(content, samples[0], request)
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return Measurement({**size, "tflite_latency_ms": latency.median_ms, "tflite_latency_cv": latency.cv,
                        "tflite_load": float(load)}, {LATENCY_SOURCE: "interpreter"})


def measure_model(model: Any, x_train: np.ndarray, request: MeasureRequest) -> dict[str, float]:
    """The figures of :func:`measure` (``tflite_kib``, ``tflite_latency_ms``, ...)."""
    return measure(model, x_train, request).values


#: below this median per call, models are too fast to rank by latency on a shared CPU: two measurements of the
#: same 24 models of 5-60 µs ranked them with Spearman 0.61 (docs/benchmarks.md, "Tune for the phone")
TOO_FAST_MS = 0.1
#: above this median coefficient of variation of the timed blocks, repeated timings of a model disagree
NOISY_CV = 0.05


def latency_trust(measured: list[dict[str, Any]]) -> str | None:
    """One sentence when the ``tflite_latency_ms`` of a study's trials (their attributes) is partly noise: the
    models are too fast to rank (:data:`TOO_FAST_MS`) or their timings vary (:data:`NOISY_CV`), with what to do;
    None when the latencies can be trusted (or fewer than two were measured in the interpreter).

    Both rules are about the interpreter on a shared CPU: trials whose latency came from
    ``study.measure.command`` (their :data:`~automl.tflite.device.LATENCY_SOURCE` is ``command``) are left out;
    a command gives one figure, with no coefficient of variation to judge.

    >>> latency_trust([{"tflite_latency_ms": 0.02, "tflite_latency_cv": 0.01}] * 3)[:68]
    'tflite_latency_ms is partly noise here: the models take 20 µs a call'
    >>> latency_trust([{"tflite_latency_ms": 4.0, "tflite_latency_cv": 0.01}] * 3) is None
    True
    >>> latency_trust([{"tflite_latency_ms": 0.02, "automl.latency_source": "command"}] * 3) is None
    True
    """
    measured = [m for m in measured if m.get(LATENCY_SOURCE) != "command"]
    latencies = [float(m["tflite_latency_ms"]) for m in measured if m.get("tflite_latency_ms") is not None]
    cvs = [float(m["tflite_latency_cv"]) for m in measured if m.get("tflite_latency_cv") is not None]
    if len(latencies) < 2:
        return None
    problems = []
    median = float(np.median(latencies))
    if median < TOO_FAST_MS:
        problems.append(f"the models take {median * 1000:.0f} µs a call (median of {len(latencies)}), too fast to "
                        "rank on a shared CPU")
    if cvs and float(np.median(cvs)) > NOISY_CV:
        problems.append(f"repeated timings of one model vary by {float(np.median(cvs)):.1%} (median CV, above "
                        f"{NOISY_CV:.0%})")
    if not problems:
        return None
    return ("tflite_latency_ms is partly noise here: " + "; ".join(problems) + ": time on a quieter machine or "
            "with more timed blocks (study.measure.min_blocks, block_runs), on the device the model is for, or "
            "optimize params_count or tflite_kib as a proxy")


__all__ = ["NOISY_CV", "TOO_FAST_MS", "Latency", "MeasureRequest", "Measurement", "latency_trust", "measure",
           "measure_model", "one_at_a_time", "time_blocks", "tflite_latency"]
