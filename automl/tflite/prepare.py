"""Turn a trained Keras model into the graph that gets exported.

Two rewrites, each a clone with the trained weights copied over:

- training-only layers (dropout, noise, augmentation) become ``Identity``: they do nothing at inference,
  and leaving them out keeps their random ops out of the file;
- recurrent layers (LSTM, GRU, SimpleRNN, also inside ``Bidirectional``) are unrolled: with a dynamic batch
  dimension they need TensorFlow's TensorList ops, which TFLite's builtins lack, and a fixed batch of 1
  crashed the full-integer converter (TensorFlow 2.21), while an unrolled loop converts in every format.
"""

from __future__ import annotations

from typing import Any

from automl._text import first_line
from automl.errors import ExportError

TRAINING_ONLY = frozenset({
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise", "GaussianDropout",
    "AlphaDropout", "ActivityRegularization", "RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation",
    "RandomContrast", "RandomBrightness", "RandomGrayscale", "RandomHue", "RandomSaturation", "RandomSharpness",
    "RandomShear", "RandomColorJitter", "RandomColorDegeneration", "RandomErasing", "RandomGaussianBlur",
    "RandomInvert", "RandomPerspective", "RandomPosterization", "RandomElasticTransform", "AugMix",
    "RandAugment", "CutMix", "MixUp", "Solarization",
})
RECURRENT = frozenset({"LSTM", "GRU", "SimpleRNN", "Bidirectional", "RNN", "ConvLSTM1D", "ConvLSTM2D"})


def all_layers(model: Any) -> list[Any]:
    """Every layer of ``model``, nested models and wrapped layers included, depth first."""
    out: list[Any] = []
    for layer in getattr(model, "layers", []):
        out.append(layer)
        if hasattr(layer, "layers"):
            out += all_layers(layer)
        inner = getattr(layer, "layer", None) or getattr(layer, "forward_layer", None)
        if inner is not None:
            out.append(inner)
    return out


def _unrolled(config: Any) -> Any:
    """``config`` with every ``unroll: false`` (nested configs too) set to true."""
    if isinstance(config, dict):
        return {k: (True if k == "unroll" else _unrolled(v)) for k, v in config.items()}
    if isinstance(config, list):
        return [_unrolled(v) for v in config]
    return config


def _needs_rewrite(model: Any) -> bool:
    return any(type(layer).__name__ in TRAINING_ONLY | RECURRENT for layer in all_layers(model))


def inference_model(model: Any) -> Any:
    """A copy of ``model`` for export: training-only layers removed, recurrent layers unrolled.

    Returns ``model`` itself when there is nothing to rewrite.
    """
    import keras

    if not _needs_rewrite(model):
        return model

    def clone(layer: Any) -> Any:
        kind = type(layer).__name__
        if kind in TRAINING_ONLY:
            return keras.layers.Identity(name=layer.name)
        if kind in RECURRENT:
            return type(layer).from_config(_unrolled(layer.get_config()))
        return type(layer).from_config(layer.get_config())

    try:
        copy = keras.models.clone_model(model, clone_function=clone, recursive=True)
    except Exception as exc:  # a subclassed model or a layer without get_config
        raise ExportError(f"cannot rebuild model '{model.name}' for export (to drop training-only layers and "
                          f"unroll recurrent ones): {first_line(exc, 200, typed=True)}") from None
    for layer in all_layers(copy):
        if type(layer).__name__ in RECURRENT and _time_steps(layer) is None:
            raise ExportError(f"layer '{layer.name}' ({type(layer).__name__}) needs a fixed sequence length to "
                              "be exported with TFLite builtin ops, got input shape "
                              f"{tuple(layer.input.shape) if hasattr(layer, 'input') else '?'}")
    copy.set_weights(model.get_weights())
    return copy


def _time_steps(layer: Any) -> int | None:
    try:
        shape = layer.input.shape
    except (AttributeError, ValueError):
        return 1  # a layer inside a wrapper: its wrapper is checked
    return shape[1] if len(shape) > 1 else None
