"""The keras-tuner engine: RandomSearch, BayesianOptimization, Hyperband and GridSearch oracles.

No keras-tuner ``Tuner`` runs here. automl's own trial runner trains every model, exactly as under Optuna;
the oracle is driven through its API (``create_trial`` / ``update_trial`` / ``end_trial``) and only proposes
values and keeps score. Its state lives in ``mlruns/keras_tuner/<name>/`` next to the Optuna storage
(see :mod:`automl.engines._kt_store`), so re-running a pipeline resumes the study and ``--new`` starts afresh.

Under Hyperband the oracle gives each trial its epoch budget (``tuner/epochs``; ``train.epochs`` is
``max_epochs``); a promoted configuration trains again from scratch for its larger budget, so a trial
stays plain data in, plain data out. Its bracket and round become tags of the trial's MLflow run.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import keras_tuner as kt
import numpy as np
from keras_tuner.engine.trial import TrialStatus
from threadpoolctl import threadpool_limits

from automl.engines import _kt_store as store
from automl.engines._kt_private import restore_grid_walk, set_project_dir
from automl.engines._kt_space import Codec, to_hyperparameters
from automl.engines.base import (
    Engine,
    EngineTrial,
    StudySettings,
    TrialRecord,
    continuable,
    rename_or_new,
    space_refusal,
)
from automl.engines.registry import check_other_engines
from automl.errors import ConfigError, StudyError
from automl.space.space import space_changes
from automl.states import TrialState

OBJECTIVE = "objective"  # the study's metric, as keras-tuner records it for every epoch
TUNER_ID = "automl"
LEFTOVER = "the process ended while this trial ran"
#: keras-tuner's status of a trial (asked, not told yet: automl's record says what it was told) -> automl's state
_STATE = {TrialStatus.RUNNING: TrialState.RUNNING, TrialStatus.COMPLETED: TrialState.COMPLETE,
          TrialStatus.FAILED: TrialState.FAIL, TrialStatus.INVALID: TrialState.FAIL}
# `pruner: median` means what it means under the optuna engine (its MedianPruner settings)
_MEDIAN_STARTUP = 5


def _kt_seed(seed: int | None) -> int | None:
    """keras-tuner reads seed 0 as "no seed" (``seed or random.randint(...)``): map seeds into 1..2**31-1."""
    return None if seed is None else seed % (2**31 - 1) + 1


def _hyperband(values: dict[str, Any]) -> dict[str, Any]:
    """Hyperband's bracket, round, epoch budget and (for a promoted trial) the trial it continues."""
    if "tuner/bracket" not in values:
        return {}
    info = {"bracket": int(values["tuner/bracket"]), "round": int(values["tuner/round"]),
            "epochs_budget": int(values["tuner/epochs"])}
    if "tuner/trial_id" in values:
        info["promoted_from"] = int(values["tuner/trial_id"])
    return info


class KerasTunerTrial(EngineTrial):
    """A keras-tuner ``Trial`` whose values were drawn by the oracle; the space reads them back by name."""

    def __init__(self, engine: KerasTunerEngine, trial: Any) -> None:
        self.engine, self.trial = engine, trial
        self.number = int(trial.trial_id)
        self.values: dict[str, Any] = trial.hyperparameters.values
        self.hyperband = _hyperband(self.values)
        self.epochs = self.hyperband.get("epochs_budget")
        self.history: list[tuple[int, float]] = []

    @property
    def engine_id(self) -> str:
        return str(self.trial.trial_id)

    def tags(self) -> dict[str, Any]:
        return {**super().tags(), **{f"automl.{k}": v for k, v in self.hyperband.items()}}

    def _value(self, name: str) -> Any:
        if name not in self.values:
            raise StudyError(f"trial {self.number}: keras-tuner holds no value for the active parameter '{name}'")
        return self.engine.codecs[name].decode(self.values[name])

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        return int(self._value(name))

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None,
                      log: bool = False) -> float:
        return float(self._value(name))

    def suggest_categorical(self, name: str, choices: list[Any]) -> Any:
        return self._value(name)

    def report(self, epoch: int, value: float, metrics: dict[str, float]) -> None:
        self.history.append((epoch, value))
        if math.isfinite(value):
            self.engine.require_oracle().update_trial(self.trial.trial_id, {OBJECTIVE: value}, step=epoch)

    def should_prune(self) -> bool:
        return self.engine.median_prunes(self)


class KerasTunerEngine(Engine):
    name = "keras_tuner"
    samplers = ("random", "bayesian", "hyperband", "grid")

    def __init__(self, settings: StudySettings) -> None:
        super().__init__(settings)
        self.state = store.StudyState(settings.storage, settings.name)
        self.dir = self.state.dir
        self.oracle: Any = None
        self.codecs: dict[str, Codec] = {}
        self.records: dict[str, dict[str, Any]] = {}  # keras-tuner trial id -> what automl was told

    @property
    def study(self) -> Any:
        """The keras-tuner oracle (what ``TuneResult.study`` holds for this engine)."""
        return self.oracle

    def require_oracle(self) -> Any:
        if self.oracle is None:
            raise StudyError("the study is not open: call open() first")
        return self.oracle

    def exists(self) -> bool:
        return self.state.exists()

    def delete(self) -> None:
        self.state.delete()

    # -- opening ----------------------------------------------------------------------------------
    def _meta(self) -> dict[str, Any]:
        s = self.settings
        return {"engine": self.name, "sampler": s.sampler, "fingerprint": s.space.fingerprint(),
                "direction": s.direction, "epochs": s.epochs, "space": s.space.describe(),
                **({"builders": s.space.builder_digests()} if s.space.builders else {})}

    def _check_stored(self, meta: dict[str, Any] | None, *, continue_space: bool = False) -> None:
        s = self.settings
        fix = rename_or_new(s.name)
        if meta is None:
            raise StudyError(f"{self.dir} holds a keras-tuner project that automl did not make: {fix}")
        if meta["fingerprint"] != s.space.fingerprint():
            changes, blocking = space_changes(meta.get("space"), s.space)
            builder = s.space.builder_change(meta.get("builders"))
            if continue_space or continuable(changes, blocking, builder):
                # a keras-tuner oracle keeps the hyperparameters it was made with
                raise StudyError(f"study '{s.name}' exists with a different search space ({'; '.join(changes[:4])}), "
                                 "and a keras-tuner study cannot go on under another one (--continue needs engine "
                                 f"optuna): {fix}")
            raise StudyError(space_refusal(s.name, changes, blocking, builder))
        if meta["direction"] != s.direction:
            raise StudyError(f"study '{s.name}' exists with direction {meta['direction']}, got {s.direction}: {fix}")
        if meta["sampler"] != s.sampler:
            raise StudyError(f"study '{s.name}' exists with keras_tuner sampler '{meta['sampler']}', got "
                             f"'{s.sampler}' (a keras-tuner study keeps one oracle): {fix}")
        if s.sampler == "hyperband" and meta["epochs"] != s.epochs:
            raise StudyError(f"study '{s.name}' exists with train.epochs={meta['epochs']} (Hyperband's max_epochs), "
                             f"got {s.epochs}: {fix}")

    def _make_oracle(self, hps: Any) -> Any:
        s = self.settings
        common: dict[str, Any] = {
            "objective": kt.Objective(OBJECTIVE, "max" if s.direction == "maximize" else "min"),
            "hyperparameters": hps, "seed": _kt_seed(s.seed), "max_retries_per_trial": 0,
            # automl records every failed trial (FAIL + reason) and the study goes on: no silent stop
            "max_consecutive_failed_trials": None,
        }
        if s.sampler == "random":
            return kt.oracles.RandomSearchOracle(max_trials=None, **common)
        if s.sampler == "bayesian":
            # the same random warm-up as the optuna engine's TPE (keras-tuner's default is 3 x dimensions)
            return kt.oracles.BayesianOptimizationOracle(max_trials=None, num_initial_points=s.startup_trials,
                                                         **common)
        if s.sampler == "hyperband":
            # study.trials caps the trials, so Hyperband iterates until then
            return kt.oracles.HyperbandOracle(max_epochs=s.max_epochs, factor=3, hyperband_iterations=None, **common)
        if s.sampler == "grid":
            return kt.oracles.GridSearchOracle(max_trials=None, **common)
        raise ConfigError(f"unknown keras_tuner sampler '{s.sampler}'", path="study.sampler")

    def open(self, *, new: bool = False, continue_space: bool = False) -> None:
        s = self.settings
        if self.state.foreign():  # never deleted, not even with --new: automl did not make it
            raise StudyError(f"{self.dir} holds files automl did not make (no {store.STUDY_FILE}): move them, "
                             "or use --name NEW_NAME")
        if new:
            self.delete()
        check_other_engines(self, new=new)
        try:
            hps, self.codecs = to_hyperparameters(s.space, grid=s.sampler == "grid")
        except ValueError as exc:
            raise ConfigError(str(exc), path="study.sampler") from None
        stored = self.exists() and (self.dir / "oracle.json").is_file()  # a kill may come between the two
        if stored:
            self._check_stored(store.read_json(self.dir / store.STUDY_FILE), continue_space=continue_space)
        oracle = self._make_oracle(hps)
        oracle.verbose = 0
        if not stored:  # the marker first: a kill right after leaves a folder automl can tell is its own
            store.write_json(self.dir / store.STUDY_FILE, self._meta())
        # what a keras-tuner Tuner does on construction; automl runs trials itself and drives the oracle
        set_project_dir(oracle, str(self.dir.parent), self.dir.name)
        self.oracle = oracle
        if stored:
            oracle.reload()
            self.records = store.read_records(self.dir)
            restore_grid_walk(oracle)  # keras-tuner's GridSearchOracle leaves it out of its saved state
            self._fail_leftovers()
        else:
            self.records = {}
            oracle.save()

    def _fail_leftovers(self) -> None:
        """A process killed mid-trial leaves it "ongoing"; reload() queues it for a retry. automl never re-runs
        a trial (resuming adds new ones, as with Optuna): empty the queue (the oracle's state, through the public
        ``get_state`` / ``set_state``) and record each of its trials FAIL instead."""
        oracle = self.require_oracle()
        while True:  # one at a time: each save keeps the rest queued, so a kill meanwhile loses none
            state = oracle.get_state()
            queue: list[str] = state["retry_queue"]
            if not queue:
                return
            state["retry_queue"] = queue[:-1]
            oracle.set_state(state)
            trial = oracle.trials[queue[-1]]
            trial.status, trial.message = TrialStatus.FAILED, LEFTOVER
            self._end(trial)
            self._record(trial, TrialState.FAIL, None, {"fail_reason": LEFTOVER})

    # -- ask / tell -------------------------------------------------------------------------------
    def ask(self) -> KerasTunerTrial | None:
        # The Bayesian oracle's Gaussian process works on tiny matrices: more BLAS threads only contend with each
        # other and with TensorFlow's pools (one thread: proposals ~4x faster after training, on 2 cores).
        with warnings.catch_warnings(), threadpool_limits(limits=1):
            warnings.filterwarnings("ignore", module="sklearn")  # length-scale warnings of the Gaussian process
            trial = self.require_oracle().create_trial(TUNER_ID)
        if trial.status != TrialStatus.RUNNING:  # STOPPED: the grid is used up, or no unseen random values are left
            return None
        return KerasTunerTrial(self, trial)

    def tell(self, trial: EngineTrial, state: TrialState, value: float | list[float] | None, attrs: dict[str, Any],
             constraints: dict[str, float] | None = None) -> None:
        # the pipeline refuses objectives and constraints for this engine: one value, no constraints
        assert isinstance(trial, KerasTunerTrial) and not isinstance(value, list)
        oracle = self.require_oracle()
        kt_trial = trial.trial
        scored = state in (TrialState.COMPLETE, TrialState.PRUNED) and value is not None and math.isfinite(value)
        if scored and not kt_trial.metrics.exists(OBJECTIVE):
            oracle.update_trial(kt_trial.trial_id, {OBJECTIVE: value}, step=0)
        # a pruned trial ends COMPLETED in keras-tuner, like a trial a Keras EarlyStopping ended: the oracle
        # learns from its best epoch; automl's own record says PRUNED
        kt_trial.status = TrialStatus.COMPLETED if scored else TrialStatus.FAILED
        kt_trial.message = attrs.get("fail_reason") or attrs.get("reason")
        self._end(kt_trial)
        self._record(kt_trial, state, value, attrs)

    def _end(self, kt_trial: Any) -> None:
        oracle = self.require_oracle()
        oracle.end_trial(kt_trial)
        # end_trial saves the oracle before it drops the trial from the ongoing ones: save again, or a reload
        # would take the last trial of a session for one the process died in
        oracle.save()

    def _record(self, kt_trial: Any, state: TrialState, value: float | None, attrs: dict[str, Any]) -> None:
        record = {"number": int(kt_trial.trial_id), "state": state, "value": value,
                  "params": self._params(kt_trial.hyperparameters.values), "attrs": attrs}
        store.write_json(store.trial_dir(self.dir, kt_trial.trial_id) / store.TRIAL_FILE, record)
        self.records[kt_trial.trial_id] = record

    def _params(self, values: dict[str, Any]) -> dict[str, Any]:
        """The tunable parameters of a trial, decoded (what Optuna's ``trial.params`` holds)."""
        space = self.settings.space.params
        return {k: self.codecs[k].decode(v) for k, v in values.items() if k in space and space[k].tunable}

    def trials(self) -> list[TrialRecord]:
        oracle = self.require_oracle()
        out = []
        for tid in sorted(oracle.trials, key=int):
            kt_trial = oracle.trials[tid]
            extra = {"engine_trial_id": tid, **_hyperband(kt_trial.hyperparameters.values)}
            rec = self.records.get(tid)
            if rec is None:  # asked, not told yet
                out.append(TrialRecord(number=int(tid), state=_STATE[kt_trial.status],
                                       value=None, params=self._params(kt_trial.hyperparameters.values),
                                       attrs=extra))
            else:
                out.append(TrialRecord(number=rec["number"], state=TrialState(rec["state"]), value=rec["value"],
                                       params=dict(rec["params"]), attrs={**rec["attrs"], **extra}))
        return out

    # -- pruning ----------------------------------------------------------------------------------
    def median_prunes(self, trial: KerasTunerTrial) -> bool:
        """Optuna's MedianPruner rule on keras-tuner's per-epoch records: stop a trial whose best value so far
        is worse than the median of the completed trials at the same epoch. Hyperband stops trials itself."""
        s = self.settings
        if s.pruner != "median" or s.sampler == "hyperband" or not trial.history:
            return False
        oracle = self.require_oracle()
        complete = [oracle.trials[tid] for tid, r in self.records.items() if r["state"] == TrialState.COMPLETE]
        step = trial.history[-1][0]
        if len(complete) < _MEDIAN_STARTUP or step < s.warmup_epochs:
            return False
        finite = [v for _, v in trial.history if math.isfinite(v)]
        if not finite:
            return True
        maximize = s.direction == "maximize"
        best = max(finite) if maximize else min(finite)
        others = [v for v in (_value_at(t, step) for t in complete) if v is not None]
        if not others:
            return False
        median = float(np.median(others))
        return best < median if maximize else best > median


def _value_at(kt_trial: Any, step: int) -> float | None:
    if not kt_trial.metrics.exists(OBJECTIVE):
        return None
    for obs in kt_trial.metrics.get_history(OBJECTIVE):
        if obs.step == step:
            return float(obs.mean())
    return None


ENGINE = KerasTunerEngine
