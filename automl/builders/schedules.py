"""Learning-rate schedules by name, counted in epochs, plus linear warmup and reduce-on-plateau.

Every schedule is a Keras ``LearningRateSchedule`` evaluated per optimizer step. Warmup wraps any of
them; reduce-on-plateau scales any of them through a variable factor (:class:`~automl.builders.custom.Scaled`)
that a callback lowers, because Keras refuses to set the rate of an optimizer built with a schedule.
So ``warmup + cosine + plateau`` is one schedule object that saves and reloads with the model.
"""

from __future__ import annotations

from typing import Any

from automl.builders.registry import Registry
from automl.space.params import Param, fixed, float_range, int_range

SCHEDULES: Registry[Any] = Registry("schedule")


def schedule_hyperparameters() -> dict[str, Param]:
    return {
        "schedule": fixed("constant"),
        "decay_rate": float_range(0.1, 0.9).conditioned({"schedule": ["exponential", "step"]}),
        "decay_epochs": int_range(1, 10).conditioned({"schedule": ["exponential", "step"]}),
        "power": float_range(0.5, 3.0).conditioned({"schedule": ["polynomial"]}),
        "restart_epochs": int_range(1, 10).conditioned({"schedule": ["cosine_restarts"]}),
        "min_lr_fraction": float_range(0.0, 0.1).conditioned(
            {"schedule": ["polynomial", "cosine", "cosine_restarts"]}),
        "warmup_epochs": fixed(0),
        "plateau": fixed(False),
        "plateau_factor": float_range(0.1, 0.5).conditioned({"plateau": [True]}),
        "plateau_patience": int_range(1, 5).conditioned({"plateau": [True]}),
    }


@SCHEDULES.register("constant")
def _constant(lr: float, steps_per_epoch: int = 1, epochs: int = 1, **_: Any) -> Any:
    from automl.builders.custom import Constant

    return Constant(lr)


@SCHEDULES.register("exponential")
def _exponential(lr: float, steps_per_epoch: int = 1, epochs: int = 1, decay_rate: float = 0.5,
                 decay_epochs: int = 1, **_: Any) -> Any:
    import keras

    return keras.optimizers.schedules.ExponentialDecay(lr, decay_steps=max(1, decay_epochs * steps_per_epoch),
                                                       decay_rate=float(decay_rate))


@SCHEDULES.register("step")
def _step(lr: float, steps_per_epoch: int = 1, epochs: int = 1, decay_rate: float = 0.5, decay_epochs: int = 1,
          **_: Any) -> Any:
    import keras

    # piecewise constant: the rate drops by decay_rate every decay_epochs
    return keras.optimizers.schedules.ExponentialDecay(lr, decay_steps=max(1, decay_epochs * steps_per_epoch),
                                                       decay_rate=float(decay_rate), staircase=True)


@SCHEDULES.register("polynomial")
def _polynomial(lr: float, steps_per_epoch: int = 1, epochs: int = 1, power: float = 1.0,
                min_lr_fraction: float = 0.0, **_: Any) -> Any:
    import keras

    return keras.optimizers.schedules.PolynomialDecay(lr, decay_steps=max(1, epochs * steps_per_epoch),
                                                      end_learning_rate=lr * float(min_lr_fraction),
                                                      power=float(power))


@SCHEDULES.register("cosine")
def _cosine(lr: float, steps_per_epoch: int = 1, epochs: int = 1, min_lr_fraction: float = 0.0, **_: Any) -> Any:
    import keras

    return keras.optimizers.schedules.CosineDecay(lr, decay_steps=max(1, epochs * steps_per_epoch),
                                                  alpha=float(min_lr_fraction))


@SCHEDULES.register("cosine_restarts")
def _cosine_restarts(lr: float, steps_per_epoch: int = 1, epochs: int = 1, restart_epochs: int = 2,
                     min_lr_fraction: float = 0.0, **_: Any) -> Any:
    import keras

    return keras.optimizers.schedules.CosineDecayRestarts(
        lr, first_decay_steps=max(1, restart_epochs * steps_per_epoch), alpha=float(min_lr_fraction))


def build_learning_rate(hp: dict[str, Any], steps_per_epoch: int, epochs: int) -> Any:
    """A float for a constant rate without warmup or plateau; otherwise one schedule object."""
    lr = float(hp.get("lr", 1e-3))
    name = str(hp.get("schedule", "constant"))
    warmup = int(hp.get("warmup_epochs") or 0)
    plateau = bool(hp.get("plateau", False))
    if name == "constant" and not warmup and not plateau:
        SCHEDULES.factory(name)  # still an error for an unknown name
        return lr
    kwargs = {k: v for k, v in hp.items() if k not in ("lr", "steps_per_epoch", "epochs")}
    schedule = SCHEDULES.get(name, lr=lr, steps_per_epoch=steps_per_epoch, epochs=max(1, epochs - warmup),
                             **kwargs)
    if warmup:
        from automl.builders.custom import Warmup

        schedule = Warmup(schedule, warmup_steps=warmup * steps_per_epoch, peak=lr)
    if plateau:
        from automl.builders.custom import Scaled

        schedule = Scaled(schedule)
    return schedule


def schedule_callbacks(model: Any, hp: dict[str, Any], *, monitor: str, mode: str) -> list[Any]:
    """The reduce-on-plateau callback of a model compiled with ``plateau: true`` (else none)."""
    if not hp.get("plateau"):
        return []
    from automl.builders.custom import ReduceOnPlateau, Scaled

    schedule = getattr(model.optimizer, "_learning_rate", None)  # Keras keeps the schedule object here
    if not isinstance(schedule, Scaled):
        return []
    return [ReduceOnPlateau(schedule, monitor=monitor, mode=mode, factor=float(hp.get("plateau_factor", 0.2)),
                            patience=int(hp.get("plateau_patience", 2)))]
