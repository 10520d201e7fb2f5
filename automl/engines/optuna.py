"""The Optuna engine: its samplers and pruners (options in :mod:`automl.engines.options`), warm starts, RDB
storages."""

from __future__ import annotations

import logging
import math
import re
import threading
import warnings
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import optuna
from optuna.trial import TrialState
from pydantic import ValidationError

from automl import faults
from automl._text import one_of
from automl.engines._optuna_private import stale_trial_ids
from automl.engines.base import (
    FEASIBLE,
    BudgetCount,
    Engine,
    EngineTrial,
    StudySettings,
    TrialRecord,
    continuable,
    rename_or_new,
    space_refusal,
)
from automl.engines.options import CROSSOVERS, population_for, resolve
from automl.engines.pareto import EPOCH_OBJECTIVES, dominator
from automl.engines.registry import ENGINE_SAMPLERS, check_other_engines, missing_extra
from automl.engines.warm import check_enqueue, outside
from automl.errors import ConfigError, StudyError
from automl.liveness import OWNER, dead, this_process
from automl.space.space import Space, space_changes
from automl.states import TrialState as State  # automl's; TrialState here is Optuna's
from automl.store.access import database_lock, driver_problem, redact, retrying, store_lock, unreachable
from automl.tracking.mlflow import absolute_sqlite

optuna.logging.set_verbosity(optuna.logging.WARNING)
logging.getLogger("alembic").setLevel(logging.WARNING)

_STATE = {TrialState.COMPLETE: State.COMPLETE, TrialState.PRUNED: State.PRUNED, TrialState.FAIL: State.FAIL,
          TrialState.RUNNING: State.RUNNING, TrialState.WAITING: State.WAITING}
_TELL = {State.COMPLETE: TrialState.COMPLETE, State.PRUNED: TrialState.PRUNED, State.FAIL: TrialState.FAIL}
FINGERPRINT = "automl.space"
BUILDERS_ATTR = "automl.builders"  # {block reference: SHA-256 of its file} of a space naming user builders
ENGINE_ATTR = "automl.engine"
SPACE_SPEC = "automl.space_spec"  # the space's parameters as the last session saw them (what a change is told from)
#: every space the study ran under: fingerprint, the first trial under it, and what changed (``--continue``)
SPACES_ATTR = "automl.spaces"
#: a RUNNING trial of a SQLite study with no owner after this long was left by a dead process
ORPHAN_SECONDS = 60
HEARTBEAT_STOPPED = "no heartbeat"
#: system attributes of a retried trial, as Optuna's RetryHeartbeatStaleTrialCallback writes them: the first
#: trial of the series, and every trial of it so far
RETRIED, RETRY_HISTORY = "failed_trial", "retry_history"
#: a trial's own attributes that its retry does not inherit (they describe the attempt that died)
_NOT_RETRIED = ("fail_reason", OWNER, "mlflow_run_id", "automl.session", "worker", EPOCH_OBJECTIVES)


def counted(trials: list[optuna.trial.FrozenTrial]) -> BudgetCount:
    """Trials as a study budget counts them: complete, pruned and running ones, and failed ones that no
    retry took over (a retried trial counts once, as its last attempt); waiting ones (enqueued, retries) not."""
    retried = {n for t in trials for n in t.system_attrs.get(RETRY_HISTORY, [])}
    states = [t.state for t in trials]
    fails = sum(t.state == TrialState.FAIL and t.number not in retried for t in trials)
    running = states.count(TrialState.RUNNING)
    return BudgetCount(counted=states.count(TrialState.COMPLETE) + states.count(TrialState.PRUNED) + running + fails,
                       running=running, waiting=states.count(TrialState.WAITING))


def _retry(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """Enqueue ``trial`` again (same parameters) after its process died, as Optuna's
    ``RetryHeartbeatStaleTrialCallback`` does inside ``optimize``; automl asks and tells, so it calls this."""
    history = [*trial.system_attrs.get(RETRY_HISTORY, []), trial.number]
    study.add_trial(optuna.create_trial(
        state=TrialState.WAITING, params=trial.params, distributions=trial.distributions,
        user_attrs={k: v for k, v in trial.user_attrs.items() if k not in _NOT_RETRIED},
        system_attrs={**trial.system_attrs, RETRIED: trial.system_attrs.get(RETRIED, trial.number),
                      RETRY_HISTORY: history}))


def storage_trial_id(trial: optuna.Trial, study_id: int | None = None) -> int:
    """The storage's id of ``trial`` (unique across the storage's studies; ``automl.engine_trial_id``), through
    the storage's public API: Optuna keeps it in a private attribute of ``Trial`` and names no public one.
    ``study_id`` (the storage's id of the trial's study) saves a query when the caller knows it."""
    storage = trial.storage
    if study_id is None:
        study_id = storage.get_study_id_from_name(trial.study.study_name)
    return storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)


def prepare_storage(url: str) -> str:
    """Make the storage's tables once, one process at a time, so a fresh ``sqlite:///mlruns/optuna.db`` opens.

    Two processes creating a fresh database at once both run its migrations and one dies; under
    :func:`automl.store.access.store_lock` the second finds the tables made. A store automl cannot write is a
    StudyError naming the path. A server database (PostgreSQL) takes no lock; a missing driver or a refused
    connection is a StudyError with the password masked.
    """
    url = absolute_sqlite(url)
    problem = driver_problem(url)
    if problem:
        raise StudyError(problem)
    with store_lock(url):
        faults.point("store_create")
        try:
            retrying(lambda: optuna.storages.RDBStorage(url))
        except Exception as exc:
            message = unreachable(exc, url)
            if message is None:
                raise
            raise StudyError(message) from None
    return url


class _Heartbeat:
    """Records a running trial's heartbeat in the storage every ``interval`` seconds, from a thread, until
    stopped, through the storage's public ``record_heartbeat``. Optuna's own heartbeat thread runs only inside
    ``optimize`` and has no public name; automl asks and tells."""

    def __init__(self, storage: Any, trial_id: int, interval: int) -> None:
        self.stop_event = threading.Event()
        # the first beat before ask() returns: Optuna never judges a RUNNING trial without one, so a process
        # killed before its thread's first beat would leave the trial RUNNING for good (on a server storage,
        # where no owner check can judge it)
        self._record(storage, trial_id)
        self.thread = threading.Thread(target=self._beat, args=(storage, trial_id, interval), daemon=True,
                                       name=f"automl-heartbeat-{trial_id}")
        self.thread.start()

    @staticmethod
    def _record(storage: Any, trial_id: int) -> None:
        try:
            storage.record_heartbeat(trial_id)
        except Exception:  # a storage hiccup: the next beat tries again
            pass

    def _beat(self, storage: Any, trial_id: int, interval: int) -> None:
        while not self.stop_event.wait(interval):
            self._record(storage, trial_id)

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(5)


@dataclass(frozen=True)
class Dominance:
    """``pruner: dominated`` of a multi-objective study: from epoch ``warmup`` on, every ``interval`` epochs, a
    trial dominated by a completed trial at the same epoch stops (:func:`automl.engines.pareto.dominator`), once
    ``min_trials`` completed trials reached that epoch."""

    objectives: tuple[tuple[str, str], ...]
    warmup: int = 1
    interval: int = 1
    min_trials: int = 1

    def judge(self, study: optuna.Study, epoch: int, row: list[float | None]) -> str | None:
        if epoch < self.warmup or (epoch - self.warmup) % self.interval:
            return None
        done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))  # afresh: workers add theirs
        others = [(t.number, t.user_attrs.get(EPOCH_OBJECTIVES) or []) for t in done
                  if t.user_attrs.get(FEASIBLE) is not False]
        return dominator(row, others, self.objectives, epoch, min_trials=self.min_trials)


def _known(value: Any) -> float | None:
    """A value the rule can compare (JSON keeps no NaN on every storage): finite, or None."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


class OptunaTrial(EngineTrial):
    def __init__(self, trial: optuna.Trial, *, multi_objective: bool = False,
                 objectives: tuple[tuple[str, str], ...] = (), dominance: Dominance | None = None,
                 study_id: int | None = None) -> None:
        self.trial = trial
        self.number = trial.number
        self.trial_id = storage_trial_id(trial, study_id)  # the storage's id (unique across studies)
        # Optuna neither stores intermediate values nor prunes in a multi-objective study (Trial.report raises):
        # automl records each epoch's objective values itself (EPOCH_OBJECTIVES) and `pruner: dominated` reads them
        self.multi_objective = multi_objective
        self.objectives = objectives
        self.dominance = dominance
        self.known: dict[str, float] = {}  # what the trial knew before training (params_count, tflite_*)
        self.epoch_objectives: list[list[float | None]] = []
        self._trained = False  # whether the last epoch's row holds a value that training changes

    @property
    def engine_id(self) -> str:
        return str(self.trial_id)

    def tags(self) -> dict[str, Any]:
        retried = self.trial.storage.get_trial_system_attrs(self.trial_id).get(RETRIED)
        return {**super().tags(), **({"automl.retry_of": retried} if retried is not None else {})}

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        return self.trial.suggest_int(name, low, high, step=step, log=log)

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None,
                      log: bool = False) -> float:
        return self.trial.suggest_float(name, low, high, step=step, log=log)

    def suggest_categorical(self, name: str, choices: list[Any]) -> Any:
        return self.trial.suggest_categorical(name, choices)

    def measured(self, values: dict[str, float]) -> None:
        self.known.update(values)

    def report(self, epoch: int, value: float, metrics: dict[str, float]) -> None:
        if not self.multi_objective:
            self.trial.report(value, epoch)
            return
        row = [_known(metrics[m]) if m in metrics else _known(self.known.get(m)) for m, _ in self.objectives]
        self._trained = any(m in metrics and row[i] is not None for i, (m, _) in enumerate(self.objectives))
        width = len(self.objectives)
        while len(self.epoch_objectives) < epoch:  # epochs are reported in order; a gap stays unknown
            self.epoch_objectives.append([None] * width)
        self.epoch_objectives[epoch:] = [row]

    def should_prune(self) -> bool:
        if not self.multi_objective:
            return self.trial.should_prune()
        if self.dominance is None or not self.epoch_objectives or not self._trained:
            return False  # a row of values known before training says nothing training could change
        epoch = len(self.epoch_objectives) - 1
        self.prune_reason = self.dominance.judge(self.trial.study, epoch, self.epoch_objectives[epoch])
        return self.prune_reason is not None


def _options(kind: Literal["sampler", "pruner"], name: str, raw: dict[str, Any]) -> Any:
    """The validated options of the sampler or pruner ``name`` (the pipeline checked them already, with file
    and key; this catches a hand-made :class:`StudySettings`)."""
    try:
        return resolve(kind, "optuna", name, raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc, msg = [str(p) for p in err["loc"]], str(err["msg"]).removeprefix("Value error, ")
        key = re.match(r"\[([\w.]+)\] ", msg)  # a validator's "[option] what must hold"
        if key:
            loc, msg = loc + key.group(1).split("."), msg[key.end():]
        raise ConfigError(msg, path=".".join([f"study.{kind}", *loc])) from None


def _nsga(name: str, opts: Any, seed: int | None) -> optuna.samplers.BaseSampler:
    crossover = {"uniform": optuna.samplers.nsgaii.UniformCrossover(opts.swapping_prob),
                 "blxalpha": optuna.samplers.nsgaii.BLXAlphaCrossover(),
                 "sbx": optuna.samplers.nsgaii.SBXCrossover(), "vsbx": optuna.samplers.nsgaii.VSBXCrossover(),
                 "undx": optuna.samplers.nsgaii.UNDXCrossover(), "spx": optuna.samplers.nsgaii.SPXCrossover()}
    common: dict[str, Any] = {
        # a hand-made StudySettings may leave it unset: the population of a 20-trial session
        "population_size": opts.population_size or max(CROSSOVERS[opts.crossover], population_for(20)),
        "crossover": crossover[opts.crossover], "crossover_prob": opts.crossover_prob,
        "swapping_prob": opts.swapping_prob, "mutation_prob": opts.mutation_prob, "seed": seed}
    if name == "nsga3":
        return optuna.samplers.NSGAIIISampler(dividing_parameter=opts.dividing_parameter, **common)
    return optuna.samplers.NSGAIISampler(**common)


# -- warm starts ---------------------------------------------------------------------------------------------
#: the best configurations of another study enqueued when its space differs (``--from-study``)
SEED_BEST = 5
#: trial attributes a copied trial keeps (its MLflow run, session and owner belong to the other study)
_COPIED = ("n_params", "fit_seconds", "epochs_trained", "best_epoch", "reason")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool) or not isinstance(a, int | float) or not isinstance(b, int | float):
        return type(a) is type(b) and bool(a == b)
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0)


def _enqueue(study: optuna.Study, configs: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
    """Enqueue each ``(params, user_attrs)`` unless a trial of the study (run or waiting) already has those
    values: a resumed study, or the second of several workers, enqueues nothing again."""
    trials = study.get_trials(deepcopy=False)
    seen = [{**t.params, **t.system_attrs.get("fixed_params", {})} for t in trials]
    for params, attrs in configs:
        if params and not any(all(k in values and _same(values[k], v) for k, v in params.items())
                              for values in seen):
            study.enqueue_trial(params, user_attrs=attrs)
            seen.append(params)


def _seed(study: optuna.Study, source: optuna.Study, space: Space) -> None:
    """Seed a new study from ``source``: its completed trials when the space (and direction) is the same, else
    its best :data:`SEED_BEST` configurations (what of them fits this space), enqueued."""
    done = source.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    origin = source.study_name
    if source.user_attrs.get(FINGERPRINT) == space.fingerprint() and source.directions == study.directions:
        study.add_trials([optuna.trial.create_trial(
            value=t.value, params=t.params, distributions=t.distributions, intermediate_values=t.intermediate_values,
            user_attrs={**{k: t.user_attrs[k] for k in _COPIED if k in t.user_attrs},
                        "automl.from_study": origin, "automl.from_trial": t.number}) for t in done])
    else:
        best = sorted(done, key=lambda t: float(t.value or 0.0),
                      reverse=source.direction == optuna.study.StudyDirection.MAXIMIZE)[:SEED_BEST]
        _enqueue(study, [({k: v for k, v in t.params.items() if k in space.params and space.params[k].tunable
                           and outside(space.params[k], v) is None},
                          {"automl.from_study": origin, "automl.from_trial": t.number}) for t in best])
    study.set_user_attr("automl.from_study", origin)


class OptunaEngine(Engine):
    name = "optuna"
    samplers = ENGINE_SAMPLERS["optuna"]

    def __init__(self, settings: StudySettings) -> None:
        super().__init__(settings)
        self.storage = prepare_storage(settings.storage)
        self.study: optuna.Study | None = None
        self._heartbeats: dict[int, _Heartbeat] = {}
        self._rdb: optuna.storages.RDBStorage | None = None
        self._id_in_storage: int | None = None

    def _rdb_storage(self) -> optuna.storages.RDBStorage:
        """The study's RDB storage, with Optuna's heartbeat settings (one engine object, one connection pool)."""
        if self._rdb is None:
            s = self.settings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                self._rdb = retrying(lambda: optuna.storages.RDBStorage(
                    self.storage, heartbeat_interval=s.heartbeat_interval,
                    grace_period=(s.grace_period or 2 * s.heartbeat_interval) if s.heartbeat_interval else None))
        return self._rdb

    def _sampler(self, offset: int) -> optuna.samplers.BaseSampler:
        s = self.settings
        name = s.sampler
        problem = missing_extra(name)
        if problem:
            raise ConfigError(problem, path="study.sampler")
        opts = _options("sampler", name, s.sampler_options)
        # a resumed study must not replay the sequence of its first session, nor a worker another's
        # (modulo 2**32, numpy's range: a worker numbered by its pid)
        seed = None if s.seed is None else (s.seed + offset + 1_000_003 * s.worker) % 2**32
        quiet = False  # warn_independent_sampling: conditional and categorical parameters are expected
        if name == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if name == "grid":
            try:
                grid = s.space.grid()
            except ValueError as exc:
                raise ConfigError(f"{exc}", path="study.sampler") from None
            return optuna.samplers.GridSampler(grid, seed=seed)
        with warnings.catch_warnings():  # `group`, `with_margin`, QMC are "experimental" but are what we need
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            if name == "qmc":
                # one scrambled sequence for every session and worker: Optuna numbers its points in the storage
                return optuna.samplers.QMCSampler(qmc_type=opts.qmc_type, scramble=opts.scramble, seed=s.seed,
                                                  warn_asynchronous_seeding=False, warn_independent_sampling=quiet)
            if name == "cmaes":
                return optuna.samplers.CmaEsSampler(
                    n_startup_trials=opts.n_startup_trials, popsize=opts.popsize, with_margin=opts.with_margin,
                    use_separable_cma=opts.use_separable_cma, lr_adapt=opts.lr_adapt,
                    consider_pruned_trials=opts.consider_pruned_trials, seed=seed, warn_independent_sampling=quiet)
            if name == "gp":
                return optuna.samplers.GPSampler(n_startup_trials=opts.n_startup_trials, seed=seed,
                                                 deterministic_objective=opts.deterministic_objective,
                                                 warn_independent_sampling=quiet)
            if name in ("nsga2", "nsga3"):
                return _nsga(name, opts, seed)
            startup = s.startup_trials if opts.n_startup_trials is None else opts.n_startup_trials
            group = opts.multivariate if opts.group is None else opts.group
            return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup, multivariate=opts.multivariate,
                                              group=group)

    def _pruner(self) -> optuna.pruners.BasePruner:
        s = self.settings
        opts = _options("pruner", s.pruner, s.pruner_options)
        warmup = getattr(opts, "warmup_epochs", None)
        warmup = s.warmup_epochs if warmup is None else warmup
        if s.pruner == "median":
            return optuna.pruners.MedianPruner(n_startup_trials=opts.n_startup_trials, n_warmup_steps=warmup,
                                               interval_steps=opts.interval_epochs, n_min_trials=opts.n_min_trials)
        if s.pruner == "percentile":
            return optuna.pruners.PercentilePruner(opts.percentile, n_startup_trials=opts.n_startup_trials,
                                                   n_warmup_steps=warmup, interval_steps=opts.interval_epochs,
                                                   n_min_trials=opts.n_min_trials)
        if s.pruner == "successive_halving":
            return optuna.pruners.SuccessiveHalvingPruner(
                min_resource="auto" if opts.min_resource is None else opts.min_resource,
                reduction_factor=opts.reduction_factor, min_early_stopping_rate=opts.min_early_stopping_rate,
                bootstrap_count=opts.bootstrap_count)
        if s.pruner == "hyperband":
            return optuna.pruners.HyperbandPruner(
                min_resource=opts.min_resource, max_resource=opts.max_resource or s.max_epochs,
                reduction_factor=opts.reduction_factor, bootstrap_count=opts.bootstrap_count)
        if s.pruner == "patient":
            with warnings.catch_warnings():  # "experimental" since Optuna 2.8
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.pruners.PatientPruner(None, patience=opts.patience, min_delta=opts.min_delta)
        if s.pruner == "threshold":
            return optuna.pruners.ThresholdPruner(lower=opts.lower, upper=opts.upper, n_warmup_steps=warmup,
                                                  interval_steps=opts.interval_epochs)
        return optuna.pruners.NopPruner()

    def _dominance(self) -> Dominance | None:
        """The rule of ``pruner: dominated`` (a multi-objective study's own early stop), or None."""
        s = self.settings
        if s.pruner != "dominated" or not s.multi_objective:
            return None
        opts = _options("pruner", s.pruner, s.pruner_options)
        warmup = s.warmup_epochs if opts.warmup_epochs is None else opts.warmup_epochs
        return Dominance(objectives=s.objectives, warmup=warmup,
                         interval=opts.interval_epochs, min_trials=opts.min_trials)

    def exists(self) -> bool:
        return self.settings.name in optuna.get_all_study_names(self.storage)

    def delete(self) -> None:
        if self.exists():
            optuna.delete_study(study_name=self.settings.name, storage=self.storage)

    def open(self, *, new: bool = False, continue_space: bool = False) -> None:
        s = self.settings
        self.space_changes = []
        enqueue = check_enqueue(s.space, s.enqueue)
        source = None
        with store_lock(self.storage):  # two processes opening one new study: one makes it, one loads it
            if new:
                self.delete()
            check_other_engines(self, new=new)
            fingerprint = s.space.fingerprint()
            if self.exists():
                stored = optuna.load_study(study_name=s.name, storage=self._rdb_storage())
                attrs = stored.user_attrs
                if attrs.get(ENGINE_ATTR, self.name) != self.name:
                    raise StudyError(f"study '{s.name}' was made by engine '{attrs.get(ENGINE_ATTR)}', not "
                                     f"'{self.name}': {rename_or_new(s.name)}")
                if attrs.get(FINGERPRINT) not in (None, fingerprint):
                    changes, blocking = space_changes(attrs.get(SPACE_SPEC), s.space)
                    builder = s.space.builder_change(attrs.get(BUILDERS_ATTR))
                    if not continue_space or not continuable(changes, blocking, builder):
                        raise StudyError(space_refusal(s.name, changes, blocking, builder))
                    self.space_changes = changes
                stored_dirs = [d.name.lower() for d in stored.directions]
                if stored_dirs != self.directions:
                    def said(dirs: list[str]) -> str:
                        return f"direction {dirs[0]}" if len(dirs) == 1 else f"directions [{', '.join(dirs)}]"
                    raise StudyError(f"study '{s.name}' exists with {said(stored_dirs)}, got {said(self.directions)}: "
                                     f"{rename_or_new(s.name)}")
                offset = len(stored.trials)
            else:
                offset = 0
                source = self._source() if s.from_study else None
            self.study = optuna.create_study(study_name=s.name, storage=self._rdb_storage(), directions=self.directions,  # type: ignore[arg-type]
                                             sampler=self._sampler(offset), pruner=self._pruner(), load_if_exists=True)
            self._id_in_storage = self._rdb_storage().get_study_id_from_name(s.name)
            history = self.study.user_attrs.get(SPACES_ATTR) or [
                {"fingerprint": self.study.user_attrs.get(FINGERPRINT, fingerprint), "from_trial": 0, "changes": []}]
            if self.space_changes:  # which trials ran under which space, for a later reader
                history = [*history, {"fingerprint": fingerprint, "from_trial": offset, "changes": self.space_changes}]
            self.study.set_user_attr(SPACES_ATTR, history)
            self.study.set_user_attr(FINGERPRINT, fingerprint)
            self.study.set_user_attr(ENGINE_ATTR, self.name)
            self.study.set_user_attr(SPACE_SPEC, s.space.describe())
            if s.space.builders:  # which builder file (by SHA-256) the study's models come from
                self.study.set_user_attr(BUILDERS_ATTR, s.space.builder_digests())
            if source is not None:
                _seed(self.study, source, s.space)
            _enqueue(self.study, [(c, {"automl.enqueued": i}) for i, c in enumerate(enqueue)])
        self.healed = self.fail_dead()

    def _source(self) -> optuna.Study:
        """The study named by ``from_study``, which seeds this new one."""
        s = self.settings
        names = optuna.get_all_study_names(self.storage)
        if s.from_study == s.name:
            raise StudyError(f"--from-study names this study ('{s.name}'): name another study")
        if s.from_study not in names:
            raise StudyError(f"--from-study: {one_of(str(s.from_study), names, 'study')} in {redact(self.storage)}")
        source = optuna.load_study(study_name=str(s.from_study), storage=self.storage)
        if len(source.directions) > 1:
            raise StudyError(f"--from-study: study '{s.from_study}' is multi-objective; seed a single-objective "
                             "study from a single-objective one")
        return source

    @property
    def directions(self) -> list[str]:
        """One direction per objective."""
        return self.settings.directions

    def _study(self) -> optuna.Study:
        if self.study is None:
            raise StudyError("the study is not open: call open() first")
        return self.study

    def _ids(self) -> tuple[optuna.storages.RDBStorage, int]:
        """The storage the open study lives in (the one it was made with: Optuna reads and writes through it)
        and the study's id in it."""
        self._study()
        assert self._id_in_storage is not None
        return self._rdb_storage(), self._id_in_storage

    def ask(self) -> OptunaTrial | None:
        study = self._study()
        sampler = study.sampler
        if isinstance(sampler, optuna.samplers.GridSampler) and sampler.is_exhausted(study):
            return None
        with warnings.catch_warnings():  # "heartbeat ... supposed to be used with Study.optimize": automl beats
            warnings.simplefilter("ignore", UserWarning)
            trial = study.ask()
        trial.set_user_attr(OWNER, str(this_process()))  # whoever finds it RUNNING later can tell if we died
        storage, study_id = self._ids()
        asked = OptunaTrial(trial, multi_objective=self.settings.multi_objective, dominance=self._dominance(),
                            objectives=self.settings.objectives, study_id=study_id)
        if self.settings.heartbeat_interval:
            self._heartbeats[asked.number] = _Heartbeat(storage, asked.trial_id, self.settings.heartbeat_interval)
        return asked

    def reserve(self, budget: int) -> OptunaTrial | None:
        study = self._study()
        with database_lock(self.storage, self.settings.name):  # no other process counts or asks meanwhile
            if counted(study.get_trials(deepcopy=False)).counted >= budget:
                return None
            return self.ask()

    def count(self) -> BudgetCount:
        return counted(self._study().get_trials(deepcopy=False))

    def study_attrs(self) -> dict[str, Any]:
        storage, study_id = self._ids()
        return dict(storage.get_study_user_attrs(study_id))  # afresh: other hosts write them

    def set_study_attr(self, key: str, value: Any) -> None:
        self._study().set_user_attr(key, value)

    def mark(self, trial: EngineTrial, attrs: dict[str, Any]) -> None:
        assert isinstance(trial, OptunaTrial)
        for key, val in attrs.items():
            trial.trial.set_user_attr(key, val)

    def tell(self, trial: EngineTrial, state: State, value: float | list[float] | None, attrs: dict[str, Any],
             constraints: dict[str, float] | None = None) -> None:
        assert isinstance(trial, OptunaTrial)
        beat = self._heartbeats.pop(trial.number, None)
        if beat is not None:
            beat.stop()
        for key, val in attrs.items():
            trial.trial.set_user_attr(key, val)
        if trial.epoch_objectives:  # what `pruner: dominated` compares later trials with, in every storage
            trial.trial.set_user_attr(EPOCH_OBJECTIVES, trial.epoch_objectives)
        # Optuna 5's way to constraints: the samplers that support them (tpe, nsga2, nsga3, gp) read the trial's
        # constraint values (<= 0: met); a PRUNED trial's count too (TPE ranks it with the infeasible ones)
        for key, violation in (constraints or {}).items():
            trial.trial.set_constraint(key, violation)
        study = self._study()
        try:
            if state == State.COMPLETE:
                study.tell(trial.trial, value)
            else:
                study.tell(trial.trial, state=_TELL[state])
        except RuntimeError as exc:
            # GridSampler calls study.stop() once the grid is used up, which only works inside optimize();
            # the trial is stored before that (optuna's tell saves it in a finally), and ask() sees the end.
            if not isinstance(study.sampler, optuna.samplers.GridSampler) or "Study.stop" not in str(exc):
                raise

    def fail_dead(self, reason: str | None = None) -> list[tuple[int, str]]:
        study = self._study()
        failed = self._fail_stale(study)
        now = datetime.now()
        local = self.storage.startswith("sqlite:")
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            owner = t.user_attrs.get(OWNER)
            gone = dead(owner)
            if gone is not None:
                why = reason or gone.died()
            elif owner is None and local and t.datetime_start is not None \
                    and (now - t.datetime_start).total_seconds() > ORPHAN_SECONDS:
                # asked, then killed before it recorded its owner (or an earlier release's trial): a live
                # process records its owner within milliseconds of asking
                why = reason or "its process died before recording itself (no owner after "\
                                f"{ORPHAN_SECONDS} s)"
            else:
                continue
            storage, study_id = self._ids()
            trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, t.number)
            try:
                storage.set_trial_user_attr(trial_id, "fail_reason", why)
                study.tell(t.number, state=TrialState.FAIL)
            except (RuntimeError, ValueError):  # it ended meanwhile: nothing to heal
                continue
            failed.append((t.number, why))
            if self.settings.budget is not None and reason is None:  # its process died: another one retries it
                _retry(study, storage.get_trial(trial_id))
        return failed

    def _fail_stale(self, study: optuna.Study) -> list[tuple[int, str]]:
        """Trials whose heartbeat stopped for the grace period (their process or host died), failed through
        Optuna's ``fail_stale_trials``; on any host, which the owner check cannot judge."""
        if not self.settings.heartbeat_interval:
            return []
        storage, study_id = self._ids()
        grace = self.settings.grace_period or 2 * self.settings.heartbeat_interval
        why = f"{HEARTBEAT_STOPPED} for {grace} s (its process or its host died)"
        failed = []
        # what optuna.storages.fail_stale_trials fails, with automl's reason recorded first (a finished trial
        # takes no more attributes)
        for trial_id in stale_trial_ids(storage, study_id):
            try:
                storage.set_trial_user_attr(trial_id, "fail_reason", why)
                if storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
                    frozen = storage.get_trial(trial_id)
                    failed.append((frozen.number, why))
                    if self.settings.budget is not None:  # its process or host died: another one retries it
                        _retry(study, frozen)
            except optuna.exceptions.UpdateFinishedTrialError:  # another process failed it first
                continue
        return failed

    def trials(self) -> list[TrialRecord]:
        multi = self.settings.multi_objective
        return [
            TrialRecord(number=t.number, state=_STATE[t.state],
                        value=t.values[0] if t.values else None, params=dict(t.params), attrs=dict(t.user_attrs),
                        values=list(t.values) if multi and t.values else None)
            for t in self._study().get_trials(deepcopy=False)
        ]


def list_studies(storage: str) -> list[dict[str, Any]]:
    out = []
    storage = prepare_storage(storage)
    for summary in optuna.get_all_study_summaries(storage):
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        trials = study.get_trials(deepcopy=False)
        states = [t.state for t in trials]
        best = summary.best_trial if len(summary.directions) == 1 else None  # a front has no one best value
        out.append({
            "name": summary.study_name,
            "direction": ", ".join(d.name.lower() for d in summary.directions),
            "trials": len(trials),
            "complete": states.count(TrialState.COMPLETE),
            "pruned": states.count(TrialState.PRUNED),
            "failed": states.count(TrialState.FAIL),
            "best_value": best.value if best else None,
            "best_trial": best.number if best else None,
            "engine": summary.user_attrs.get(ENGINE_ATTR, "optuna"),
        })
    return out


ENGINE = OptunaEngine
