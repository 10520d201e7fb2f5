"""export.sparsity: the pruning schedule and callback on plain Keras 3, and the sparse files of a real export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

import automl
from automl.cli import app
from automl.export.sparsity import PRUNED, PruningCallback, magnitude_mask, measure, prunable, schedule
from automl.runtime import import_keras
from automl.testing import write_pipeline
from automl.tracking import tracking_uri

keras = import_keras()
runner = CliRunner()


def test_schedule_ramps_polynomially_from_zero_to_the_target() -> None:
    values = [schedule(step, 0.5, 30) for step in range(0, 40)]
    assert values[0] == 0.0 and values[30] == values[39] == 0.5
    assert all(a <= b for a, b in zip(values, values[1:], strict=False))
    assert values[10] > 0.5 * 10 / 30  # polynomial: fast early, flat near the target
    mask = magnitude_mask(np.array([[0.3, -0.1], [0.05, -2.0]], dtype=np.float32), 0.5)
    assert mask.tolist() == [[1.0, 0.0], [0.0, 1.0]]


def _tiny_model() -> tuple[object, np.ndarray, np.ndarray]:
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(160, 12, 3)).astype(np.float32)
    y = (x[:, :, 0].mean(axis=1) > 0).astype(int)
    inputs = keras.Input((12, 3))
    h = keras.layers.Normalization(mean=0.0, variance=1.0, name="norm")(inputs)
    h = keras.layers.Conv1D(8, 3, activation="relu", name="conv")(h)
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.GlobalAveragePooling1D()(h)
    h = keras.layers.Dense(10, activation="relu", name="hidden")(h)
    out = keras.layers.Dense(2, activation="softmax", name="logits")(h)
    model = keras.Model(inputs, out)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    return model, x, y


def test_callback_reaches_the_target_exactly_prunes_only_kernels_and_zeros_stay_zero() -> None:
    model, x, y = _tiny_model()
    assert [name for name, _ in prunable(model)] == ["conv", "hidden", "logits"]
    callback = PruningCallback(model, 0.5, ramp_steps=8)
    model.fit(x, y, epochs=3, batch_size=32, callbacks=[callback], verbose=0)  # 15 steps: ramp, then constant
    sparsity = measure(model)
    assert sparsity["layers"] == {"conv": 0.5, "hidden": 0.5, "logits": 0.5}  # 72, 80, 20 weights: exact
    assert sparsity["kernels"] == 0.5 and 0.0 < sparsity["all"] < 0.5
    for layer in model.layers:  # biases, normalization and batch norm stay dense
        for var in layer.weights:
            if not var.path.endswith("kernel"):
                assert np.count_nonzero(np.asarray(var.numpy()) == 0) == 0 or layer.name == "norm", var.path
    zeros = {name: np.asarray(v.numpy()) == 0 for name, v in prunable(model)}
    model.fit(x, y, epochs=2, batch_size=32, callbacks=[callback], verbose=0)  # more optimizer steps
    for name, var in prunable(model):
        w = np.asarray(var.numpy())
        assert np.all(w[zeros[name]] == 0), name  # a pruned weight never comes back
        assert np.mean(w == 0) == 0.5


@pytest.mark.slow  # 16-25 s on 2 shared cores: a tuning trial, two dense and two sparse files, the CLI
def test_run_with_sparsity_writes_sparse_files_beside_the_dense_ones(tmp_path: Path) -> None:
    export = {"formats": ["float32", "int8"], "sparsity": 0.5, "sparsity_epochs": 2, "latency_runs": 5,
              "representative_samples": 50, "max_drop": 0.05, "sparse_encoding": True}
    pipeline = write_pipeline(tmp_path, name="sp", study={"trials": 1}, train={"epochs": 3},
                              space={"block": "mlp", "params": {"layers": 1, "units": 256, "lr": 1e-2}},
                              export=export)
    result = automl.run(pipeline).export
    assert result is not None and result.sparse is not None
    folder = Path("mlruns/sp/export")
    assert [Path(f.path).name for f in result.files] == ["best_float32.tflite", "best_int8.tflite"]
    assert [Path(f.path).name for f in result.sparse_files] == ["best_sparse_float32.tflite",
                                                                "best_sparse_int8.tflite"]
    assert (folder / "best_sparse.keras").exists()
    sparse = keras.models.load_model(folder / "best_sparse.keras", compile=False)
    assert measure(sparse)["kernels"] == pytest.approx(0.5, abs=0.01)  # only zeros left, no masks
    assert [type(layer).__name__ for layer in sparse.layers] == [
        type(layer).__name__ for layer in keras.models.load_model("mlruns/sp/best.keras", compile=False).layers]

    from ai_edge_litert.interpreter import Interpreter

    for f in result.sparse_files:
        report = json.loads(Path(f.json_path).read_text())
        sp = report["sparsity"]
        assert sp["measured"]["kernels"] == pytest.approx(0.5, abs=0.01)
        assert 0.3 < sp["measured"]["all"] < 0.5  # biases and normalization stay dense
        assert sp["gzip_ratio"] < 1 and sp["gzip_bytes"] < sp["dense_gzip_bytes"]
        # float formats in TFLite's sparse tensors (smaller files); int8 stays dense-encoded: XNNPACK refuses it
        assert sp["encoding"] == ("sparse tensors" if f.format == "float32" else "dense")
        assert (sp["size_ratio"] < 1) == (f.format == "float32")
        assert sp["dense_file"] == str(folder / f"best_{f.format}.tflite")
        assert sp["decided_on"] == "validation" and set(sp["validation"]) >= {"dense", "sparse", "drop", "flagged"}
        assert sp["test"]["drop"] == pytest.approx(sp["test"]["dense"] - sp["test"]["sparse"])
        assert report["keras_value"] == sp["test"]["dense"]  # the file is judged against the dense model
        assert sp["fine_tune"]["epochs"] == 2 and len(sp["fine_tune"]["history"]["val_loss"]) == 2
        assert sp["fine_tune"]["kept_epoch"] == 2  # the only epoch that ends at the target (the ramp: 2/3 of the steps)
        assert Path(f.path).read_bytes() != (folder / f"best_{f.format}.tflite").read_bytes()
        interp = Interpreter(model_path=f.path)  # the sparse file runs in the interpreter
        interp.allocate_tensors()
        inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
        interp.set_tensor(inp["index"], np.zeros([1, *inp["shape"][1:]], dtype=np.float32))
        interp.invoke()
        assert interp.get_tensor(out["index"]).shape == (1, 3)

    client = MlflowClient(tracking_uri())
    metrics = client.get_run(result.parent_run_id).data.metrics
    assert {"sparsity_kernels", "sparsity_all", "sparse_val_drop", "sparse_test_drop", "sparse_float32_gzip_ratio",
            "sparse_int8_gzip_ratio", "sparse_int8_drop"} <= set(metrics)
    version = client.get_model_version_by_alias("sp-tflite", "sparse_int8")
    assert version.tags["format"] == "int8" and float(version.tags["sparsity"]) == pytest.approx(0.5, abs=0.01)
    assert client.get_model_version_by_alias("sp-tflite", "int8").version != version.version


@pytest.mark.parametrize(("value", "message"), [
    ("1.5", "export.sparsity: expected a value < 1, got 1.5"),
    ("0", "export.sparsity: expected a value > 0, got 0"),
])
def test_cli_bad_sparsity_is_one_line_naming_the_key(tmp_path: Path, value: str, message: str) -> None:
    pipeline = write_pipeline(tmp_path, name="badsp")
    out = runner.invoke(app, ["export", str(pipeline), "--set", f"export.sparsity={value}"])
    assert out.exit_code == 2
    assert out.output.strip() == f"{pipeline}: {message}"


def test_cli_export_of_a_regression_model_with_sparsity(tmp_path: Path) -> None:
    from tests.export.test_exporter import _save_model

    pipeline = write_pipeline(tmp_path, name="spreg", data={"source": "synthetic", "samples": 200, "features": 8,
                                                            "classes": 0})
    _save_model(pipeline, epochs=10)
    out = runner.invoke(app, ["export", str(pipeline), "--format", "float32", "--set", "export.sparsity=0.25",
                              "--set", "export.sparsity_epochs=2", "--set", "export.latency_runs=3"])
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())
    assert "25.0% zeros in the pruned kernels" in text and "best_sparse_float32.tflite" in text
    assert "sparse vs dense Keras: validation drop" in text and "x the dense file's" in text
    sp = json.loads(Path("mlruns/spreg/export/best_sparse_float32.json").read_text())
    assert sp["metric"] == "mae" and sp["sparsity"]["measured"]["kernels"] == pytest.approx(0.25, abs=0.01)
    test = sp["sparsity"]["test"]  # the relative MAE increase of the pruned model over the dense one
    assert test["drop"] == pytest.approx((test["sparse"] - test["dense"]) / test["dense"])
    assert sp["sparsity"]["gzip_ratio"] < 1
    assert sp["sparsity"]["dense_file"] == "mlruns/spreg/export/best_float32.tflite"
    sparse_file = Path("mlruns/spreg/export/best_sparse_float32.tflite")
    assert sparse_file.read_bytes() != Path(sp["sparsity"]["dense_file"]).read_bytes()

    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(sparse_file))  # the sparse file runs in the interpreter
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    interp.set_tensor(inp["index"], np.zeros([1, *inp["shape"][1:]], dtype=np.float32))
    interp.invoke()
    assert np.isfinite(interp.get_tensor(out["index"])).all()



def test_attention_projections_are_pruned_and_recurrent_kernels_are_not() -> None:
    from tests.export.conftest import make_data, recurrent_model, transformer_model

    x, _ = make_data((12, 3), n=40)
    assert [name for name, _ in prunable(transformer_model(x))] == [
        "embed", "attention/attention_output", "attention/value", "attention/key", "attention/query", "ff1", "ff2",
        "logits"]
    assert [name for name, _ in prunable(recurrent_model(x, "LSTM"))] == ["logits"]


def _conv_input(layer_class: str) -> tuple[int, ...]:
    return (6, 6, 4) if layer_class.endswith(("2D", "2DTranspose")) else (
        (6, 6, 6, 4) if layer_class.endswith(("3D", "3DTranspose")) else (6, 4))


@pytest.mark.parametrize("layer_class", sorted(PRUNED))
def test_every_pruned_name_is_a_weight_of_that_keras_layer(layer_class: str) -> None:
    kwargs: dict[str, object] = {"units": 3} if layer_class == "Dense" else (
        {"equation": "ab,bc->ac", "output_shape": 3} if layer_class == "EinsumDense" else
        {"kernel_size": 3} if layer_class.startswith("Depthwise") else {"filters": 3, "kernel_size": 3})
    shape = (4,) if "Dense" in layer_class else _conv_input(layer_class)
    layer = getattr(keras.layers, layer_class)(**kwargs)
    layer.build((None, *shape))
    names = {var.path.rsplit("/", 1)[-1] for var in layer.weights}
    assert set(PRUNED[layer_class]) <= names, f"{layer_class} has weights {sorted(names)}"
    assert [v is not None for _, v in prunable(keras.Sequential([keras.Input(shape), layer]))] == [True] * len(
        PRUNED[layer_class])


def test_depthwise_and_separable_kernels_reach_the_target() -> None:
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8, 8, 3)).astype(np.float32)
    y = (x[:, :4].mean(axis=(1, 2, 3)) > 0).astype(int)
    inputs = keras.Input((8, 8, 3))
    h = keras.layers.DepthwiseConv2D(3, depth_multiplier=4, name="depthwise")(inputs)
    h = keras.layers.SeparableConv2D(16, 3, name="separable")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax", name="logits")(h))
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    assert [name for name, _ in prunable(model)] == [
        "depthwise", "separable/depthwise_kernel", "separable/pointwise_kernel", "logits"]
    model.fit(x, y, epochs=2, batch_size=16, callbacks=[PruningCallback(model, 0.5, ramp_steps=4)], verbose=0)
    layers = measure(model)["layers"]
    assert layers["depthwise"] == 0.5  # 3 x 3 x 3 x 4 = 108 weights
    assert layers["separable/depthwise_kernel"] == 0.5 and layers["separable/pointwise_kernel"] == 0.5
    assert np.sum(model.get_layer("depthwise").kernel.numpy() == 0) == 54


def test_a_pruned_name_the_layer_lacks_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    from automl.errors import ExportError
    from automl.export import sparsity

    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.DepthwiseConv2D(3, name="dw")(inputs))
    monkeypatch.setitem(sparsity.PRUNED, "DepthwiseConv2D", ("depthwise_kernel",))
    with pytest.raises(ExportError, match=r"layer 'dw' \(DepthwiseConv2D\) has no weight `depthwise_kernel`"):
        prunable(model)
