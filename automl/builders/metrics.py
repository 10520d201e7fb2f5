"""Metrics by task: their names (as logged, ``val_`` prefixed on the validation split) and direction.

Classification logs accuracy, macro precision / recall / F1 and (one-vs-rest, macro) ROC AUC;
regression logs MAE, MSE and RMSE. Any of them (``val_<name>``) can be a study's metric.
"""

from __future__ import annotations

from typing import Any

CLASSIFICATION_METRICS = ("loss", "accuracy", "precision", "recall", "f1", "auc")
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


def keras_metrics(task: str, num_classes: int = 0) -> list[Any]:
    """The Keras metric objects compiled into a model for ``task``.

    ``num_classes`` sizes the macro scores; without it (0) only accuracy is compiled.
    """
    import keras

    if task == "classification":
        out: list[Any] = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        if num_classes >= 2:
            from automl.builders.custom import MacroScore, SparseAUC

            out += [MacroScore(num_classes, "precision"), MacroScore(num_classes, "recall"),
                    MacroScore(num_classes, "f1"), SparseAUC(num_classes)]
        return out
    return [
        keras.metrics.MeanAbsoluteError(name="mae"),
        keras.metrics.MeanSquaredError(name="mse"),
        keras.metrics.RootMeanSquaredError(name="rmse"),
    ]
