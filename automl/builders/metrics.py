"""Metrics by task: their names (as logged, ``val_`` prefixed on the validation split) and direction."""

from __future__ import annotations

from typing import Any

CLASSIFICATION_METRICS = ("loss", "accuracy")
REGRESSION_METRICS = ("loss", "mae", "mse", "rmse")
MAXIMIZE = {"accuracy", "f1", "auc", "precision", "recall", "r2"}
MINIMIZE = {"loss", "mae", "mse", "rmse"}


def metrics_for(task: str) -> tuple[str, ...]:
    return CLASSIFICATION_METRICS if task == "classification" else REGRESSION_METRICS


def base_metric(metric: str) -> str:
    """``val_accuracy`` -> ``accuracy``."""
    return metric[4:] if metric.startswith("val_") else metric


def direction_of(metric: str) -> str | None:
    """``maximize`` / ``minimize`` as the metric's name implies, None when it does not say."""
    base = base_metric(metric)
    if base in MAXIMIZE or base.endswith("accuracy"):
        return "maximize"
    if base in MINIMIZE or base.endswith("loss") or base.endswith("error"):
        return "minimize"
    return None


def keras_metrics(task: str) -> list[Any]:
    """The Keras metric objects compiled into a model for ``task``."""
    import keras

    if task == "classification":
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    return [
        keras.metrics.MeanAbsoluteError(name="mae"),
        keras.metrics.MeanSquaredError(name="mse"),
        keras.metrics.RootMeanSquaredError(name="rmse"),
    ]
