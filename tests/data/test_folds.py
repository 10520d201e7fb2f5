"""k-fold cross-validation: folds partition train + validation, stratified; a trial's value is the mean."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from automl.config.models import DataConfig
from automl.data import load_dataset
from automl.testing import write_pipeline


def test_folds_partition_train_and_validation_and_keep_the_test_split() -> None:
    data = load_dataset(DataConfig(source="iris"))
    folds = data.folds(3, seed=0)
    assert len(folds) == 3
    n = len(data.x_train) + len(data.x_val)
    vals = np.concatenate([f.x_val for f in folds])
    assert len(vals) == n and len(np.unique(vals, axis=0)) == len(np.unique(
        np.concatenate([data.x_train, data.x_val]), axis=0))
    for fold in folds:
        assert len(fold.x_train) + len(fold.x_val) == n and fold.x_test is data.x_test
        assert np.bincount(fold.y_val).min() >= np.bincount(fold.y_val).max() - 1  # stratified


def test_a_cross_validated_trial_scores_the_mean_of_its_folds(tmp_path: Path) -> None:
    import automl

    path = write_pipeline(tmp_path, name="cv", study={"trials": 1, "cv_folds": 3},
                          space={"block": "mlp", "params": {"layers": 1, "units": 8, "lr": 0.01}})
    result = automl.run(path)
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    run = client.search_runs([client.get_experiment_by_name("cv").experiment_id],
                             "tags.`automl.role` = 'trial'")[0]
    folds = [run.data.metrics[f"fold{i}_val_accuracy"] for i in range(3)]
    assert result.best_value == pytest.approx(np.mean(folds))


def test_the_csv_encoding_is_saved_with_the_model(tmp_path: Path) -> None:
    import json

    import pandas as pd

    import automl

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=80), "color": rng.choice(["red", "blue"], 80)})
    frame["label"] = np.where(frame["x"] > 0, "pos", "neg")
    frame.to_csv(tmp_path / "d.csv", index=False)
    path = write_pipeline(tmp_path, name="enc", data={"source": "csv", "path": "d.csv", "target": "label"},
                          study={"trials": 1}, train={"epochs": 1},
                          space={"block": "mlp", "params": {"layers": 1, "units": 4}})
    automl.run(path)
    encoding = json.loads((tmp_path / "mlruns" / "enc" / "encoding.json").read_text())
    assert encoding["features"] == ["x", "color=blue", "color=red"]
