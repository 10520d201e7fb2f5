"""The knowledge-distillation loss and the ``Distiller`` model that trains a student with it.

For classification::

    L = alpha * CE(y, student) + (1 - alpha) * T^2 * KL(softmax(teacher / T) || softmax(student / T))

computed on the logits (the ``logits`` layer every classification model of :mod:`automl.builders.model`
has); the ``T^2`` factor keeps the soft term's gradients on the scale of the hard one (Hinton et al.,
2015). For regression the soft term is the squared distance to the teacher's prediction::

    L = (alpha * MSE(y, student) + (1 - alpha) * MSE(teacher, student)) / y_std^2

With ``mixup > 0`` each training batch is first mixed with itself reversed, ``lam * x + (1 - lam) * x'``
with ``lam ~ Beta(mixup, mixup)``; the teacher sees the same mixed inputs as the student ("consistent
teaching", Beyer et al., 2022) and the hard term is ``lam * CE(y) + (1 - lam) * CE(y')``.
"""

from __future__ import annotations

from typing import Any

from automl.runtime import import_keras

import_keras()

import keras  # noqa: E402
from keras import ops  # noqa: E402

LOGITS_LAYER = "logits"


def distillation_loss(y: Any, student: Any, teacher: Any, *, alpha: float, temperature: float,
                      task: str = "classification", target_scale: float = 1.0, y_mixed: Any = None,
                      lam: Any = 1.0) -> Any:
    """The distillation loss of one batch (a scalar tensor); ``student``/``teacher`` are logits or
    (regression) predictions.

    Mixup: the batch's inputs were ``lam * x + (1 - lam) * x_mixed``; ``y_mixed`` are the labels of
    ``x_mixed``, and the hard-label term is that of the mixed labels.
    """
    if task == "classification":
        hard = ops.mean(keras.losses.sparse_categorical_crossentropy(y, student, from_logits=True))
        if y_mixed is not None:
            other = ops.mean(keras.losses.sparse_categorical_crossentropy(y_mixed, student, from_logits=True))
            hard = lam * hard + (1.0 - lam) * other
        t = temperature
        log_p_teacher = ops.log_softmax(teacher / t, axis=-1)
        log_p_student = ops.log_softmax(student / t, axis=-1)
        kl = ops.sum(ops.exp(log_p_teacher) * (log_p_teacher - log_p_student), axis=-1)
        return alpha * hard + (1.0 - alpha) * t**2 * ops.mean(kl)
    y = ops.cast(ops.reshape(y, ops.shape(student)), student.dtype)
    if y_mixed is not None:
        y = lam * y + (1.0 - lam) * ops.cast(ops.reshape(y_mixed, ops.shape(student)), student.dtype)
    hard = ops.mean(ops.square(y - student))
    soft = ops.mean(ops.square(ops.reshape(teacher, ops.shape(student)) - student))
    return (alpha * hard + (1.0 - alpha) * soft) / target_scale**2


def task_loss(y: Any, student: Any, *, task: str = "classification", target_scale: float = 1.0) -> Any:
    """The student's own loss (what a model trained from scratch minimizes), on logits/predictions."""
    return distillation_loss(y, student, student, alpha=1.0, temperature=1.0, task=task,
                             target_scale=target_scale)


def head_of(model: Any, task: str) -> Any:
    """The sub-model whose output the loss reads: the logits of a classifier, a regressor itself."""
    if task != "classification":
        return model
    names = [layer.name for layer in model.layers]
    if LOGITS_LAYER not in names:
        from automl.errors import AutomlError

        raise AutomlError(f"model '{model.name}' has no `{LOGITS_LAYER}` layer to distill from or into "
                          f"(layers: {', '.join(names[-4:])}); build it with automl's model builder")
    return keras.Model(model.inputs, model.get_layer(LOGITS_LAYER).output, name=f"{model.name}_logits")


class Distiller(keras.Model):
    """Trains ``student`` on the labels and on a frozen ``teacher``'s softened outputs.

    ``fit`` updates the student's weights (the Distiller holds no weights of its own); the teacher runs
    once per batch in inference mode and gets no gradient. Validation reports the student's own loss
    (not the distillation loss), so ``val_loss`` reads like a model trained from scratch. ``call``
    returns the student's logits (classification); compiled metrics see its probabilities.

    >>> distiller = Distiller(student, teacher, alpha=0.5, temperature=4.0)  # doctest: +SKIP
    >>> distiller.compile(optimizer="adam", metrics=["accuracy"])  # doctest: +SKIP
    >>> distiller.fit(x, y, epochs=5)  # doctest: +SKIP
    """

    def __init__(self, student: Any, teacher: Any, *, alpha: float, temperature: float,
                 task: str = "classification", target_scale: float = 1.0, mixup: float = 0.0,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"`0 <= alpha <= 1` must hold, got alpha={alpha}")
        if temperature <= 0:
            raise ValueError(f"`temperature > 0` must hold, got temperature={temperature}")
        if mixup < 0:
            raise ValueError(f"`mixup >= 0` must hold, got mixup={mixup}")
        self.alpha, self.temperature, self.mixup = float(alpha), float(temperature), float(mixup)
        # seeded from Keras's global seed (keras.utils.set_random_seed), so a seeded trial mixes the same way
        self.mixup_seed = keras.random.SeedGenerator() if mixup > 0 else None
        self.task, self.target_scale = task, float(target_scale)
        self.student_head = head_of(student, task)
        self.teacher_head = head_of(teacher, task)
        self.teacher_head.trainable = False

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        return self.student_head(inputs, training=training)

    def compute_loss(self, x: Any = None, y: Any = None, y_pred: Any = None, sample_weight: Any = None,
                     training: bool = True) -> Any:
        if training and self.mixup > 0:
            x_mixed, y_mixed, lam = self._mix(x, y)
            # the student learns on the mixed batch (y_pred, of the plain batch, feeds the training metrics only)
            student = self.student_head(x_mixed, training=True)
            teacher = ops.stop_gradient(self.teacher_head(x_mixed, training=False))
            loss = distillation_loss(y, student, teacher, alpha=self.alpha, temperature=self.temperature,
                                     task=self.task, target_scale=self.target_scale, y_mixed=y_mixed, lam=lam)
        elif training:
            teacher = ops.stop_gradient(self.teacher_head(x, training=False))
            loss = distillation_loss(y, y_pred, teacher, alpha=self.alpha, temperature=self.temperature,
                                     task=self.task, target_scale=self.target_scale)
        else:
            loss = task_loss(y, y_pred, task=self.task, target_scale=self.target_scale)
        regularization = self.student_head.losses
        return loss + ops.sum(ops.stack(regularization)) if regularization else loss

    def _mix(self, x: Any, y: Any) -> tuple[Any, Any, Any]:
        """The batch mixed with itself reversed (timm's pairing: no shuffle needed, ``fit`` shuffles the rows),
        the labels of the reversed batch, and the weight ``lam`` ~ Beta(mixup, mixup) of the batch's own rows."""
        dtype = getattr(x, "dtype", None)
        if dtype is None or "float" not in str(dtype):
            raise ValueError(f"mixup needs one float input tensor, got {type(x).__name__} {dtype or ''}".rstrip())
        lam = keras.random.beta((), self.mixup, self.mixup, seed=self.mixup_seed, dtype=x.dtype)
        return lam * x + (1.0 - lam) * ops.flip(x, axis=0), ops.flip(y, axis=0), lam

    def compute_metrics(self, x: Any, y: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        # the loss reads logits; metrics (AUC, ...) read probabilities, as on the student itself
        if self.task == "classification":
            y_pred = ops.softmax(y_pred, axis=-1)
        return super().compute_metrics(x, y, y_pred, sample_weight=sample_weight)
