"""The knowledge-distillation loss and the ``Distiller`` model that trains a student with it.

For classification::

    L = alpha * CE(y, student) + (1 - alpha) * T^2 * KL(softmax(teacher / T) || softmax(student / T))

computed on the logits (the ``logits`` layer every classification model of :mod:`automl.builders.model`
has); the ``T^2`` factor keeps the soft term's gradients on the scale of the hard one (Hinton et al.,
2015). For regression the soft term is the squared distance to the teacher's prediction::

    L = (alpha * MSE(y, student) + (1 - alpha) * MSE(teacher, student)) / y_std^2
"""

from __future__ import annotations

from typing import Any

from automl.runtime import import_keras

import_keras()

import keras  # noqa: E402
from keras import ops  # noqa: E402

LOGITS_LAYER = "logits"


def distillation_loss(y: Any, student: Any, teacher: Any, *, alpha: float, temperature: float,
                      task: str = "classification", target_scale: float = 1.0) -> Any:
    """The distillation loss of one batch (a scalar tensor); ``student``/``teacher`` are logits or
    (regression) predictions."""
    if task == "classification":
        hard = ops.mean(keras.losses.sparse_categorical_crossentropy(y, student, from_logits=True))
        t = temperature
        log_p_teacher = ops.log_softmax(teacher / t, axis=-1)
        log_p_student = ops.log_softmax(student / t, axis=-1)
        kl = ops.sum(ops.exp(log_p_teacher) * (log_p_teacher - log_p_student), axis=-1)
        return alpha * hard + (1.0 - alpha) * t**2 * ops.mean(kl)
    y = ops.cast(ops.reshape(y, ops.shape(student)), student.dtype)
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
                 task: str = "classification", target_scale: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"`0 <= alpha <= 1` must hold, got alpha={alpha}")
        if temperature <= 0:
            raise ValueError(f"`temperature > 0` must hold, got temperature={temperature}")
        self.alpha, self.temperature = float(alpha), float(temperature)
        self.task, self.target_scale = task, float(target_scale)
        self.student_head = head_of(student, task)
        self.teacher_head = head_of(teacher, task)
        self.teacher_head.trainable = False

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        return self.student_head(inputs, training=training)

    def compute_loss(self, x: Any = None, y: Any = None, y_pred: Any = None, sample_weight: Any = None,
                     training: bool = True) -> Any:
        if training:
            teacher = ops.stop_gradient(self.teacher_head(x, training=False))
            loss = distillation_loss(y, y_pred, teacher, alpha=self.alpha, temperature=self.temperature,
                                     task=self.task, target_scale=self.target_scale)
        else:
            loss = task_loss(y, y_pred, task=self.task, target_scale=self.target_scale)
        regularization = self.student_head.losses
        return loss + ops.sum(ops.stack(regularization)) if regularization else loss

    def compute_metrics(self, x: Any, y: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        # the loss reads logits; metrics (AUC, ...) read probabilities, as on the student itself
        if self.task == "classification":
            y_pred = ops.softmax(y_pred, axis=-1)
        return super().compute_metrics(x, y, y_pred, sample_weight=sample_weight)
