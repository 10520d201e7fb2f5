"""Where a keras-tuner study lives and what automl writes beside keras-tuner's own files.

``mlruns/keras_tuner/<name>/`` (next to the Optuna storage ``mlruns/optuna.db``) holds keras-tuner's
``oracle.json`` and ``trial_<id>/trial.json``, plus ``automl.json`` (engine, sampler, space fingerprint,
direction) and one ``trial_<id>/automl.json`` per finished trial (the state automl told: COMPLETE, PRUNED
or FAIL, the value, the decoded parameters and the attributes). This module does not import keras_tuner,
so listing studies stays cheap.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

from automl.states import TrialState
from automl.store.folder import ROOT
from automl.tracking.mlflow import absolute_sqlite

FOLDER = "keras_tuner"
STUDY_FILE = "automl.json"
TRIAL_FILE = "automl.json"


def state_root(storage: str) -> Path:
    """The folder holding every keras-tuner study: beside the SQLite file of ``storage``, else ``mlruns/``."""
    url = absolute_sqlite(storage)
    if url.startswith("sqlite:///"):
        return Path(url[len("sqlite:///"):]).parent / FOLDER
    return (ROOT / FOLDER).resolve()


class StudyState:
    """A keras-tuner study's folder: whether automl made it, and deleting it. Needs no keras_tuner import, so
    an Optuna study can check for a keras-tuner study of its name on every start without loading TensorFlow.

    Only a folder holding automl's ``automl.json`` is a study: anything else at that path (another tool's
    keras-tuner project, a folder of the user's) is never deleted.
    """

    def __init__(self, storage: str, name: str) -> None:
        self.dir = state_root(storage) / name

    def exists(self) -> bool:
        """Whether automl's study is there (its marker file)."""
        return (self.dir / STUDY_FILE).is_file()

    def foreign(self) -> bool:
        """Whether something automl did not make occupies the study's folder."""
        return self.dir.exists() and not self.exists()

    def delete(self) -> None:
        if self.exists():
            shutil.rmtree(self.dir)


def trial_dir(study_dir: Path, trial_id: str) -> Path:
    return study_dir / f"trial_{trial_id}"


def read_json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.exists() else None


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    tmp.replace(path)  # a study killed mid-write keeps the previous file


def read_records(study_dir: Path) -> dict[str, dict[str, Any]]:
    """keras-tuner trial id -> what automl recorded when the trial ended."""
    out: dict[str, dict[str, Any]] = {}
    for path in study_dir.glob(f"trial_*/{TRIAL_FILE}"):
        out[path.parent.name.removeprefix("trial_")] = json.loads(path.read_text())
    return out


def list_studies(storage: str) -> list[dict[str, Any]]:
    """Rows shaped like :func:`automl.engines.optuna.list_studies` for every keras-tuner study."""
    rows = []
    root = state_root(storage)
    for meta_path in sorted(root.glob(f"*/{STUDY_FILE}")):
        meta = json.loads(meta_path.read_text())
        study_dir = meta_path.parent
        ids = [p.name.removeprefix("trial_") for p in study_dir.glob("trial_*") if p.is_dir()]
        records = read_records(study_dir)
        states = [records.get(i, {}).get("state", TrialState.RUNNING) for i in ids]
        done = [(r["value"], int(i)) for i, r in records.items()
                if r["state"] == TrialState.COMPLETE and r.get("value") is not None and math.isfinite(r["value"])]
        pick = max if meta["direction"] == "maximize" else min
        best = pick(done, key=lambda d: d[0]) if done else None
        rows.append({
            "name": study_dir.name, "direction": meta["direction"], "trials": len(ids),
            "complete": states.count(TrialState.COMPLETE), "pruned": states.count(TrialState.PRUNED),
            "failed": states.count(TrialState.FAIL),
            "best_value": best[0] if best else None, "best_trial": best[1] if best else None,
            "engine": meta.get("engine", FOLDER),
        })
    return rows
