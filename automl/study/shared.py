"""A study shared by hosts: ``automl worker`` joins it and ``automl finish`` ends it, once.

Workers on any host share only the Optuna storage (PostgreSQL) and the MLflow server. The first worker to
join makes the study and its session run, and records on the study (user attributes) the session run's id,
its package versions and the data's fingerprint; every later worker checks that its versions and data are
the same (another scikit-learn can split the data differently) and logs its trials under that one session
run. A worker reserves each trial against ``study.budget`` in the storage (:meth:`Engine.reserve`), uploads
the model of a trial that is the best so far to the trial's MLflow run (``model/trial-<n>.keras``), and
exits when the budget is met. ``automl finish`` fetches the best trial's model from MLflow and runs the
tuning session's final stage (refit, test metrics, registry) under the session run; a second ``finish``
finds the study finished and returns what the first recorded.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from automl import signals
from automl.config.loader import Pipeline
from automl.errors import ConfigError, StudyError
from automl.liveness import OWNER
from automl.plan import Plan, make_plan
from automl.progress import Progress
from automl.runtime import freeze_imports, import_keras, use_gpu
from automl.states import TrialState
from automl.store.access import database_lock, not_made_yet, redact
from automl.study.loop import Loop, Runners
from automl.study.tune import TuneResult, _Study
from automl.tracking.mlflow import absolute_sqlite

#: study attributes every host reads: the session run all trials nest under, what a worker must match, the end
SESSION_RUN, VERSIONS, DATA = "automl.session_run", "automl.versions", "automl.data_fingerprint"
FINISHED = "automl.finished"
#: the modules whose versions decide a trial's result (the split, the model, the sampler)
_MODULES = ("automl", "keras", "optuna", "sklearn", "numpy")


def versions() -> dict[str, str]:
    """Versions of the packages a trial's result depends on, the Keras backend's included."""
    import keras

    names = [*_MODULES, keras.backend.backend()]
    found = {name: str(getattr(importlib.import_module(name), "__version__", "?")) for name in names}
    found["python"] = "{}.{}".format(*sys.version_info[:2])
    return found


def data_fingerprint(data: Any) -> str:
    """A digest of the splits (train, validation, test: values, shapes, dtypes) and class names."""
    from automl.data.rows import update_digest

    digest = hashlib.sha256()

    def add(value: Any) -> None:
        if isinstance(value, dict):
            for key in sorted(value):
                digest.update(str(key).encode())
                add(value[key])
        elif isinstance(value, list | tuple):
            for item in value:
                add(item)
        elif value is None:
            digest.update(b"-")
        elif hasattr(value, "shape") and np.dtype(value.dtype) != np.dtype(object):
            update_digest(digest, value)  # chunk by chunk: a split read from files is never in memory whole
        else:
            array = np.ascontiguousarray(value)
            digest.update(f"{array.dtype}{array.shape}".encode())
            digest.update(array.tobytes() if array.dtype != object else repr(array.tolist()).encode())

    for split in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        add(getattr(data, split))
    add(list(data.class_names or []))
    return digest.hexdigest()


def _one_gpu(index: int) -> str | None:
    """The GPU this worker takes: entry ``index`` (mod their number) of ``CUDA_VISIBLE_DEVICES``, or of the
    GPUs ``nvidia-smi`` lists; None on a machine without GPUs (chosen before Keras starts)."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        ids = [d.strip() for d in listed.split(",") if d.strip() and d.strip() != "-1"]
    elif shutil.which("nvidia-smi"):
        done = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, check=False)
        ids = [str(i) for i, line in enumerate(done.stdout.splitlines()) if line.startswith("GPU ")]
    else:
        ids = []
    return ids[index % len(ids)] if ids else None


def worker_index(index: int | None = None) -> int:
    """The worker's number: given, else a Kubernetes indexed Job's ``JOB_COMPLETION_INDEX``, else one drawn
    from the host's name and the pid (containers of one compose service all run as pid 1; the number seeds
    the worker's sampler, so workers must not share it)."""
    if index is not None:
        return index
    given = os.environ.get("JOB_COMPLETION_INDEX", "")
    if given.isdigit():
        return int(given)
    return zlib.crc32(f"{socket.gethostname()}/{os.getpid()}".encode()) % 1_000_000


@dataclass
class WorkerResult:
    """What :func:`work` returns: the trials this worker ran and where the study stands."""

    study_name: str
    worker: int
    gpu: str | None
    parent_run_id: str
    budget: int
    counted: int  # the study's trials counted against its budget when this worker left
    trials: list[int] = field(default_factory=list)  # the numbers of the trials this worker ran
    interrupted: bool = False


def _mismatch(name: str, stored: dict[str, Any], mine: dict[str, str], data: str, fingerprint: str) -> str | None:
    """Why a process may not join study ``name``: another version of a package, or other data."""
    for key in sorted(set(stored) | set(mine)):
        if stored.get(key) != mine.get(key):
            return (f"study '{name}' runs {key} {stored.get(key, '(none)')}, this host has {mine.get(key, '(none)')}:"
                    f" install the study's versions, or give this worker a study of its own (--name NEW_NAME)")
    if data != fingerprint:
        return (f"study '{name}' was started on other data (fingerprint {data[:12]}, this host's {fingerprint[:12]}):"
                " give every worker the same data files and data.* keys (they decide the split)")
    return None


class _Worker(Loop):
    """A loop that joins the shared study, then asks for trials until the budget is met."""

    upload_candidates = True

    def join(self) -> str:
        """Open the study (making it and its session run if this worker is the first) and check this host's
        versions and data against it; the session run's id."""
        plan, cfg = self.plan, self.cfg
        with database_lock(plan.storage, plan.name):  # one worker makes the study; the others find it made
            self.engine.open(new=False)
            attrs = self.engine.study_attrs()
            mine, fingerprint = versions(), data_fingerprint(plan.data)
            if SESSION_RUN in attrs:
                problem = _mismatch(plan.name, attrs.get(VERSIONS) or {}, mine, attrs.get(DATA, ""), fingerprint)
                if problem:
                    raise StudyError(problem)
                if FINISHED in attrs:
                    raise StudyError(f"study '{plan.name}' was ended by `automl finish`: give new workers a study "
                                     "of their own (--name NEW_NAME)")
                parent = str(attrs[SESSION_RUN])
            else:
                parent = self.tracker.start_run(f"{plan.name}-session", tags={
                    "automl.study": plan.name, "automl.engine": cfg.study.engine, "automl.role": "study",
                    "automl.shared": "workers", "automl.budget": cfg.study.budget,
                    "automl.data_fingerprint": fingerprint})
                # the run outlives any one worker: no process owns it, `automl finish` ends it
                self.tracker.client.delete_tag(parent, OWNER)
                self.tracker.log(parent, params={
                    "engine": cfg.study.engine, "sampler": cfg.study.sampler, "pruner": cfg.study.pruner,
                    "budget": cfg.study.budget, "metric": plan.metric, "direction": plan.direction,
                    "epochs": plan.epochs, "batch_size": cfg.train.batch_size, "refit": cfg.train.refit,
                    "seed": cfg.seed, "data.source": cfg.data.source, "task": plan.data.task,
                    "blocks": ",".join(plan.space.blocks), **{f"version.{k}": v for k, v in mine.items()}})
                self.tracker.log_text(parent, plan.pipeline.to_yaml(), "pipeline.yaml")
                self.engine.set_study_attr(VERSIONS, mine)
                self.engine.set_study_attr(DATA, fingerprint)
                self.engine.set_study_attr(SESSION_RUN, parent)
        self._fail_runs(self.engine.healed)
        return parent

    def run(self, gpu: str | None) -> WorkerResult:
        budget = self.cfg.study.budget
        assert budget is not None and self.worker is not None
        parent = self.join()
        self._parent_id, self._session_trials = parent, []
        self.folder.claim()
        freeze_imports()
        self._open_runner()
        # the bar counts the study's budget: the trials counted before this worker joined are done already
        self.progress.study_started(self.plan.name, budget, self.engine.count().counted, *self.plan.headline)
        interrupted = False
        try:
            self._loop(budget, self.cfg.study.timeout)
        except KeyboardInterrupt:  # the running trial FAILed and its run ended KILLED in the loop
            interrupted = True
        finally:
            self._close_runner()
            self.progress.study_ended()
        return WorkerResult(study_name=self.plan.name, worker=self.worker, gpu=gpu, parent_run_id=parent,
                            budget=budget, counted=self.engine.count().counted, trials=list(self._session_trials),
                            interrupted=interrupted)


def work(pipeline: Pipeline, *, index: int | None = None, tracking_uri: str | None = None,
         storage: str | None = None, progress: Progress | None = None, runners: Runners | None = None
         ) -> WorkerResult:
    """Join the study of ``pipeline`` (from any host) and run trials until its ``study.budget`` is met.

    ``runners``: where the trials train (:data:`~automl.study.loop.Runners`); by default ``train.isolation``."""
    cfg = pipeline.config
    if cfg.study.budget is None:
        raise ConfigError("a worker runs until the study's budget is met: set study.budget or give --budget N",
                          file=str(pipeline.file), path="study.budget")
    number = worker_index(index)
    gpu = _one_gpu(number)
    use_gpu(gpu)  # before Keras starts: this worker sees one GPU
    if runners is None:  # given runners know where their models live
        import_keras()
    plan = make_plan(pipeline, storage=storage)
    with database_lock(plan.storage, plan.name):  # workers starting on a fresh database make its tables once
        loop = _Worker(plan, tracking_uri, progress or Progress(), worker=number, runners=runners)
    with signals.handling():
        return loop.run(gpu)


class _Finish(_Study):
    """The end of a study that workers ran: the best model from MLflow, then the tuning session's final
    stage under the study's session run."""

    def finish(self) -> TuneResult:
        plan = self.plan
        with database_lock(plan.storage, plan.name):  # a second finish waits, then finds this one's result
            if not self.engine.exists():
                raise _no_study(plan)
            self.engine.open(new=False)
            attrs = self.engine.study_attrs()
            if SESSION_RUN not in attrs:
                raise StudyError(f"study '{plan.name}' has no workers' session run: `automl finish` ends a study "
                                 "that `automl worker` ran (`automl run` ends its own)")
            problem = _mismatch(plan.name, attrs.get(VERSIONS) or {}, versions(), attrs.get(DATA, ""),
                                data_fingerprint(plan.data))
            if problem:
                raise StudyError(problem)
            parent = str(attrs[SESSION_RUN])
            if FINISHED in attrs:
                return self._finished(parent, attrs[FINISHED])
            self._fail_runs(self.engine.healed)
            self._heal_dead()
            left = self.engine.count()
            if left.running or left.waiting:
                raise StudyError(f"study '{plan.name}' has {left.running} trial(s) running and {left.waiting} "
                                 "waiting: run `automl finish` after its workers have exited")
            self._close_failed_runs()
            self.folder.claim()
            self._parent_id, self._session_trials = parent, []
            best = self.engine.best()
            if best is not None:
                self._fetch(best.number, str(best.attrs.get("mlflow_run_id", "")), float(best.value or 0.0),
                            best.params)
            result = self._finish(parent, interrupted=False)
            self.engine.set_study_attr(FINISHED, {"best_trial": result.best_trial,
                                                  "version": result.registered_version,
                                                  "model_path": result.model_path, "test": result.test_metrics})
            return result

    def _close_failed_runs(self) -> None:
        """Runs of FAILed trials still RUNNING (a worker died between failing a trial and closing its run)."""
        for t in self.engine.trials():
            run_id = t.attrs.get("mlflow_run_id")
            if t.state == TrialState.FAIL and run_id:
                self.tracker.fail_running(str(run_id), str(t.attrs.get("fail_reason", "its process died")))

    def _fetch(self, number: int, run_id: str, value: float, params: dict[str, Any]) -> None:
        """The best trial's model, as its worker uploaded it, becomes best.keras (else the final stage
        rebuilds it from the trial's parameters)."""
        name = self.folder.candidate(number).name
        try:
            with tempfile.TemporaryDirectory() as tmp:
                got = Path(self.tracker.client.download_artifacts(run_id, f"model/{name}", tmp))
                os.replace(got, self.best_path)
        except Exception as exc:  # noqa: BLE001 - not uploaded (its worker died first): rebuilt below
            self.progress.note(f"the model of trial {number} is not in MLflow ({type(exc).__name__}): it is "
                               "rebuilt from the trial's parameters")
            return
        self.objective.kept(number, value, params)

    def _finished(self, parent: str, done: dict[str, Any]) -> TuneResult:
        """What the first ``automl finish`` recorded."""
        plan = self.plan
        best = self.engine.best()
        return TuneResult(study_name=plan.name, metric=plan.metric, direction=plan.direction,
                          best_value=best.value if best else None, best_params=dict(best.params) if best else {},
                          best_trial=done.get("best_trial"), model_path=done.get("model_path"),
                          parent_run_id=parent, test_metrics=dict(done.get("test") or {}),
                          trials=self.engine.trials(), registered_version=done.get("version"), plan=plan,
                          finished_before=True)


def _no_study(plan: Plan) -> StudyError:
    return StudyError(f"no study '{plan.name}' in {redact(plan.storage)}: start its workers first (automl worker "
                      f"{plan.pipeline.file})")


def finish(pipeline: Pipeline, *, tracking_uri: str | None = None, storage: str | None = None,
           progress: Progress | None = None, plan: Plan | None = None, runners: Runners | None = None
           ) -> TuneResult:
    """End the study that workers of ``pipeline`` ran: best model, refit, test metrics, registry; once.

    ``runners``: where the final stage's model work runs; by default this process."""
    if runners is None:
        import_keras()
    plan = plan or make_plan(pipeline, storage=storage)
    if not_made_yet(absolute_sqlite(plan.storage)):  # refused before a store is made: nothing left behind
        raise _no_study(plan)
    with signals.handling():
        return _Finish(plan, tracking_uri, progress or Progress(), runners=runners).finish()
