"""Optimizers x schedules, warmup and plateau composing, label smoothing, macro metrics, class weights."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from automl.builders.model import ModelSpec, build_model
from automl.builders.optimizers import OPTIMIZERS, build_optimizer
from automl.builders.schedules import SCHEDULES
from automl.builders.training import class_weights, fit_values
from automl.config.models import DataConfig
from automl.data import load_dataset
from automl.errors import ConfigError
from automl.trial import TrialRequest, run_trial

HP = {"layers": 1, "units": 8, "activation": "relu", "dropout": 0.0, "optimizer": "adam", "lr": 0.01}


@pytest.fixture(scope="module")
def data():
    return load_dataset(DataConfig(source="synthetic", samples=120, features=6, classes=3))


def _request(data, hp: dict, **kw) -> TrialRequest:
    spec = ModelSpec.from_arrays(data.x_train, data.y_train, data.task, data.num_classes)
    base = dict(number=0, block="mlp", hp={**HP, **hp}, spec=spec, metric="val_accuracy", direction="maximize",
                epochs=3, batch_size=16, seed=0)
    return TrialRequest(**{**base, **kw})


@pytest.mark.parametrize("schedule", SCHEDULES.names())
@pytest.mark.parametrize("optimizer", OPTIMIZERS.names())
def test_every_optimizer_with_every_schedule_takes_a_step(optimizer: str, schedule: str) -> None:
    import keras

    hp = {"optimizer": optimizer, "lr": 0.1, "schedule": schedule, "momentum": 0.9, "warmup_epochs": 1,
          "plateau": True, "clipnorm": 1.0}
    opt = build_optimizer(hp, steps_per_epoch=2, epochs=4)
    w = keras.Variable(np.ones(3, dtype=np.float32))
    opt.apply_gradients([(keras.ops.ones(3), w)])
    lr = float(keras.ops.convert_to_numpy(opt.learning_rate))
    assert 0 < lr <= 0.1 + 1e-6 and not np.allclose(keras.ops.convert_to_numpy(w), 1.0)


def test_warmup_rises_to_the_peak_then_the_schedule_decays(data) -> None:
    result = run_trial(_request(data, {"schedule": "cosine", "min_lr_fraction": 0.0, "warmup_epochs": 2}, epochs=5),
                       data)
    lrs = [h["lr"] for h in result.history]
    assert result.state == "COMPLETE" and lrs[0] < lrs[1] and lrs[1] >= lrs[2] > lrs[3] > lrs[4]
    assert lrs[1] == pytest.approx(0.01, rel=0.2) and lrs[4] == pytest.approx(0.0, abs=1e-6)


def test_reduce_on_plateau_composes_with_a_schedule(data) -> None:
    # a rate too small to move the weights: the metric stalls and the plateau halves the factor each epoch
    hp = {"lr": 1e-9, "schedule": "exponential", "decay_rate": 0.9, "decay_epochs": 100, "warmup_epochs": 1,
          "plateau": True, "plateau_factor": 0.5, "plateau_patience": 1}
    lrs = [h["lr"] for h in run_trial(_request(data, hp, epochs=5), data).history]
    assert lrs[3] / lrs[2] == pytest.approx(0.5, rel=0.05) and lrs[4] / lrs[3] == pytest.approx(0.5, rel=0.05)


def test_early_stopping_ends_a_stalled_trial(data) -> None:
    result = run_trial(_request(data, {"lr": 1e-9, "early_stopping": True, "patience": 1}, epochs=8), data)
    assert result.state == "COMPLETE" and len(result.history) < 8


def test_a_model_with_every_custom_object_reloads_in_a_fresh_process(data, tmp_path: Path) -> None:
    hp = {"activation": "leaky_relu", "leaky_alpha": 0.05, "normalization": "batch", "regularizer": "l1_l2",
          "l1": 1e-5, "l2": 1e-4, "optimizer": "sgd", "momentum": 0.9, "nesterov": True, "schedule": "cosine_restarts",
          "restart_epochs": 1, "warmup_epochs": 1, "plateau": True, "plateau_factor": 0.5, "plateau_patience": 1,
          "label_smoothing": 0.1, "initializer": "he_uniform"}
    result = run_trial(_request(data, hp), data)
    assert result.state == "COMPLETE"
    path = tmp_path / "m.keras"
    result.model.save(path)
    np.save(tmp_path / "x.npy", data.x_test[:5])
    np.save(tmp_path / "p.npy", np.asarray(result.model(data.x_test[:5], training=False)))
    script = (
        "import sys, numpy as np, automl\n"
        "from automl.runtime import import_keras\n"
        "keras = import_keras()\n"
        f"m = keras.models.load_model({str(path)!r})\n"
        f"p = np.asarray(m(np.load({str(tmp_path / 'x.npy')!r}), training=False))\n"
        f"assert np.allclose(p, np.load({str(tmp_path / 'p.npy')!r}), atol=1e-5)\n"
        "print(type(m.optimizer._learning_rate).__name__, type(m.loss).__name__)\n"
        f"m.fit(np.load({str(tmp_path / 'x.npy')!r}), np.zeros(5), epochs=1, verbose=0)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["Scaled", "SparseSmoothedCrossentropy"]


def test_label_smoothing_matches_the_categorical_loss() -> None:
    import keras

    from automl.builders.custom import SparseSmoothedCrossentropy

    y = np.array([0, 2, 1])
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.3, 0.4, 0.3]], dtype=np.float32)
    expected = keras.losses.CategoricalCrossentropy(label_smoothing=0.2)(np.eye(3)[y], p)
    assert float(SparseSmoothedCrossentropy(0.2)(y, p)) == pytest.approx(float(expected), rel=1e-5)


def test_macro_scores_and_auc_match_scikit_learn() -> None:
    from sklearn.metrics import precision_recall_fscore_support, roc_auc_score

    from automl.builders.custom import MacroScore, SparseAUC

    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, size=200)
    p = rng.dirichlet(np.ones(4), size=200).astype(np.float32)
    p[np.arange(100), y[:100]] += 1.0  # better than chance
    p /= p.sum(axis=1, keepdims=True)
    precision, recall, f1, _ = precision_recall_fscore_support(y, p.argmax(1), average="macro", zero_division=0)
    for kind, want in (("precision", precision), ("recall", recall), ("f1", f1)):
        metric = MacroScore(4, kind)
        metric.update_state(y[:120], p[:120])  # accumulated over batches
        metric.update_state(y[120:], p[120:])
        assert float(metric.result()) == pytest.approx(want, abs=1e-5), kind
    auc = SparseAUC(4, num_thresholds=2000)
    auc.update_state(y, p)
    assert float(auc.result()) == pytest.approx(roc_auc_score(y, p, multi_class="ovr", average="macro"), abs=2e-3)


@pytest.mark.parametrize("classes", [2, 4, 10])
def test_auc_scored_from_arrays_counts_exactly_what_keras_counts(classes: int) -> None:
    """Scoring once per trial passes numpy arrays, which take a numpy path (issue 23: Keras's vectorized_map
    cost ~0.2-0.5 s a trial); a compiled model passes tensors. Both must hold the same counts."""
    import keras

    from automl.builders.custom import SparseAUC

    rng = np.random.default_rng(classes)
    y = rng.integers(0, classes, size=300)
    p = rng.dirichlet(np.ones(classes), size=300).astype(np.float32)
    p[:5], p[5:10], p[10:15] = 0.0, 1.0, 0.5  # the ends and a threshold itself
    p[15:25] = np.linspace(0, 1, 199, dtype=np.float32)[40:50, None]
    from_arrays, from_tensors = SparseAUC(classes), SparseAUC(classes)
    for part in (slice(0, 170), slice(170, 300)):  # accumulated over batches
        from_arrays.update_state(y[part], p[part])
        from_tensors.update_state(keras.ops.convert_to_tensor(y[part]), keras.ops.convert_to_tensor(p[part]))
    for mine, keras_own in zip(from_arrays.variables, from_tensors.variables, strict=True):
        np.testing.assert_array_equal(np.asarray(mine), np.asarray(keras_own))
    assert float(from_arrays.result()) == float(from_tensors.result())


def test_balanced_class_weights_are_n_over_c_times_n_i() -> None:
    y = np.array([0] * 6 + [1] * 3 + [2] * 1)
    assert class_weights({"class_weight": "balanced"}, y, 3) == pytest.approx({0: 10 / 18, 1: 10 / 9, 2: 10 / 3})
    assert class_weights({"class_weight": "none"}, y, 3) is None
    given = class_weights({"class_weight": {"cat": 2.0, 2: 5.0}}, y, 3, ["cat", "dog", "eel"])
    assert given == {0: 2.0, 1: 1.0, 2: 5.0}
    with pytest.raises(ConfigError, match=r"class_weight: 'cow' is not a class \(classes: cat, dog, eel\)"):
        class_weights({"class_weight": {"cow": 1.0}}, y, 3, ["cat", "dog", "eel"])


def test_a_searched_epoch_count_is_capped_by_train_epochs() -> None:
    assert fit_values({"epochs": 50, "batch_size": None}, 10, 64) == {"epochs": 10, "batch_size": 64}
    assert fit_values({"epochs": None, "batch_size": 16}, 10, 64) == {"epochs": 10, "batch_size": 16}


def test_augmentation_is_active_in_training_only_and_only_for_images() -> None:
    x = np.random.default_rng(0).random((4, 8, 8, 1)).astype(np.float32) * 16
    spec = ModelSpec.from_arrays(x, np.array([0, 1, 0, 1]), "classification", 2)
    model = build_model("cnn", {**HP, "conv_blocks": 1, "filters": 4, "kernel_size": 3, "dense_units": 0,
                                "rotation": 0.1, "zoom": 0.1, "translation": 0.1, "flip": "horizontal",
                                "contrast": 0.2}, spec)
    assert {"augment_flip", "augment_rotation", "augment_zoom", "augment_translation", "augment_contrast"} <= {
        layer.name for layer in model.layers}
    np.testing.assert_allclose(np.asarray(model(x, training=False)), np.asarray(model(x, training=False)))
    assert not np.allclose(np.asarray(model(x, training=True)), np.asarray(model(x, training=False)))
    tabular = ModelSpec.from_arrays(x.reshape(4, -1), np.array([0, 1, 0, 1]), "classification", 2)
    with pytest.raises(ConfigError, match=r"augmentation \(rotation\) needs image \(N, H, W, C\) data"):
        build_model("mlp", {**HP, "rotation": 0.1}, tabular)
