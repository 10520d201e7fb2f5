"""Per-epoch metrics are the cheap ones plus the study's; the rest are scored once, with the same values."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient

from automl import tune
from automl.builders.metrics import epoch_metric_names, predict_eagerly, score_model, score_predictions
from automl.builders.model import ModelSpec
from automl.config.models import DataConfig
from automl.data import load_dataset
from automl.testing import write_pipeline
from automl.tracking import tracking_uri
from automl.trial import TrialRequest, run_trial

HP = {"layers": 1, "units": 16, "activation": "relu", "dropout": 0.0, "optimizer": "adam", "lr": 0.01}


@pytest.fixture(scope="module")
def data():
    return load_dataset(DataConfig(source="synthetic", samples=240, features=8, classes=3))


def test_epoch_metric_names() -> None:
    assert epoch_metric_names("classification", "val_accuracy") == ("accuracy",)
    assert epoch_metric_names("classification", "val_f1", ["auc"]) == ("accuracy", "f1", "auc")
    assert epoch_metric_names("classification", "val_loss", "all") == ("accuracy", "precision", "recall", "f1",
                                                                        "auc")
    assert epoch_metric_names("regression", "val_loss") == ("mae", "mse", "rmse")


def test_scored_once_equals_what_fit_logs(data) -> None:
    """A trial compiled with every metric logs val_f1 / val_auc per epoch; the once-per-trial scores of a
    trial compiled with accuracy only, at the same (seeded) best epoch, are the same numbers."""
    every = ModelSpec.from_arrays(data.x_train, data.y_train, data.task, data.num_classes)
    lean = ModelSpec.from_arrays(data.x_train, data.y_train, data.task, data.num_classes, metrics=("accuracy",))
    base = dict(number=0, block="mlp", hp=HP, metric="val_accuracy", direction="maximize", epochs=3,
                batch_size=32, seed=0)
    full = run_trial(TrialRequest(spec=every, **base), data)
    slim = run_trial(TrialRequest(spec=lean, **base), data)
    assert full.state == slim.state == "COMPLETE" and full.best_epoch == slim.best_epoch
    assert "val_f1" in full.history[0] and "val_f1" not in slim.history[0]
    assert full.final_metrics == {}
    assert set(slim.final_metrics) == {"val_precision", "val_recall", "val_f1", "val_auc"}
    logged = full.history[full.best_epoch]
    for name, value in slim.final_metrics.items():
        assert value == pytest.approx(logged[name], abs=1e-4), name
    # and straight from predictions of the fully compiled model
    scored = score_predictions(data.y_val, predict_eagerly(full.model, data.x_val), data.task, data.num_classes)
    assert scored["f1"] == pytest.approx(logged["val_f1"], abs=1e-4)
    assert scored["accuracy"] == pytest.approx(logged["val_accuracy"], abs=1e-6)
    everything = score_model(slim.model, data.x_val, data.y_val, data.task, data.num_classes)
    assert set(everything) == {"loss", "accuracy", "precision", "recall", "f1", "auc"}


def test_study_logs_all_metrics_without_computing_them_every_epoch(tmp_path) -> None:
    path = write_pipeline(tmp_path, study={"trials": 2}, train={"epochs": 2})
    result = tune(path)
    client = MlflowClient(tracking_uri())
    child = client.search_runs([client.get_experiment_by_name("tiny").experiment_id],
                               "tags.`automl.role` = 'trial'")[0]
    assert len(client.get_metric_history(child.info.run_id, "val_accuracy")) == 2  # per epoch
    f1 = client.get_metric_history(child.info.run_id, "val_f1")
    assert len(f1) == 1 and f1[0].step == int(child.data.metrics["best_epoch"])  # once, at the best epoch
    assert {"test_accuracy", "test_f1", "test_auc", "test_precision", "test_recall", "test_loss"} <= \
        set(result.test_metrics)
    # the study's metric, when it is an expensive one, is logged every epoch
    again = write_pipeline(tmp_path, name="tiny-f1", study={"trials": 1, "metric": "val_f1"}, train={"epochs": 2})
    tune(again)
    child = client.search_runs([client.get_experiment_by_name("tiny-f1").experiment_id],
                               "tags.`automl.role` = 'trial'")[0]
    assert len(client.get_metric_history(child.info.run_id, "val_f1")) == 2
    assert len(client.get_metric_history(child.info.run_id, "val_auc")) == 1
