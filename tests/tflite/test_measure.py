"""The latency measurement of study.measure: timed blocks until the median is stable, and one measurement at a
time across processes."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from automl.tflite.measure import MeasureRequest, one_at_a_time, time_blocks


def test_blocks_stop_between_the_bounds_and_count_every_call() -> None:
    calls = []
    request = MeasureRequest(warmup_runs=3, block_runs=5, min_blocks=4, max_blocks=9)
    latency = time_blocks(lambda: calls.append(1), request)
    assert 4 <= latency.blocks <= 9
    # warm-up, one calibration block, then the timed blocks (each made longer when it lasts under 2 ms)
    assert len(calls) == 3 + 5 + latency.runs and latency.runs % latency.blocks == 0
    assert latency.median_ms > 0 and latency.cv >= 0


def _try_lock(lock: str, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    import fcntl
    import os

    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        queue.put("acquired")
    except BlockingIOError:
        queue.put("busy")
    finally:
        os.close(fd)


def _other_process(lock: str) -> str:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_try_lock, args=(lock, queue))
    proc.start()
    proc.join(30)
    return str(queue.get(timeout=5))


def test_one_measurement_at_a_time_across_processes(tmp_path: Path) -> None:
    lock = str(tmp_path / "study" / "measure.lock")
    with one_at_a_time(lock):
        assert _other_process(lock) == "busy"
    assert _other_process(lock) == "acquired"
