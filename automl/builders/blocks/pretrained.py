"""pretrained: a ``keras.applications`` backbone (optionally with ImageNet weights), fine-tuned in two phases.

The model takes raw 0-255 pixels: it resizes them to ``resolution`` and applies the application's own
preprocessing inside the model, so an exported .tflite takes the data's images as they are.

Weights are read from a file, never downloaded here: ``imagenet`` is Keras's cache (``$KERAS_HOME/models``,
default ``~/.keras/models``), a folder is a mirror with Keras's file names, a file is a ``.weights.h5`` of the
same application (``include_top=False``) or Keras's own download. Validation names the missing file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from automl.builders.blocks.base import BLOCKS, Block, BuildContext, FineTuning, ParamProblem, head
from automl.space.params import CategoricalParam, FixedParam, Param, fixed

BACKBONE_LAYER = "pretrained_backbone"
_BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"
#: ImageNet widths Keras publishes weights for
_V2_ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)
_V2_ROWS = (96, 128, 160, 192, 224)


@dataclass(frozen=True)
class Backbone:
    """One application: its Keras constructor and how Keras names its no-top ImageNet weights file."""

    constructor: str
    alphas: tuple[float, ...] | None  # the widths with ImageNet weights; None: the application has no alpha
    url_folder: str

    def file_name(self, name: str, alpha: float, resolution: int) -> str:
        if name == "mobilenet_v2":
            rows = resolution if resolution in _V2_ROWS else 224  # Keras falls back to the 224 file
            return f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}_no_top.h5"
        if name.startswith("mobilenet_v3_"):
            return f"weights_mobilenet_v3_{name.rpartition('_')[2]}_224_{float(alpha)}_float_no_top_v2.h5"
        return "efficientnetv2-b0_notop.h5"


BACKBONES: dict[str, Backbone] = {
    "mobilenet_v2": Backbone("MobileNetV2", _V2_ALPHAS, "mobilenet_v2/"),
    "mobilenet_v3_small": Backbone("MobileNetV3Small", (0.75, 1.0), "mobilenet_v3/"),
    "mobilenet_v3_large": Backbone("MobileNetV3Large", (0.75, 1.0), "mobilenet_v3/"),
    "efficientnet_v2_b0": Backbone("EfficientNetV2B0", None, "efficientnet_v2/"),
}
WEIGHT_WORDS = ("none", "imagenet")


def keras_models_dir() -> Path:
    """Where Keras caches downloaded application weights (``$KERAS_HOME/models``, default ``~/.keras/models``)."""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras") / "models"


def weights_file(weights: Any, backbone: str, alpha: float, resolution: int) -> str | None:
    """The file a backbone's weights are read from (None: random initialization); a missing file raises
    ``FileNotFoundError`` naming the file Keras wants and where to put it."""
    if weights in (None, "none"):
        return None
    bb = BACKBONES[backbone]
    name = bb.file_name(backbone, alpha, resolution)
    if weights == "imagenet":
        folder = keras_models_dir()
        path = folder / name
        if not path.is_file():
            raise FileNotFoundError(
                f"imagenet weights of {backbone} need {name} in {folder} (no download here: fetch "
                f"{_BASE_URL}{bb.url_folder}{name} and put it there, or give weights: FILE or a folder)")
        return str(path)
    path = Path(str(weights))
    if path.is_dir():
        if not (path / name).is_file():
            raise FileNotFoundError(f"weights folder {path} has no {name} (the file Keras names {backbone}'s weights)")
        return str(path / name)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} does not exist")
    return str(path)


def _grid(spec: Param | None, default: Any) -> list[Any]:
    if isinstance(spec, FixedParam | CategoricalParam):
        return list(spec.grid())
    return [default]  # a range: checked when a trial draws it


@BLOCKS.register("pretrained")
class PretrainedBlock(Block):
    name = "pretrained"
    ranks = (4,)
    raw_inputs = True
    description = ("A `keras.applications` backbone (`backbone`, width `alpha`) on raw 0-255 pixels: resized to "
                   "`resolution` and preprocessed as the application expects inside the model, global-average "
                   "pooled, then the head. `weights`: `imagenet` (Keras's cache, `$KERAS_HOME/models`), a folder "
                   "with Keras's file names, a `.weights.h5` file of the same application (`include_top=False`) "
                   "or `none`; a relative path is read from the space file's folder. Trained in two phases: "
                   "`frozen_epochs` with the backbone frozen, then the top `unfreeze` fraction of its layers "
                   "(BatchNormalization stays frozen) at `lr` x `finetune_lr_factor`.")

    def hyperparameters(self, rank: int | None = None) -> dict[str, Param]:
        return {
            "backbone": fixed("mobilenet_v3_small"),
            "alpha": fixed(1.0).conditioned({"backbone": ["mobilenet_v2", "mobilenet_v3_small",
                                                          "mobilenet_v3_large"]}),
            "resolution": fixed(None),
            "weights": fixed("imagenet"),
            "frozen_epochs": fixed(3),
            "unfreeze": fixed(0.3),
            "finetune_lr_factor": fixed(0.1),
            "dropout": fixed(0.2),
            "dense_units": fixed(0),
        }

    def settle(self, params: dict[str, Param], base: Path) -> dict[str, Param]:
        """``weights`` with relative paths made absolute (from ``base``, the space file's folder), and every
        file it names checked for every backbone and width the space can draw."""
        spec = params.get("weights")
        if spec is None:
            return params
        values = _grid(spec, "imagenet")
        settled = [v if v in (None, *WEIGHT_WORDS) else str((base / str(v)).resolve()) for v in values]
        for value in settled:
            for backbone in _grid(params.get("backbone"), "mobilenet_v3_small"):
                if backbone not in BACKBONES:
                    continue  # the backbone's own check names it
                for alpha in _grid(params.get("alpha"), 1.0):
                    for resolution in _grid(params.get("resolution"), 224):
                        try:
                            weights_file(value, backbone, float(alpha), int(resolution or 224))
                        except FileNotFoundError as exc:
                            raise ParamProblem("weights", str(exc)) from exc
        if isinstance(spec, FixedParam):
            new: Param = spec.model_copy(update={"value": settled[0]})
        elif isinstance(spec, CategoricalParam):
            new = spec.model_copy(update={"choices": settled})
        else:
            new = spec
        return {**params, "weights": new}

    def fine_tuning(self, hp: dict[str, Any]) -> FineTuning:
        return FineTuning(frozen_epochs=int(hp.get("frozen_epochs", 3)), unfreeze=float(hp.get("unfreeze", 0.3)),
                          lr_factor=float(hp.get("finetune_lr_factor", 0.1)), layer=BACKBONE_LAYER)

    def build(self, x: Any, hp: dict[str, Any], ctx: BuildContext) -> Any:
        import keras

        name = str(hp.get("backbone", "mobilenet_v3_small"))
        bb = BACKBONES[name]
        resolution = int(hp.get("resolution") or max(32, min(ctx.input_shape[0], ctx.input_shape[1])))
        alpha = float(hp.get("alpha") or 1.0)
        if ctx.input_shape[-1] == 1:  # grey images: the backbone wants three channels
            x = keras.layers.Concatenate(name="pretrained_rgb")([x, x, x])
        elif ctx.input_shape[-1] != 3:
            raise ValueError(f"block pretrained needs images of 1 or 3 channels, got {ctx.input_shape[-1]}")
        if tuple(ctx.input_shape[:2]) != (resolution, resolution):
            x = keras.layers.Resizing(resolution, resolution, name="pretrained_resize")(x)
        args: dict[str, Any] = {"input_shape": (resolution, resolution, 3), "include_top": False,
                                "weights": weights_file(hp.get("weights", "imagenet"), name, alpha, resolution),
                                "pooling": "avg", "name": BACKBONE_LAYER}
        if name == "mobilenet_v2":  # its preprocess_input (x / 127.5 - 1) as a layer; V3 and EfficientNetV2 have theirs
            x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="pretrained_preprocess")(x)
        else:
            args["include_preprocessing"] = True
        if bb.alphas is not None:
            args["alpha"] = alpha
        if name.startswith("efficientnet"):  # EfficientNetV2 reads `name` as its model's key (blocks, widths)
            del args["name"]
        backbone = getattr(keras.applications, bb.constructor)(**args)
        backbone.name = BACKBONE_LAYER  # what phase two finds it by
        backbone.trainable = False  # phase one; the trial unfreezes its top (unfreeze_top)
        # training=False: BatchNormalization keeps its moving statistics in both phases
        x = backbone(x, training=False)
        return head(x, hp, "pretrained")

    def unfreeze_top(self, model: Any, plan: FineTuning) -> None:
        """Phase two: the top ``plan.unfreeze`` fraction of the backbone's layers trainable, BatchNorm frozen."""
        import keras

        backbone = model.get_layer(plan.layer)
        backbone.trainable = True
        layers = backbone.layers
        first = len(layers) - round(plan.unfreeze * len(layers))
        for i, layer in enumerate(layers):
            layer.trainable = i >= first and not isinstance(layer, keras.layers.BatchNormalization)
