"""What every session of a study does around the loop: its trials in this process or in worker processes.

:class:`Session` is a :class:`~automl.study.loop.Loop` that can also spread its trials over ``study.workers``
processes (:mod:`automl.study.workers`); the tuning session (:mod:`automl.study.tune`) and the student study
of distillation (:mod:`automl.distill.study`) are sessions that differ in their objective and final stage.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from typing import Any, TypeVar

from automl import signals
from automl.errors import StudyError
from automl.runtime import visible_gpus
from automl.states import TrialState
from automl.store.folder import copy_file
from automl.study.loop import Loop, default_runners, reason
from automl.study.workers import WorkerJob, interrupt, shares, worker_main

T = TypeVar("T")


class Session(Loop):
    """A loop whose trials run here (one trial process, or inline) or in ``study.workers`` worker processes."""

    def _final_stage(self, parent: str, stage: Callable[[], T]) -> T:
        """Run the session's final stage; a stop or an error there ends the ``parent`` run KILLED / FAILED."""
        try:
            return stage()
        except KeyboardInterrupt:
            with signals.deferred():
                self.tracker.fail(parent, f"{signals.reason()} during the final stage", "KILLED")
            raise
        except BaseException as exc:
            with signals.deferred():
                self.tracker.fail(parent, reason(exc))
            raise

    def _trials(self, parent: str, trials: int, timeout: float | None) -> None:
        """Run ``trials`` trials under the ``parent`` run; the runner stays open (the final stage may use it)."""
        if self.cfg.study.workers > 1:
            self._run_workers(parent, trials, timeout)
        else:
            self._open_runner()
            self._loop(trials, timeout)

    def _run_workers(self, parent: str, trials: int, timeout: float | None) -> None:
        import multiprocessing

        cfg = self.cfg
        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()
        gpus = visible_gpus()
        counts = [n for n in shares(trials, cfg.study.workers) if n]
        given = None if self.runners is default_runners else self.runners  # crosses to the workers (picklable)
        procs = [ctx.Process(target=worker_main, name=f"automl-worker-{i}", daemon=False, args=(WorkerJob(
            index=i, pipeline=self.plan.pipeline, storage=self.plan.storage, tracking_uri=self.tracking_uri,
            parent_run_id=parent, trials=n, timeout=timeout, objective=self.objective.for_workers(), runners=given,
            gpu=gpus[i % len(gpus)] if gpus else None,
            threads=None if gpus else max(1, (os.cpu_count() or 1) // len(counts))),
            queue, os.getpid())) for i, n in enumerate(counts)]
        failures: list[str] = []
        for proc in procs:
            proc.start()
        try:
            self._relay(queue, procs, failures)
        except KeyboardInterrupt:
            with signals.deferred():
                interrupt(procs, signals.signal_number())
                for proc in procs:
                    proc.join(60)
                self._relay(queue, [], failures)
                self._fail_leftovers(signals.reason())
                self._adopt_candidate()
            raise
        crashed = [f"worker {i} exited with code {p.exitcode}" for i, p in enumerate(procs) if p.exitcode]
        if crashed or failures:
            self._fail_leftovers("; ".join(failures or crashed))
        self._adopt_candidate()
        if failures and not any(t.state == TrialState.COMPLETE for t in self.engine.trials()):
            raise StudyError(f"every worker failed: {failures[0]}")

    def _relay(self, queue: Any, procs: list[Any], failures: list[str]) -> None:
        """Show the workers' events until every worker has ended (then what is left in the queue)."""
        import queue as queues

        while True:
            if procs:
                signals.check()
            try:
                kind, args = queue.get(timeout=0.2)
            except queues.Empty:
                if not any(p.is_alive() for p in procs):
                    return
                continue
            if kind == "worker_failed":
                failures.append(f"worker {args[0]}: {args[1]}")
            else:
                getattr(self.progress, kind)(*args)

    def _fail_leftovers(self, reason: str) -> None:
        """Trials and MLflow runs a dead worker left RUNNING are marked FAIL / FAILED."""
        for number, _ in self.engine.fail_dead(reason):
            self.progress.trial_ended(number, TrialState.FAIL, None, self._best_value(), reason, 0.0)
        self.tracker.fail_dead(reason)

    def _adopt_candidate(self) -> None:
        """The best trial's candidate model (if a worker of this session saved it) becomes best.keras."""
        best = self.engine.best()
        if best is not None and self.folder.candidate(best.number).exists():
            os.replace(self.folder.candidate(best.number), self.best_path)
            self.objective.kept(best.number, float(best.value or 0.0), best.params)
        elif best is not None and self.objective.objectives.multi and self.folder.trial_model(best.number).exists():
            copy_file(self.folder.trial_model(best.number), self.best_path)  # a worker kept it as a Pareto member
            self.objective.kept(best.number, float(best.value or 0.0), best.params)
        shutil.rmtree(self.folder.candidates, ignore_errors=True)
