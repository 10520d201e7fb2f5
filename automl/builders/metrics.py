"""Metrics by task: their names (as logged, ``val_`` prefixed on the validation split) and direction.

Classification logs accuracy, macro precision / recall / F1 and (one-vs-rest, macro) ROC AUC;
regression logs MAE, MSE and RMSE. Any of them (``val_<name>``) can be a study's metric. The cheap ones
and the study's metric are computed every epoch; the rest once per trial and on the test split.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from automl.data.rows import Split

CLASSIFICATION_METRICS = ("loss", "accuracy", "precision", "recall", "f1", "auc")
REGRESSION_METRICS = ("loss", "mae", "mse", "rmse")
MAXIMIZE = {"accuracy", "f1", "auc", "precision", "recall", "r2"}
MINIMIZE = {"loss", "mae", "mse", "rmse"}


def metrics_for(task: str) -> tuple[str, ...]:
    return CLASSIFICATION_METRICS if task == "classification" else REGRESSION_METRICS


def scored_metrics(task: str) -> tuple[str, ...]:
    """The metrics of ``task`` that a Keras metric object computes (all but the loss)."""
    return tuple(m for m in metrics_for(task) if m != "loss")


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


CHEAP_METRICS = {"classification": ("accuracy",), "regression": ("mae", "mse", "rmse")}


def epoch_metric_names(task: str, metric: str, extra: Iterable[str] | str = ()) -> tuple[str, ...]:
    """The metrics compiled into a trial's model, i.e. computed on every batch and logged every epoch.

    The cheap ones (accuracy; MAE / MSE / RMSE), the study's ``metric`` and ``extra`` (``"all"`` for every
    metric of the task). The macro scores and AUC cost a confusion matrix / histogram update per batch,
    which made small trials ~1.5x slower, so by default they are computed once per trial instead
    (:func:`score_predictions`, on the best epoch's weights).
    """
    known = scored_metrics(task)
    wanted = set(known) if extra == "all" else {*CHEAP_METRICS[task], base_metric(metric), *extra}
    return tuple(m for m in known if m in wanted)


def keras_metrics(task: str, num_classes: int = 0, names: Iterable[str] | None = None) -> list[Any]:
    """The Keras metric objects for ``task`` (all of them, or those in ``names``).

    ``num_classes`` sizes the macro scores; without it (0) they are left out.
    """
    import keras

    if task == "classification":
        out: list[Any] = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        if num_classes >= 2:
            from automl.builders.custom import MacroScore, SparseAUC

            out += [MacroScore(num_classes, "precision"), MacroScore(num_classes, "recall"),
                    MacroScore(num_classes, "f1"), SparseAUC(num_classes)]
    else:
        out = [keras.metrics.MeanAbsoluteError(name="mae"), keras.metrics.MeanSquaredError(name="mse"),
               keras.metrics.RootMeanSquaredError(name="rmse")]
    if names is None:
        return out
    keep = set(names)
    return [m for m in out if m.name in keep]


#: scoring reads at most this many input values per batch: a batch's activations grow with its inputs, and 1024
#: images of 96x96x3 through a small CNN took ~1 GB (a trial's peak then grew with the validation split)
SCORE_VALUES = 2**21


def score_batch(x: Split, batch_size: int = 1024) -> int:
    """Rows per scoring batch for ``x``: ``batch_size``, fewer for large samples (at most :data:`SCORE_VALUES`
    input values a batch, at least 8 rows).

    >>> score_batch(np.zeros((5, 64))), score_batch(np.zeros((5, 96, 96, 3)))
    (1024, 75)
    """
    values = int(np.prod(x.shape[1:], dtype=np.int64)) if len(x.shape) > 1 else 1
    return max(8, min(batch_size, SCORE_VALUES // max(1, values)))


def predict_eagerly(model: Any, x: Split, batch_size: int = 1024) -> np.ndarray:
    """``model(x)`` in inference mode, batch by batch (:func:`score_batch`), without tracing a predict function.

    ``model.predict`` traces a graph on its first call (a fraction of a second per model on CPU), which
    is most of the cost of scoring one small validation split per trial.
    """
    import keras

    batch_size = score_batch(x, batch_size)
    parts = [keras.ops.convert_to_numpy(model(x[i:i + batch_size], training=False))
             for i in range(0, len(x), batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0,))


def score_predictions(y_true: np.ndarray, y_pred: np.ndarray, task: str, num_classes: int = 0,
                      names: Iterable[str] | None = None) -> dict[str, float]:
    """Every metric of ``task`` (or those in ``names``) on predictions, by the same metric classes that a
    compiled model uses, so a value scored here equals the one ``fit`` would have logged."""
    scores = {}
    for metric in keras_metrics(task, num_classes, names):
        metric.update_state(y_true, y_pred)
        scores[metric.name] = float(metric.result())
    return scores


def score_model(model: Any, x: Split, y: np.ndarray, task: str, num_classes: int = 0,
                batch_size: int = 1024) -> dict[str, float]:
    """The loss and every metric of ``task`` for ``model`` on ``x``, ``y``.

    ``evaluate`` gives the loss and the compiled metrics; the ones not compiled come from predictions.
    """
    from automl.data.batches import batches, streamed

    batch_size = score_batch(x, batch_size)
    data = {"x": batches(x, y, batch_size)} if streamed(x) else {"x": x, "y": y, "batch_size": batch_size}
    scores = {k: float(v) for k, v in model.evaluate(**data, verbose=0, return_dict=True).items()}
    missing = [m for m in scored_metrics(task) if m not in scores]
    if missing and len(x):
        scores.update(score_predictions(y, predict_eagerly(model, x, batch_size), task, num_classes, missing))
    return scores
