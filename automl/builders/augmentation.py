"""Image augmentation as Keras preprocessing layers inside the model: active in training only."""

from __future__ import annotations

from typing import Any

from automl._text import show
from automl.errors import ConfigError
from automl.space.params import Param, fixed

FLIPS = ("none", "horizontal", "vertical", "horizontal_and_vertical")
AUGMENTATIONS = ("flip", "rotation", "zoom", "translation", "contrast")


def augmentation_hyperparameters() -> dict[str, Param]:
    """All off by default; rotation is a fraction of a full turn, the others fractions of the size."""
    return {"flip": fixed("none"), "rotation": fixed(0.0), "zoom": fixed(0.0), "translation": fixed(0.0),
            "contrast": fixed(0.0)}


def active_augmentations(hp: dict[str, Any]) -> list[str]:
    return [k for k in AUGMENTATIONS if hp.get(k) not in (None, 0, 0.0, "none", False)]


def augment(x: Any, hp: dict[str, Any], rank: int) -> Any:
    """``x`` (raw model input) through the augmentation layers ``hp`` switches on."""
    import keras

    active = active_augmentations(hp)
    if not active:
        return x
    if rank != 4:
        raise ConfigError(f"augmentation ({', '.join(active)}) needs image (N, H, W, C) data, got rank-{rank} data")
    flip = hp.get("flip", "none")
    if flip not in FLIPS:
        raise ConfigError(f"flip: expected one of {', '.join(FLIPS)}, got {show(flip)}")
    f32 = {"dtype": "float32"}  # raw inputs, before normalization: never in a mixed precision's half floats
    if flip != "none":
        x = keras.layers.RandomFlip(flip, name="augment_flip", **f32)(x)
    if hp.get("rotation"):
        x = keras.layers.RandomRotation(float(hp["rotation"]), fill_mode="constant", name="augment_rotation",
                                        **f32)(x)
    if hp.get("zoom"):
        x = keras.layers.RandomZoom(float(hp["zoom"]), fill_mode="constant", name="augment_zoom", **f32)(x)
    if hp.get("translation"):
        t = float(hp["translation"])
        x = keras.layers.RandomTranslation(t, t, fill_mode="constant", name="augment_translation", **f32)(x)
    if hp.get("contrast"):
        x = keras.layers.RandomContrast(float(hp["contrast"]), name="augment_contrast", **f32)(x)
    return x
