"""block pretrained over each kind of backbone at a tiny resolution: weights from a folder with Keras's file names
(a mirror, saved here from the same application with ``include_top=False``) or none; a MobileNetV3 (hard-swish)
exported to float32 and int8 files that run on raw 0-255 pixels in the interpreter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from automl.builders.blocks.pretrained import BACKBONE_LAYER, BACKBONES
from automl.builders.model import ModelSpec, build_model
from automl.runtime import import_keras

SIZE = 32  # the smallest input every backbone takes
HEAD = {"frozen_epochs": 1, "unfreeze": 0.3, "finetune_lr_factor": 0.1, "dropout": 0.0, "dense_units": 0,
        "optimizer": "adam", "lr": 1e-3}


def _application(backbone: str) -> Any:
    """The application with random weights, built as the block builds it (no top, average pooling)."""
    keras = import_keras()
    args: dict[str, Any] = {"input_shape": (SIZE, SIZE, 3), "include_top": False, "weights": None, "pooling": "avg"}
    if backbone != "mobilenet_v2":
        args["include_preprocessing"] = True
    keras.utils.set_random_seed(1)
    return getattr(keras.applications, BACKBONES[backbone].constructor)(**args)


def _mirror(folder: Path, backbone: str) -> Any:
    """A weights folder as a mirror of Keras's downloads: the application's weights in Keras's own (legacy h5)
    format, under the file name Keras gives them. Returns the application they came from."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    model = _application(backbone)
    folder.mkdir(exist_ok=True)
    with h5py.File(folder / BACKBONES[backbone].file_name(backbone, 1.0, SIZE), "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)
    return model


def _images(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Raw uint8 pixels: a bright square in the corner of the class, on noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.integers(0, 80, (n, SIZE, SIZE, 3))
    for i, c in enumerate(y):
        x[i, 10 * c:10 * c + 12, 10 * c:10 * c + 12] += 170
    return x.astype(np.uint8), y


def _kernels(model: Any) -> list[np.ndarray]:
    return [np.asarray(w) for w in model.weights if "kernel" in w.path]


@pytest.mark.parametrize("backbone", ["mobilenet_v2", "efficientnet_v2_b0"])
@pytest.mark.parametrize("weights", ["dir", "none"])
def test_a_backbone_builds_on_raw_pixels_from_a_mirror_or_from_scratch(backbone: str, weights: str,
                                                                       tmp_path: Path) -> None:
    x, y = _images(8)
    source = _mirror(tmp_path / "mirror", backbone) if weights == "dir" else _application(backbone)
    spec = ModelSpec.from_arrays(x, y, "classification", 3)
    hp = {**HEAD, "backbone": backbone, "weights": str(tmp_path / "mirror") if weights == "dir" else "none"}
    if weights == "dir":  # the block reads the file Keras names from the folder
        from automl.builders.blocks.pretrained import weights_file

        hp["weights"] = weights_file(hp["weights"], backbone, 1.0, SIZE)
    model = build_model("pretrained", hp, spec)

    loaded = model.get_layer(BACKBONE_LAYER)
    assert not loaded.trainable  # phase one: the backbone frozen
    same = [np.array_equal(a, b) for a, b in zip(_kernels(loaded), _kernels(source), strict=True)]
    assert all(same) if weights == "dir" else not any(same)  # none: fresh random weights
    probs = np.asarray(model.predict(x, verbose=0))  # uint8 0-255 pixels in: the model preprocesses them itself
    assert probs.shape == (8, 3) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)


@pytest.mark.slow  # ~60 s on a quiet core: a short fine-tune, then float32 and int8 conversions of MobileNetV3Small
def test_mobilenet_v3_small_exports_float32_and_int8_files_that_run_on_raw_pixels(tmp_path: Path) -> None:
    import yaml

    from automl.config import load_pipeline
    from automl.data.batches import fit_inputs
    from automl.export.exporter import export
    from automl.export.recovery import _graph
    from automl.plan import make_plan
    from automl.testing import write_pipeline
    from automl.tflite.validate import TFLiteModel

    keras = import_keras()
    source = _application("mobilenet_v3_small")
    source.save_weights(tmp_path / "small.weights.h5")  # weights: FILE of the same application
    x, y = _images(240)
    (tmp_path / "d").mkdir()
    np.save(tmp_path / "d" / "x.npy", x)
    np.save(tmp_path / "d" / "y.npy", y)
    params = {**HEAD, "backbone": "mobilenet_v3_small", "weights": "small.weights.h5", "frozen_epochs": 3}
    (tmp_path / "space.yaml").write_text(yaml.safe_dump({"block": "pretrained", "params": params}))
    max_drop = 0.05
    pipeline = write_pipeline(tmp_path, name="v3", data={"source": "npy", "path": str(tmp_path / "d")},
                              space="space.yaml",
                              export={"formats": ["float32", "int8"], "latency_runs": 3, "representative_samples": 64,
                                      "max_drop": max_drop, "qat_epochs": 0, "int8_integer_only": True})
    plan = make_plan(load_pipeline(pipeline))
    d = plan.data
    keras.utils.set_random_seed(0)
    spec = ModelSpec.from_arrays(d.x_train, d.y_train, d.task, d.num_classes)
    hp = {**params, "weights": str(tmp_path / "small.weights.h5")}
    model = build_model("pretrained", hp, spec)
    model.fit(**fit_inputs(d.x_train, d.y_train, 32, seed=0), epochs=3, verbose=0)  # the head, on the frozen backbone
    plan.output_dir.mkdir(parents=True, exist_ok=True)
    model.save(plan.output_dir / "best.keras")

    result = export(plan.pipeline, plan=plan)

    files = {f.format: f for f in result.files}
    assert set(files) == {"float32", "int8"}
    ops = {op["op_name"] for op in _graph(Path(files["float32"].path).read_bytes())._get_ops_details()}
    assert "HARD_SWISH" in ops, sorted(ops)  # MobileNetV3's activation as a builtin op
    int8 = files["int8"]
    assert int8.validation.input.dtype == "float32" and int8.validation.samples == len(d.x_test)
    if int8.validation.flagged:  # over max_drop: the recovery ladder says how far it got
        assert int8.recovery is not None and int8.recovery.steps, int8.validation.drop
        assert "not met" in int8.recovery.took or int8.recovery.met
    else:
        assert int8.validation.drop <= max_drop + 1e-6
    raw = np.asarray(d.x_test[:16])  # uint8 0-255 pixels as a caller has them
    keras_probs = np.asarray(keras.models.load_model(plan.output_dir / "best.keras").predict(raw, verbose=0))
    for f in files.values():
        probs = TFLiteModel(f.path).predict(raw)
        assert probs.shape == (16, 3) and np.allclose(probs.sum(axis=1), 1.0, atol=0.05)
        agree = np.mean(probs.argmax(1) == keras_probs.argmax(1))
        assert agree >= (0.99 if f.format == "float32" else 0.5), (f.format, agree)
