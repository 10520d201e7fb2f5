"""A real, small study in a folder of its own, for tests that read studies back (report, UI, CLI)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from automl.testing import write_pipeline


@dataclass
class StudyDir:
    """A folder holding a finished study: ``mlruns/`` with both stores, the pipeline and the result."""

    folder: Path
    pipeline: Path
    name: str
    result: Any  # automl.study.TuneResult

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self.folder / 'mlruns' / 'mlflow.db'}"

    @property
    def storage(self) -> str:
        return f"sqlite:///{self.folder / 'mlruns' / 'optuna.db'}"


def make_study(folder: Path, *, name: str = "tiny", trials: int = 5, epochs: int = 3, **pipeline: Any) -> StudyDir:
    """Run ``trials`` trials of a tiny tabular pipeline inside ``folder`` (made the working directory meanwhile)."""
    import automl

    folder.mkdir(parents=True, exist_ok=True)
    before = Path.cwd()
    os.chdir(folder)
    try:
        study = {"trials": trials, "sampler": "tpe", "pruner": "median", **pipeline.pop("study", {})}
        path = write_pipeline(folder, name=name, study=study, train={"epochs": epochs, **pipeline.pop("train", {})},
                              **pipeline)
        result = automl.run(path)
    finally:
        os.chdir(before)
    return StudyDir(folder=folder.resolve(), pipeline=path.resolve(), name=name, result=result)
