"""Several trials at once: worker processes that share one Optuna study (``study.workers``).

The parent process opens the study and the MLflow parent run, then starts N workers (``spawn``: a fresh
interpreter each, so no TensorFlow state is inherited). Each worker loads the same plan, asks the shared
storage for trials, trains them with the ordinary trial runner and logs nested MLflow runs under the
parent; with GPUs, worker i sees only GPU ``i mod #GPUs`` through ``CUDA_VISIBLE_DEVICES``. A worker
keeps a model only as a *candidate* (``mlruns/<name>/candidates/trial-<n>.keras``) when its trial is the
best one told so far; once all workers are done the parent adopts the best trial's candidate as
``best.keras``. Progress events travel to the parent's display through a queue.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from automl._text import first_line
from automl.progress import Progress


@dataclass
class WorkerJob:
    index: int
    pipeline: Any  # automl.config.loader.Pipeline (picklable)
    storage: str
    tracking_uri: str | None
    parent_run_id: str
    trials: int
    timeout: float | None
    gpu: str | None  # the CUDA device this worker may see; None: leave CUDA_VISIBLE_DEVICES alone
    threads: int | None = None  # CPU threads per op for this worker (its share of the cores), None: all
    #: how the worker makes its objective from its plan (``Objective.for_workers()``: picklable); None: tuning
    objective: Callable[[Any], Any] | None = None
    #: where the worker's trials train (``automl.study.loop.Runners``, picklable); None: ``train.isolation``
    runners: Callable[[Any], Any] | None = None


class QueueProgress(Progress):
    """Forwards a worker's trial events to the parent's display."""

    def __init__(self, queue: Any) -> None:
        self.queue = queue

    def trial_started(self, number: int, params: dict[str, Any]) -> None:
        self.queue.put(("trial_started", (number, params)))

    def epoch_ended(self, number: int, epoch: int, epochs: int, metrics: dict[str, float]) -> None:
        self.queue.put(("epoch_ended", (number, epoch, epochs, metrics)))

    def trial_ended(self, number: int, state: str, value: float | None, best: float | None, reason: str | None,
                    seconds: float) -> None:
        self.queue.put(("trial_ended", (number, state, value, best, reason, seconds)))

    def note(self, text: str) -> None:
        self.queue.put(("note", (text,)))


def shares(total: int, workers: int) -> list[int]:
    """``total`` trials split as evenly as possible over ``workers`` (the first ones take the remainder)."""
    return [total // workers + (1 if i < total % workers else 0) for i in range(workers)]


def worker_main(job: WorkerJob, queue: Any, parent: int) -> None:
    """Entry point of a worker process."""
    from automl.trial.process import die_with

    die_with(parent)  # no worker trains on after its study's process died
    from automl.runtime import use_gpu

    use_gpu(job.gpu)
    try:
        from automl import signals
        from automl.plan import make_plan
        from automl.runtime import import_keras, set_threads
        from automl.study.loop import Loop
        from automl.study.objective import TuneObjective

        if job.runners is None:  # given runners know where their models live
            import_keras()
        set_threads(job.threads)
        plan = make_plan(job.pipeline, storage=job.storage)
        objective = (job.objective or TuneObjective)(plan)
        study = Loop(plan, job.tracking_uri, QueueProgress(queue), worker=job.index, threads=job.threads,
                     objective=objective, runners=job.runners)
        # Ctrl-C and SIGTERM as a stop at the next safe point, even when this process started with SIGINT
        # ignored (a parent in the background of a non-interactive shell): the parent passes its signal on
        with signals.handling():
            study.work(job.parent_run_id, job.trials, job.timeout)
    except KeyboardInterrupt:  # the running trial was marked and its run closed by the study
        _exit(queue, 130)
    except BaseException as exc:  # reported to the parent, which fails what this worker left running
        queue.put(("worker_failed", (job.index, first_line(exc, 300, typed=True))))
        _exit(queue, 1)
    _exit(queue, 0)


def _exit(queue: Any, code: int) -> None:
    """Flush the queue, then leave without the interpreter's teardown (TensorFlow's can take seconds):
    everything that matters is in the stores already."""
    queue.close()
    queue.join_thread()
    os._exit(code)


def interrupt(processes: list[Any], signum: int = signal.SIGINT) -> None:
    """Pass a Ctrl-C (or SIGTERM) on to the workers (a terminal sends it to all of them; ``kill`` only to the
    parent)."""
    for proc in processes:
        if proc.is_alive() and proc.pid:
            try:
                os.kill(proc.pid, signum)
            except ProcessLookupError:
                pass
