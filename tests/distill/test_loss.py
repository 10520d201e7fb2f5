"""The distillation loss against a hand computation, and what the Distiller trains (and does not)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from automl.runtime import import_keras

keras = import_keras()

from automl.builders.distiller import Distiller, distillation_loss, task_loss  # noqa: E402

Y = np.array([0, 2, 1])
STUDENT = np.array([[2.0, 0.5, -1.0, 0.0], [0.1, 0.2, 0.3, 0.4], [-1.0, 3.0, 0.5, 1.0]], dtype=np.float32)
TEACHER = np.array([[3.0, 1.0, -2.0, 0.5], [0.0, -1.0, 2.0, 1.0], [0.5, 2.5, 0.0, -0.5]], dtype=np.float32)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _by_hand(alpha: float, t: float) -> float:
    ce = -np.mean(np.log(_softmax(STUDENT)[np.arange(3), Y]))
    p_teacher, p_student = _softmax(TEACHER / t), _softmax(STUDENT / t)
    kl = np.mean(np.sum(p_teacher * np.log(p_teacher / p_student), axis=-1))
    return float(alpha * ce + (1 - alpha) * t**2 * kl)


@pytest.mark.parametrize(("alpha", "temperature"), [(0.3, 4.0), (0.5, 1.0), (0.0, 2.0), (1.0, 8.0)])
def test_classification_loss_matches_a_hand_computation(alpha: float, temperature: float) -> None:
    got = float(distillation_loss(Y, STUDENT, TEACHER, alpha=alpha, temperature=temperature))
    assert got == pytest.approx(_by_hand(alpha, temperature), rel=1e-5)


def test_alpha_one_is_plain_cross_entropy() -> None:
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(Y, STUDENT)
    assert float(task_loss(Y, STUDENT)) == pytest.approx(float(ce), rel=1e-6)


def test_regression_loss_is_mse_to_labels_and_teacher_in_standardized_units() -> None:
    y = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    student = np.array([1.5, 1.0, 3.0], dtype=np.float32)
    teacher = np.array([1.0, 1.5, 2.0], dtype=np.float32)
    hard, soft = np.mean((y - student) ** 2), np.mean((teacher - student) ** 2)
    got = float(distillation_loss(y, student, teacher, alpha=0.25, temperature=3.0, task="regression",
                                  target_scale=2.0))
    assert got == pytest.approx((0.25 * hard + 0.75 * soft) / 4.0, rel=1e-6)


@keras.saving.register_keras_serializable(package="automl_tests")
class CountCalls(keras.layers.Layer):
    """Identity that counts how many times it runs (inside compiled graphs too)."""

    def build(self, input_shape: Any) -> None:
        self.calls = self.add_weight(shape=(), initializer="zeros", trainable=False, name="calls")

    def call(self, x: Any) -> Any:
        self.calls.assign_add(1.0)
        return x


def _classifier(units: int, counter: bool = False) -> Any:
    inputs = keras.Input((6,))
    x = CountCalls(name="count")(inputs) if counter else inputs
    x = keras.layers.Dense(units, activation="relu", name="hidden")(x)
    logits = keras.layers.Dense(3, name="logits")(x)
    model = keras.Model(inputs, keras.layers.Activation("softmax", name="probs")(logits))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_distiller_trains_the_student_only_and_runs_the_teacher_once_per_batch() -> None:
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(96, 6)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0).astype(int)
    teacher, student = _classifier(32, counter=True), _classifier(4)
    teacher_before = [w.copy() for w in teacher.get_weights()]
    student_before = [w.copy() for w in student.get_weights()]
    distiller = Distiller(student, teacher, alpha=0.3, temperature=4.0)
    distiller.compile(optimizer=keras.optimizers.Adam(1e-2), metrics=["accuracy"])
    distiller.fit(x, y, epochs=2, batch_size=32, validation_data=(x, y), verbose=0)

    counter = teacher.get_layer("count").calls
    assert float(counter.numpy()) == 2 * 3  # 2 epochs x 3 batches; validation never calls the teacher
    after = teacher.get_weights()
    for before, now in zip(teacher_before, after, strict=True):
        if before.shape:  # the call counter is the one scalar
            np.testing.assert_array_equal(before, now)
    assert any(not np.allclose(b, a) for b, a in zip(student_before, student.get_weights(), strict=True))
    assert {id(v) for v in distiller.trainable_variables} == {id(v) for v in student.trainable_variables}


def test_validation_loss_is_the_students_own_loss() -> None:
    x = np.random.default_rng(1).normal(size=(32, 6)).astype(np.float32)
    y = np.arange(32) % 3
    teacher, student = _classifier(8), _classifier(4)
    distiller = Distiller(student, teacher, alpha=0.2, temperature=5.0)
    distiller.compile(optimizer="adam", metrics=["accuracy"])
    scores = distiller.evaluate(x, y, verbose=0, return_dict=True)
    own = student.evaluate(x, y, verbose=0, return_dict=True)
    assert scores["loss"] == pytest.approx(own["loss"], rel=1e-5)
    assert scores["accuracy"] == pytest.approx(own["accuracy"])


def test_a_model_without_logits_layer_is_refused() -> None:
    from automl.errors import AutomlError

    inputs = keras.Input((6,))
    plain = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
    with pytest.raises(AutomlError, match="has no `logits` layer"):
        Distiller(plain, _classifier(4), alpha=0.5, temperature=2.0)


@pytest.mark.parametrize(("kwargs", "message"), [({"alpha": 1.5, "temperature": 2.0}, "alpha"),
                                                  ({"alpha": 0.5, "temperature": 0.0}, "temperature")])
def test_bad_alpha_or_temperature_is_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Distiller(_classifier(4), _classifier(4), **kwargs)


def test_mixed_labels_weigh_the_hard_term_by_lam() -> None:
    other = np.array([3, 0, 0])
    ce = lambda labels: float(keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, STUDENT))  # noqa: E731
    got = float(distillation_loss(Y, STUDENT, TEACHER, alpha=1.0, temperature=2.0, y_mixed=other, lam=0.3))
    assert got == pytest.approx(0.3 * ce(Y) + 0.7 * ce(other), rel=1e-5)
    soft_only = float(distillation_loss(Y, STUDENT, TEACHER, alpha=0.0, temperature=2.0, y_mixed=other, lam=0.3))
    assert soft_only == pytest.approx(_by_hand(0.0, 2.0), rel=1e-5)  # the soft term reads the teacher alone


def test_mixed_regression_targets_are_mixed_linearly() -> None:
    y, other = np.array([1.0, 2.0], dtype=np.float32), np.array([3.0, 0.0], dtype=np.float32)
    student = np.array([2.0, 1.0], dtype=np.float32)
    got = float(distillation_loss(y, student, student, alpha=1.0, temperature=1.0, task="regression",
                                  y_mixed=other, lam=0.25))
    assert got == pytest.approx(float(np.mean((0.25 * y + 0.75 * other - student) ** 2)), rel=1e-6)


@keras.saving.register_keras_serializable(package="automl_tests")
class Record(keras.layers.Layer):
    """Identity that keeps the last batch it saw (a fixed batch of 16 rows)."""

    def build(self, input_shape: Any) -> None:
        self.seen = self.add_weight(shape=(16, 6), initializer="zeros", trainable=False, name="seen")

    def call(self, x: Any) -> Any:
        self.seen.assign(x)
        return x


def test_with_mixup_the_teacher_sees_the_batch_mixed_with_itself_reversed() -> None:
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(2).normal(size=(16, 6)).astype(np.float32)
    y = np.arange(16) % 3
    inputs = keras.Input((6,))
    hidden = keras.layers.Dense(8, name="hidden")(Record(name="record")(inputs))
    teacher = keras.Model(inputs, keras.layers.Activation("softmax")(keras.layers.Dense(3, name="logits")(hidden)))
    distiller = Distiller(_classifier(4), teacher, alpha=0.5, temperature=2.0, mixup=0.4)
    distiller.compile(optimizer="adam")
    distiller.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)

    seen = teacher.get_layer("record").seen.numpy()
    lam = (seen[0] - x[-1]) / (x[0] - x[-1])  # seen = lam * x + (1 - lam) * x[::-1], one lam per batch
    assert 0.0 < lam[0] < 1.0
    np.testing.assert_allclose(seen, lam[0] * x + (1 - lam[0]) * x[::-1], atol=1e-4)


def test_mixup_needs_float_inputs() -> None:
    distiller = Distiller(_classifier(4), _classifier(4), alpha=0.5, temperature=2.0, mixup=0.4)
    with pytest.raises(ValueError, match="mixup needs one float input tensor, got ndarray int64"):
        distiller._mix(np.zeros((4, 6), dtype=np.int64), np.zeros(4))
    with pytest.raises(ValueError, match="mixup >= 0"):
        Distiller(_classifier(4), _classifier(4), alpha=0.5, temperature=2.0, mixup=-0.1)
