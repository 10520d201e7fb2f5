"""Trials in a process of their own (``train.isolation: process``), or in the study's (``inline``).

TensorFlow keeps ~8 MiB of every model it traced, whatever ``clear_session`` does, and a trial that segfaults
or meets the kernel's OOM killer would take the study with it. A :class:`ProcessRunner` trains each trial in
a child process that is started once and reused for ``recycle_after`` trials (each start costs the Keras
import), then replaced, which returns its memory. Across the pipe go the trial's request, its epochs (the
parent answers each with the pruning decision), its result, and the parent's verdict on the trained model
(keep: the child saves it where it is told; discard). The data reaches the child once: the parent writes
the splits as ``.npy`` files under the study folder and the child maps them.

The child takes orders from its parent only: it ignores the terminal's Ctrl-C (the parent stops it), and it
exits when its parent dies (``PR_SET_PDEATHSIG`` on Linux, and a watch on its parent's pid) or its pipe
closes. A child that dies, overruns ``study.trial_timeout`` or grows past ``train.max_memory_mib`` makes its
trial FAIL with the reason, and the next trial starts in a fresh process.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from automl import faults, signals
from automl.data.batches import STREAM_BYTES
from automl.data.dataset import Dataset
from automl.data.images import ImageFiles
from automl.data.rows import Rows, concat, update_digest
from automl.states import TrialState
from automl.trial import messages as m
from automl.trial.runner import (
    Reporter,
    TrialRequest,
    TrialResult,
    release_memory,
    run_cv_trial,
    run_trial,
    tell_measured,
)

_SPLITS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")
POLL_SECONDS = 0.25


# -- the data, once --------------------------------------------------------------------------------------
def write_splits(data: Dataset, root: Path) -> Path:
    """Write the splits as ``.npy`` files under ``root/<content hash>/`` (once: a folder that holds them is
    reused) and return that folder. The test split goes too: the trial process scores the best model on it at
    the end of the study, so that the study's own process never needs Keras."""
    digest = hashlib.sha1()
    for name in _SPLITS:
        digest.update(name.encode())
        update_digest(digest, getattr(data, name))  # chunk by chunk: a split read from files is never in memory whole
    folder = root / digest.hexdigest()[:16]
    if not (folder / "done").exists():
        from automl.store.folder import atomic_path

        folder.mkdir(parents=True, exist_ok=True)
        for name in _SPLITS:
            split = getattr(data, name)
            if isinstance(split, Rows):  # its row numbers and files: the trial process maps the files itself
                with atomic_path(folder / f"{name}.rows.npy") as tmp:
                    np.save(tmp, split.index)
                described = (f"{name}.images.json", split.describe()) if isinstance(split, ImageFiles) else (
                    f"{name}.paths.json", list(split.paths))  # images: decoded by the trial process as it reads
                with atomic_path(folder / described[0]) as tmp:
                    Path(tmp).write_text(json.dumps(described[1]))
                continue
            with atomic_path(folder / f"{name}.npy") as tmp:
                np.save(tmp, split)
        (folder / "done").write_text("")
        for stale in root.iterdir():  # the splits of an earlier data version (or release) of this study
            if stale.is_dir() and stale != folder and (stale / "done").exists():
                shutil.rmtree(stale, ignore_errors=True)
    return folder


def map_splits(folder: Path, meta: dict[str, Any]) -> Dataset:
    """The splits written by :func:`write_splits`, memory-mapped; a split of a source read from files, or an
    ``x`` split larger than ``STREAM_BYTES``, as :class:`~automl.data.rows.Rows` (the trials read it a batch at a
    time)."""
    arrays: dict[str, Any] = {}
    for name in _SPLITS:
        listed, images = folder / f"{name}.paths.json", folder / f"{name}.images.json"
        if images.exists():
            arrays[name] = ImageFiles.described(json.loads(images.read_text()), np.load(folder / f"{name}.rows.npy"))
        elif listed.exists():
            arrays[name] = Rows(json.loads(listed.read_text()), np.load(folder / f"{name}.rows.npy"))
        elif name.startswith("x_") and (folder / f"{name}.npy").stat().st_size > STREAM_BYTES:
            arrays[name] = Rows([folder / f"{name}.npy"])
        else:
            arrays[name] = np.load(folder / f"{name}.npy", mmap_mode="r")
    return Dataset(**arrays, **meta)


# -- the runners --------------------------------------------------------------------------------------------
class InlineRunner:
    """Trials in the study's own process: the result's model stays here until :meth:`keep` or :meth:`discard`."""

    def __init__(self, data: Dataset, folds: list[Dataset]) -> None:
        self.data, self.folds = data, folds
        self.model: Any = None

    def start(self) -> None:
        """Nothing to start: the trials train here."""

    def run(self, request: TrialRequest, reporter: Reporter) -> TrialResult:
        result = run_cv_trial(request, self.folds, reporter) if self.folds else run_trial(request, self.data, reporter)
        self.model, result.model = result.model, None
        return result

    def score(self, path: Path) -> dict[str, float]:
        """Load the model at ``path`` (StudyError when it cannot be) and score it on the test split."""
        from automl.builders.metrics import score_model
        from automl.store.folder import load_model

        model = load_model(path)
        data = self.data
        scores = score_model(model, data.x_test, data.y_test, data.task, data.num_classes)
        release_memory()
        return scores

    def log_flavor(self, path: Path, uri: str, experiment_id: str, run_id: str, name: str,
                   metadata: dict[str, Any]) -> str:
        """Log the model at ``path`` with MLflow's Keras flavor (:func:`automl.tracking.mlflow.log_keras_model`)
        and return its URI."""
        from automl.store.folder import load_model
        from automl.tracking.mlflow import log_keras_model

        model = load_model(path)
        try:
            return log_keras_model(uri, experiment_id, run_id, model, name, metadata=metadata)
        finally:
            del model
            release_memory()

    def refit(self, request: TrialRequest) -> None:
        """Train ``request`` on train + validation without validation (:func:`refit`); :meth:`keep` saves it."""
        from automl.trial.runner import refit

        data = self.data
        x, y = concat([data.x_train, data.x_val]), np.concatenate([data.y_train, data.y_val])
        self.model = refit(request, x, y, data.class_names)

    def keep(self, path: Path, fault: str | None = None, *, watch_signals: bool = True) -> None:
        from automl.store.folder import save_model

        save_model(self.model, path, fault=fault)

    def discard(self) -> None:
        self.model = None
        release_memory()

    def close(self) -> None:
        self.discard()


@dataclass
class ChildSetup:
    """What a trial process needs to start: plain data (it crosses to a spawned interpreter)."""

    data_dir: str
    meta: dict[str, Any]
    cv_folds: int | None
    seed: int | None
    threads: int | None = None


class TrialProcessDied(Exception):
    """The trial process ended (crash, kill, OOM killer) or was stopped (timeout, memory)."""


def _spawn() -> tuple[Any, Any]:
    """A trial process that imports Keras at once and then waits for its :class:`ChildSetup`."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=child_main, args=(child, os.getpid()), name="automl-trial", daemon=False)
    with _main_module_hidden():
        proc.start()
    child.close()
    return proc, parent


@contextmanager
def _main_module_hidden() -> Iterator[None]:
    """Start a spawned process without re-running the user's script in it.

    multiprocessing's spawn imports the parent's ``__main__`` in the child (by its file or module name), so a
    script that calls ``automl.run(...)`` without an ``if __name__ == "__main__":`` guard ran a second study
    inside the trial process (which then failed to start its own). The trial process needs nothing from
    ``__main__`` (its target is :func:`child_main`), so the spawn sees a main module without file or spec."""
    import sys

    main = sys.modules.get("__main__")
    saved: dict[str, Any] = {key: main.__dict__[key] for key in ("__file__", "__spec__")
                             if main is not None and key in main.__dict__}
    if main is not None:
        main.__dict__.pop("__file__", None)
        main.__dict__["__spec__"] = None
    try:
        yield
    finally:
        if main is not None:
            main.__dict__.pop("__spec__", None)
            main.__dict__.update(saved)


_spare: list[tuple[Any, Any]] = []  # a trial process started ahead of need


def prestart() -> None:
    """Start a trial process now, before the study knows its data: its Keras import (~5 s) then overlaps the
    study's own start-up (imports, data, stores) instead of delaying the first trial."""
    if not _spare:
        _spare.append(_spawn())


def drop_spare() -> None:
    """End a trial process started ahead of need that no study took."""
    while _spare:
        proc, conn = _spare.pop()
        conn.close()  # it exits on the closed pipe
        proc.join(5)
        if proc.is_alive():
            proc.kill()


class ProcessRunner:
    """Trials in a child process, reused for ``recycle_after`` trials."""

    def __init__(self, setup: ChildSetup, *, recycle_after: int, max_memory_mib: int | None = None,
                 trial_timeout: float | None = None) -> None:
        self.setup, self.recycle_after = setup, recycle_after
        self.max_memory_mib, self.trial_timeout = max_memory_mib, trial_timeout
        self.proc: Any = None
        self.conn: Any = None
        self.trials = 0  # run by the current process
        self.pids: list[int] = []  # every trial process started, in order
        self.peak_rss_mib = 0.0

    # -- the process --------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start a trial process now (it imports Keras while the study gets its first trial ready)."""
        if self.proc is not None:
            return
        spare = _spare.pop() if _spare else None
        self.proc, self.conn = spare if spare is not None and spare[0].is_alive() else _spawn()
        self.conn.send(m.Setup(self.setup))
        self.trials = 0
        self.pids.append(self.proc.pid)

    def _stop(self) -> None:
        """End the trial process at once (it holds nothing the study needs)."""
        if self.proc is None:
            return
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(10)
        self.conn.close()
        self.proc = self.conn = None

    def close(self) -> None:
        """Ask the trial process to exit (then make sure it did)."""
        if self.proc is None:
            return
        try:
            self.conn.send(m.Exit())
            self.proc.join(10)
        except (OSError, EOFError, BrokenPipeError):
            pass
        self._stop()

    # -- one trial ------------------------------------------------------------------------------------------
    def run(self, request: TrialRequest, reporter: Reporter) -> TrialResult:
        if self.proc is not None and self.trials >= self.recycle_after:
            self.close()  # its leaks go with it
        self.start()
        self.trials += 1
        if self.trials == self.recycle_after:  # the last trial of this process: its successor imports meanwhile
            prestart()
        started = time.monotonic()
        try:
            self.conn.send(m.RunTrial(request))
            while True:
                match self._receive(started):
                    case m.Epoch(epoch, value, metrics):
                        reporter.report(epoch, value, metrics)
                        faults.point("epoch_end")  # the study's process, at the same moment as inline
                        self.conn.send(m.Prune(reporter.should_prune()))
                    case m.Measured(values):  # known before training; no answer awaited
                        tell_measured(reporter, values)
                    case m.Result(result):
                        return result  # type: ignore[no-any-return]
        except TrialProcessDied as exc:
            self._stop()
            return TrialResult(state=TrialState.FAIL, reason=str(exc), fit_seconds=time.monotonic() - started)
        except BaseException:  # interrupted (the parent's Ctrl-C), or the parent's own failure: no orphan trains on
            self._stop()
            raise

    def _receive(self, started: float, *, watch_signals: bool = True, timed: bool = True) -> Any:
        """The next message of the trial process; meanwhile watch its life, time and memory, and (during the
        trials) the signals: a stop asked is acted on here. The final stage's model work runs to its end (a
        stop recorded before it is why it runs; a second signal still stops at once)."""
        while True:
            if watch_signals:
                signals.check()
            try:
                if self.conn.poll(POLL_SECONDS):
                    return self.conn.recv()
            except (EOFError, OSError):
                pass  # the pipe closed: the process is gone (its exit code says why)
            if not self.proc.is_alive() or self.conn.closed:
                self.proc.join(5)
                raise TrialProcessDied(_death(self.proc.exitcode))
            if timed and self.trial_timeout is not None and time.monotonic() - started > self.trial_timeout:
                raise TrialProcessDied(f"exceeded trial_timeout {self.trial_timeout:g} s")
            rss = rss_mib(self.proc.pid)
            self.peak_rss_mib = max(self.peak_rss_mib, rss)
            if self.max_memory_mib is not None and rss > self.max_memory_mib:
                raise TrialProcessDied(f"exceeded max_memory_mib {self.max_memory_mib} (resident {rss:.0f} MiB)")

    def keep(self, path: Path, fault: str | None = None, *, watch_signals: bool = True) -> None:
        """Have the trial process save the model of the trial it just ran (atomically) at ``path``."""
        self.conn.send(m.Keep(str(path), fault))
        if fault:
            faults.point(fault)  # the study's process, while its trial process saves
        reply = self._receive(time.monotonic(), watch_signals=watch_signals)
        if not isinstance(reply, m.Saved):
            raise TrialProcessDied(f"the trial process could not save the model: {reply.message}")

    # -- the final stage's model work (so that the study's own process never imports Keras) -----------------
    def _ask(self, message: Any) -> Any:
        """Send ``message`` to a trial process (started if none is alive) and return its answer; a process that
        dies meanwhile raises :class:`StudyError` with the reason."""
        from automl.errors import StudyError

        if self.proc is not None and not self.proc.is_alive():
            self._stop()
        self.start()
        try:
            self.conn.send(message)
            # no trial_timeout here: a refit trains on more rows than a trial did
            reply = self._receive(time.monotonic(), watch_signals=False, timed=False)
        except TrialProcessDied as exc:
            self._stop()
            raise StudyError(f"the trial process ended during the final stage: {exc}") from None
        except BaseException:
            self._stop()
            raise
        if isinstance(reply, m.Unloadable):
            from automl.store.folder import ModelLoadError

            raise ModelLoadError(reply.message)
        if isinstance(reply, m.Failed):
            raise StudyError(reply.message)
        return reply

    def score(self, path: Path) -> dict[str, float]:
        """The test split's scores of the model at ``path``, computed in the trial process (StudyError when
        the file cannot be loaded)."""
        scores: dict[str, float] = self._ask(m.Score(str(path))).scores
        return scores

    def refit(self, request: TrialRequest) -> None:
        """Train ``request`` on train + validation in the trial process; :meth:`keep` saves it."""
        self._ask(m.Refit(request))

    def log_flavor(self, path: Path, uri: str, experiment_id: str, run_id: str, name: str,
                   metadata: dict[str, Any]) -> str:
        """Log the model at ``path`` with MLflow's Keras flavor from the trial process; its URI."""
        logged: str = self._ask(m.LogFlavor(str(path), uri, experiment_id, run_id, name, metadata)).uri
        return logged

    def discard(self) -> None:
        if self.proc is not None:
            self.conn.send(m.Discard())


def _death(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            name = f" ({signal.Signals(-code).name})"
        except ValueError:
            name = ""
        return f"trial process killed by signal {-code}{name}"
    return f"trial process exited with code {code}"


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` in MiB (0 when it cannot be read)."""
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


# -- the child ----------------------------------------------------------------------------------------------
def die_with(parent: int) -> None:
    """Exit when the parent dies: at once on Linux (PR_SET_PDEATHSIG), else within a second."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # it died before the line above
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="automl-parent-watch", daemon=True).start()


class _PipeReporter:
    """The child's side of the epoch channel: each epoch goes up, the pruning decision comes back."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.pruned = False

    def report(self, epoch: int, value: float, metrics: dict[str, float]) -> None:
        self.conn.send(m.Epoch(epoch, value, metrics))
        answer: m.Prune = self.conn.recv()
        self.pruned = bool(answer.decision)

    def should_prune(self) -> bool:
        return self.pruned

    def measured(self, values: dict[str, float]) -> None:
        self.conn.send(m.Measured(values))


def child_main(conn: Any, parent: int) -> None:
    """The trial process: import Keras, take its setup, run the trials its parent sends, keep or drop their
    models, until told to exit."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the terminal's Ctrl-C is the parent's to act on
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    die_with(parent)
    faults.scope = "child_"
    from automl.runtime import freeze_imports, import_keras, set_threads

    import_keras()
    try:
        setup = conn.recv().setup
    except (EOFError, OSError):  # a spare never used
        os._exit(0)
    set_threads(setup.threads)
    data = map_splits(Path(setup.data_dir), setup.meta)
    folds = data.folds(setup.cv_folds, setup.seed) if setup.cv_folds else []
    runner = InlineRunner(data, folds)
    freeze_imports()
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            os._exit(0)
        match message:
            case m.RunTrial(request):
                faults.point("trial_start")
                conn.send(m.Result(runner.run(request, _PipeReporter(conn))))
            case m.Keep(path, fault):
                try:
                    runner.keep(Path(path), fault)
                    conn.send(m.Saved())
                except Exception as exc:  # reported to the parent, which fails what needs failing
                    conn.send(m.Failed(f"{type(exc).__name__}: {exc}"))
                runner.discard()
            case m.Discard():
                runner.discard()
            case m.Score() | m.Refit() | m.LogFlavor():
                conn.send(_final_stage(runner, message))
            case m.Exit():
                conn.close()
                os._exit(0)


def _final_stage(runner: InlineRunner, order: Any) -> Any:
    """Carry out an order of the final stage; its reply, or what went wrong (StudyError names the file; anything
    else says what it was)."""
    from automl.errors import StudyError
    from automl.store.folder import ModelLoadError

    try:
        match order:
            case m.Score(path):
                return m.Scores(runner.score(Path(path)))
            case m.LogFlavor(path, uri, experiment_id, run_id, name, metadata):
                return m.Logged(runner.log_flavor(Path(path), uri, experiment_id, run_id, name, metadata))
            case _:
                runner.refit(order.request)
                return m.Refitted()
    except Exception as exc:
        if isinstance(exc, ModelLoadError):
            return m.Unloadable(str(exc))
        return m.Failed(str(exc) if isinstance(exc, StudyError) else f"{type(exc).__name__}: {exc}")


def data_meta(data: Dataset) -> dict[str, Any]:
    """The non-array fields of a Dataset, for :func:`map_splits`."""
    fields = asdict(replace(data, x_train=np.empty(0), y_train=np.empty(0), x_val=np.empty(0), y_val=np.empty(0),
                            x_test=np.empty(0), y_test=np.empty(0)))
    return {k: v for k, v in fields.items() if not k.startswith(("x_", "y_"))}


__all__ = ["ChildSetup", "InlineRunner", "ProcessRunner", "TrialProcessDied", "child_main", "map_splits", "rss_mib",
           "write_splits"]
