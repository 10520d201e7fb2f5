"""The seams to Optuna and keras-tuner: every private name automl reaches, exercised against the installed
release, and nowhere else in automl.

automl reaches past a library's public API only in ``automl/engines/_optuna_private.py`` and
``automl/engines/_kt_private.py``; each function there has a test here named after it, so a release that
renames what it reaches fails that test by name (docs/engines.md, "Testing a newer release"). The public
routes that replaced private ones (storage ids, a reloaded oracle's retry queue) are pinned here too.
"""

from __future__ import annotations

import re
import sqlite3
import warnings
from pathlib import Path

import keras_tuner as kt
import optuna

from automl.engines import _kt_private, _optuna_private
from automl.engines._kt_private import Parent, restore_grid_walk, set_project_dir
from automl.engines._optuna_private import stale_trial_ids
from automl.engines.optuna import storage_trial_id

PACKAGE = Path(__file__).resolve().parents[2] / "automl"
SEAMS = {PACKAGE / "engines" / "_optuna_private.py", PACKAGE / "engines" / "_kt_private.py"}
#: private names automl once reached and now reaches through public API (they must not come back)
REPLACED = ("_storage", "_study_id", "_trial_id", "_retry_queue")
#: a private module of the libraries (``optuna.storages._heartbeat``, ``keras_tuner.src...``)
PRIVATE_MODULE = re.compile(r"\b(?:optuna|optuna_integration|keras_tuner)(?:\.\w+)*\.(?:_\w+|src)\b")


# -- Optuna -------------------------------------------------------------------------------------------------
def _heartbeat_storage(tmp_path: Path) -> tuple[optuna.storages.RDBStorage, str]:
    path = tmp_path / "optuna.db"
    with warnings.catch_warnings():  # heartbeat_interval is "experimental" since Optuna 2.9
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(f"sqlite:///{path}", heartbeat_interval=1, grace_period=1), str(path)


def test_stale_trial_ids_lists_the_running_trials_whose_heartbeat_stopped(tmp_path: Path) -> None:
    storage, path = _heartbeat_storage(tmp_path)
    study = optuna.create_study(study_name="s", storage=storage)
    study_id = storage.get_study_id_from_name("s")
    silent, beating = (storage_trial_id(study.ask(), study_id) for _ in range(2))
    storage.record_heartbeat(silent)
    storage.record_heartbeat(beating)
    with sqlite3.connect(path) as db:  # a beat long ago: its process died (no sleeping through a grace period)
        db.execute("UPDATE trial_heartbeats SET heartbeat = '2000-01-01 00:00:00' WHERE trial_id = ?", (silent,))
    assert stale_trial_ids(storage, study_id) == [silent]


def test_stale_trial_ids_leaves_out_a_trial_that_never_beat_or_has_finished(tmp_path: Path) -> None:
    storage, path = _heartbeat_storage(tmp_path)
    study = optuna.create_study(study_name="s", storage=storage)
    study_id = storage.get_study_id_from_name("s")
    study.ask()  # no beat yet: Optuna never judges it
    done = study.ask()
    storage.record_heartbeat(storage_trial_id(done, study_id))
    study.tell(done, 1.0)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE trial_heartbeats SET heartbeat = '2000-01-01 00:00:00'")
    assert stale_trial_ids(storage, study_id) == []


def test_a_trials_storage_id_comes_from_the_public_storage_api(tmp_path: Path) -> None:
    storage, _ = _heartbeat_storage(tmp_path)
    first = optuna.create_study(study_name="a", storage=storage)
    second = optuna.create_study(study_name="b", storage=storage)
    ids = [storage_trial_id(study.ask()) for study in (first, second, first)]
    assert len(set(ids)) == 3  # unique across the storage's studies, as ``automl.engine_trial_id`` needs
    assert [storage.get_trial(i).number for i in ids] == [0, 0, 1]
    assert storage_trial_id(first.ask(), storage.get_study_id_from_name("a")) == max(ids) + 1


# -- keras-tuner --------------------------------------------------------------------------------------------
def _oracle(kind: type, values: list[int]) -> kt.Oracle:
    hps = kt.HyperParameters()
    hps.Choice("units", values)
    oracle = kind(objective=kt.Objective("objective", "max"), hyperparameters=hps, max_trials=None, seed=1,
                  max_retries_per_trial=0, max_consecutive_failed_trials=None)
    oracle.verbose = 0
    return oracle


def _finish(oracle: kt.Oracle, trial: kt.engine.trial.Trial, value: float) -> None:
    oracle.update_trial(trial.trial_id, {"objective": value}, step=0)
    trial.status = "COMPLETED"
    oracle.end_trial(trial)
    oracle.save()


def test_set_project_dir_is_where_the_oracle_saves_and_reloads(tmp_path: Path) -> None:
    oracle = _oracle(kt.oracles.RandomSearchOracle, [4, 8, 16])
    set_project_dir(oracle, str(tmp_path), "study")
    _finish(oracle, oracle.create_trial("automl"), 0.5)
    assert (tmp_path / "study" / "oracle.json").is_file()
    again = _oracle(kt.oracles.RandomSearchOracle, [4, 8, 16])
    set_project_dir(again, str(tmp_path), "study")
    again.reload()
    assert list(again.trials) == list(oracle.trials)


def test_restore_grid_walk_lets_a_reloaded_grid_go_on_where_it_stopped(tmp_path: Path) -> None:
    oracle = _oracle(kt.oracles.GridSearchOracle, [4, 8, 16])
    set_project_dir(oracle, str(tmp_path), "grid")
    _finish(oracle, oracle.create_trial("automl"), 0.5)
    again = _oracle(kt.oracles.GridSearchOracle, [4, 8, 16])
    set_project_dir(again, str(tmp_path), "grid")
    again.reload()
    restore_grid_walk(again)
    seen = [t.hyperparameters.values["units"] for t in oracle.trials.values()]
    for _ in range(2):
        trial = again.create_trial("automl")
        assert trial.status == "RUNNING"
        seen.append(trial.hyperparameters.values["units"])
        _finish(again, trial, 0.5)
    assert sorted(seen) == [4, 8, 16]  # every combination once
    assert again.create_trial("automl").status == "STOPPED"


def test_restore_grid_walk_leaves_other_oracles_alone() -> None:
    oracle = _oracle(kt.oracles.RandomSearchOracle, [4, 8])
    restore_grid_walk(oracle)
    assert oracle.get_state()["start_order"] == []


def test_parent_is_the_condition_a_conditional_scope_makes() -> None:
    hps = kt.HyperParameters()
    hps.Choice("optimizer", ["sgd", "adam"])
    with hps.conditional_scope("optimizer", ["sgd"]):
        momentum = hps.Float("momentum", 0.0, 0.9)
    [condition] = next(hp for hp in hps.space if hp.name == "momentum").conditions
    assert isinstance(condition, Parent) and (condition.name, condition.values) == ("optimizer", ["sgd"])
    assert momentum == 0.0


def test_a_reloaded_oracle_queues_its_unfinished_trial_in_its_public_state(tmp_path: Path) -> None:
    """What ``KerasTunerEngine._fail_leftovers`` reads and empties through ``get_state`` / ``set_state``."""
    oracle = _oracle(kt.oracles.RandomSearchOracle, [4, 8, 16, 32])
    set_project_dir(oracle, str(tmp_path), "study")
    died = oracle.create_trial("automl")  # never ended: its process "died"
    oracle.save()
    again = _oracle(kt.oracles.RandomSearchOracle, [4, 8, 16, 32])
    set_project_dir(again, str(tmp_path), "study")
    again.reload()
    state = again.get_state()
    assert state["retry_queue"] == [died.trial_id]
    state["retry_queue"] = []
    again.set_state(state)
    assert again.create_trial("automl").trial_id != died.trial_id  # not run again


# -- nowhere else -------------------------------------------------------------------------------------------
def test_no_module_of_automl_but_the_seams_reaches_a_private_name_of_optuna_or_keras_tuner() -> None:
    names = {*_optuna_private.PRIVATE, *_kt_private.PRIVATE, *REPLACED} - {"keras_tuner.src"}
    attribute = re.compile(r"\.(" + "|".join(sorted(names)) + r")\b")
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path in SEAMS:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for hit in [*attribute.findall(line), *PRIVATE_MODULE.findall(line)]:
                found.append(f"{path.relative_to(PACKAGE.parent)}:{number}: {hit}")
    assert found == []


def test_the_check_above_finds_what_it_looks_for() -> None:
    assert PRIVATE_MODULE.search("from keras_tuner.src.engine.conditions import Parent")
    assert PRIVATE_MODULE.search("from optuna.storages._heartbeat import BaseHeartbeat")
    assert not PRIVATE_MODULE.search("from optuna.trial import TrialState")
