"""The int8 recovery ladder: for each rung a tiny model that the earlier rungs do not fix, with the real
converter and interpreter; recovery off; a model already within max_drop tries no rung."""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from mlflow import MlflowClient
from typer.testing import CliRunner

import automl
from automl.cli import app
from automl.export.recovery import stratified
from automl.tracking import tracking_uri

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import keras  # noqa: E402

FEATURES = 6


def _data(n: int = 600, duplicate: bool = False, zeros: bool = False,
          noise: float = 0.7) -> tuple[np.ndarray, np.ndarray]:
    """Three Gaussian classes, ``noise`` their standard deviation; ``duplicate``: the last feature repeated as a
    7th column; ``zeros``: a 7th column of zeros."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=n)
    x = rng.normal(size=(3, FEATURES))[y] + rng.normal(scale=noise, size=(n, FEATURES))
    if duplicate:
        x = np.concatenate([x, x[:, -1:]], axis=1)
    if zeros:
        x = np.concatenate([x, np.zeros_like(x[:, :1])], axis=1)
    return x.astype(np.float32), y


def _spiky(n: int, seed: int, spikes: float) -> tuple[np.ndarray, np.ndarray]:
    """Sequences of 16 steps x 3 channels, three classes with faint templates (0.3) in noise (0.6); a share
    ``spikes`` of the rows holds one reading of +500 (a sensor spike) at a random step and channel."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n)
    x = np.random.default_rng(1).normal(scale=0.3, size=(3, 16, 3))[y] + rng.normal(scale=0.6, size=(n, 16, 3))
    rows = np.flatnonzero(rng.random(n) < spikes)
    x[rows, rng.integers(0, 16, len(rows)), rng.integers(0, 3, len(rows))] = 500.0
    return x.astype(np.float32), y


def _spike_model(x: np.ndarray, y: np.ndarray) -> Any:
    """Normalization (adapted on the spiky training rows) -> Flatten -> Dense(16, relu) -> logits -> softmax."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=x.shape[1:], name="input")
    norm = keras.layers.Normalization(axis=-1, name="normalize")
    norm.adapt(x)
    hidden = keras.layers.Dense(16, activation="relu", name="hidden")(keras.layers.Flatten(name="flat")(norm(inputs)))
    model = keras.Model(inputs, keras.layers.Activation("softmax", name="probs")(
        keras.layers.Dense(3, name="logits")(hidden)), name="sensor")
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=15, batch_size=32, verbose=0)
    return model


def _trained(x: np.ndarray, y: np.ndarray) -> Any:
    """input -> Dense(16, relu) 'hidden' -> Dense(3) 'logits' -> softmax (plain int8 of it loses < 1 pt)."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=x.shape[1:], name="input")
    logits = keras.layers.Dense(3, name="logits")(keras.layers.Dense(16, activation="relu", name="hidden")(inputs))
    model = keras.Model(inputs, keras.layers.Activation("softmax", name="probs")(logits), name="tiny")
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=20, batch_size=32, verbose=0)
    return model


def _outlier_unit(model: Any, value: float, shrink: float = 1.0) -> Any:
    """Hidden unit 0 outputs ``value`` whatever the input and the logits ignore it: Keras is unchanged, but
    the hidden activations' one per-tensor int8 scale is set by it. ``shrink`` scales the other hidden units
    down and their logits weights up by as much (ReLU commutes with it: the same function again)."""
    kernel, bias = model.get_layer("hidden").get_weights()
    kernel[:, 1:], bias[1:] = kernel[:, 1:] * shrink, bias[1:] * shrink
    kernel[:, 0], bias[0] = 0.0, value
    model.get_layer("hidden").set_weights([kernel, bias])
    kernel, bias = model.get_layer("logits").get_weights()
    kernel[1:, :] /= shrink
    kernel[0, :] = 0.0
    model.get_layer("logits").set_weights([kernel, bias])
    return model


def _cancelling_weights(model: Any) -> Any:
    """Weights +300 / -300 on two identical inputs of hidden unit 0: outputs unchanged, but one per-tensor
    weight scale for the whole kernel rounds every other weight to a few levels."""
    kernel, bias = model.get_layer("hidden").get_weights()
    kernel[:, 0], bias[0] = 0.0, 0.0  # unit 0 then outputs 0 in every format (the logits may read it)
    kernel[-2, 0], kernel[-1, 0] = 300.0, -300.0
    model.get_layer("hidden").set_weights([kernel, bias])
    return model


def _outlier_weights(model: Any, value: float = 250.0) -> Any:
    """Weight ``value`` from the all-zero last input to every hidden unit: outputs unchanged (exactly, in any
    precision), but each hidden channel's int8 weight scale becomes value / 127 and the weights that carry the
    signal round to a few levels, per channel or per tensor alike; only the hidden layer kept float, or weights
    trained on that grid, recover it."""
    kernel, bias = model.get_layer("hidden").get_weights()
    kernel[-1, :] = value
    model.get_layer("hidden").set_weights([kernel, bias])
    return model


@pytest.fixture(scope="module")
def shared_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("recovery_runs")


@pytest.fixture(autouse=True)
def _workdir(shared_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """One working directory (one MLflow store) for the module: a new store per test costs seconds."""
    monkeypatch.chdir(shared_dir)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return shared_dir


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """name -> (.keras file, .npz data) for each case."""
    folder = tmp_path_factory.mktemp("recovery")
    x, y = _data()
    xd, yd = _data(duplicate=True)
    xz, yz = _data(1500, zeros=True, noise=0.5)
    np.savez(folder / "data.npz", x=x, y=y)
    np.savez(folder / "dup.npz", x=xd, y=yd)
    # fixed splits, the model trained on the training rows only (a fine-tune sees those alone); 300 validation
    # rows: 1 pt is 3 of them
    np.savez(folder / "zeros.npz", x_train=xz[:900], y_train=yz[:900], x_val=xz[900:1200], y_val=yz[900:1200],
             x_test=xz[1200:], y_test=yz[1200:])
    # sensor spikes in 3 % of the training rows; validation and test rows clean (the calibration samples are
    # training rows, so min/max ranges reach +500 and the clean readings fall on a few int8 levels)
    xs, ys = _spiky(900, 0, 0.03)
    xc, yc = _spiky(600, 1, 0.0)
    np.savez(folder / "spikes.npz", x_train=xs, y_train=ys, x_val=xc[:300], y_val=yc[:300], x_test=xc[300:],
             y_test=yc[300:])
    built = {
        "spikes": (_spike_model(xs, ys), "spikes.npz"),
        "plain": (_trained(x, y), "data.npz"),
        "outlier": (_outlier_unit(_trained(x, y), 1e6), "data.npz"),
        "outlier16": (_outlier_unit(_trained(x, y), 3e3), "data.npz"),
        "cancelling": (_cancelling_weights(_trained(xd, yd)), "dup.npz"),
        "coarse": (_outlier_weights(_trained(xz[:900], yz[:900])), "zeros.npz"),
    }
    out = {}
    for name, (model, data) in built.items():
        model.save(folder / f"{name}.keras")
        out[name] = (folder / f"{name}.keras", folder / data)
    return out


def _export(tmp_path: Path, model: Path, data: Path, **export: Any) -> Any:
    name = f"rec{len(list(Path('mlruns').glob('rec*')))}" if Path("mlruns").exists() else "rec0"
    pipeline = tmp_path / f"{name}.yaml"
    pipeline.write_text(yaml.safe_dump({
        "name": name, "seed": 0, "data": {"source": "npz", "path": str(data)},
        "space": {"block": "cnn1d" if "spikes" in data.name else "mlp", "params": {}},
        "export": {"formats": ["int8"], "latency_runs": 5, "representative_samples": 200, **export}}))
    result = automl.export(pipeline, model=model)
    (f,) = result.files
    return result, f, json.loads(Path(f.json_path).read_text())


def _rungs(report: dict[str, Any]) -> list[tuple[int, str, bool]]:
    return [(s["rung"], s["name"], s["met"]) for s in report["recovery"]["steps"]]


def test_within_max_drop_no_rung_is_tried(tmp_path: Path, models: dict[str, tuple[Path, Path]]) -> None:
    _, f, report = _export(tmp_path, *models["plain"])
    rec = report["recovery"]
    assert rec["enabled"] and not rec["needed"] and rec["steps"] == [] and rec["plain_val_drop"] <= 0.01
    assert report["integer_only"] is True and not report["flagged"]
    assert not Path(f.path.replace("_int8.tflite", "_int8_plain.tflite")).exists()


def test_rung1_more_stratified_calibration_samples(tmp_path: Path, models: dict[str, tuple[Path, Path]]) -> None:
    # three calibration samples set every range: other samples clip
    result, f, report = _export(tmp_path, *models["plain"], representative_samples=3)
    rec = report["recovery"]
    assert rec["needed"] and rec["met"] and rec["plain_val_drop"] > 0.01
    assert _rungs(report) == [(1, "calibration", True)]
    assert rec["steps"][0]["settings"] == {"samples": 360, "stratified": True}
    assert report["integer_only"] is True and not report["flagged"]
    # the plain file is kept beside the recovered one, validated on the test split too
    plain = json.loads(Path(f.path.replace("_int8.tflite", "_int8_plain.json")).read_text())
    assert Path(rec["plain_file"]).name == "plain_int8_plain.tflite" and plain["drop"] == rec["plain_test"]["drop"]
    assert set(rec["cost"]) >= {"size_ratio", "latency_ratio"}

    run = MlflowClient(tracking_uri()).get_run(result.parent_run_id)
    assert run.data.tags["automl.int8.recovery"].startswith("met: rung 1 calibration")
    assert run.data.metrics["int8_recovery_met"] == 1.0
    assert run.data.metrics["int8_recovery_step1_val_drop"] <= 0.01 < run.data.metrics[
        "int8_recovery_plain_val_drop"]
    alias = MlflowClient(tracking_uri()).get_model_version_by_alias(f"{result.name}-tflite", "int8")
    assert alias.tags["recovery"].startswith("rung 1 calibration") and alias.tags["integer_only"] == "True"


def test_rung2_per_channel_scales(tmp_path: Path, models: dict[str, tuple[Path, Path]]) -> None:
    _, f, report = _export(tmp_path, *models["cancelling"], per_channel=False)
    assert _rungs(report) == [(1, "calibration", False), (2, "per_channel", True)]
    assert report["recovery"]["steps"][0]["val_drop"] > 0.01  # more samples do not help per-tensor weights
    assert report["integer_only"] is True and not report["flagged"]


def test_rung6_layers_kept_float(tmp_path: Path, models: dict[str, tuple[Path, Path]]) -> None:
    result, f, report = _export(tmp_path, *models["outlier"], qat_epochs=0)
    steps = _rungs(report)
    # the outlier is a whole unit (1/16 of the values), not a tail that a percentile clips
    assert steps[:4] == [(1, "calibration", False), (2, "per_tensor", False), (3, "clipped_ranges", False),
                         (5, "int16_activations", False)]
    assert report["recovery"]["steps"][2]["error"].startswith("skipped: no activation's min/max range")
    assert steps[-1] == (6, "float_layers", True)
    last = report["recovery"]["steps"][-1]
    assert set(last["settings"]["float_layers"]) == {"hidden", "logits"}  # the outlier tensor's two ends
    assert last["integer_only"] is False and report["integer_only"] is False
    assert report["recovery"]["per_layer"][0]["val_drop"] <= 0.01
    assert not report["flagged"] and f.recovery.met


def test_rung5_16bit_activations_keep_the_file_integer_and_say_what_they_cost(
        tmp_path: Path, models: dict[str, tuple[Path, Path]]) -> None:
    _, f, report = _export(tmp_path, *models["outlier16"], qat_epochs=0, int8_integer_only=True)
    assert _rungs(report) == [(1, "calibration", False), (2, "per_tensor", False), (3, "clipped_ranges", False),
                              (5, "int16_activations", True), (6, "float_layers", False)]
    assert report["integer_only"] is True and not report["flagged"]
    speed = report["recovery"]["latency"]
    assert speed["speed"] == "slower fallback: 16-bit activations (reference kernels)"
    assert speed["vs_plain_int8"] == round(speed["shipped_ms"] / speed["plain_int8_ms"], 4)
    line = f.recovery.summary()
    assert line.startswith("int8 recovery: max_drop met only by a slower file, rung 5 int16_activations") and (
        f"latency {speed['vs_plain_int8']:.2f}x plain int8's, {speed['vs_float32']:.2f}x float32's" in line)
    assert "\n" not in line


def test_the_fastest_fallback_that_meets_max_drop_ships(tmp_path: Path,
                                                         models: dict[str, tuple[Path, Path]]) -> None:
    # both fallbacks are tried when no plain-int8 rung meets max_drop; the faster of those that meet it ships
    _, f, report = _export(tmp_path, *models["outlier16"], qat_epochs=0)
    rec = report["recovery"]
    met = [s for s in rec["steps"] if s["met"]]
    assert {s["name"] for s in met} == {"int16_activations", "float_layers"}
    shipped = min(met, key=lambda s: s["latency_ms"])
    assert rec["took"] == f"rung {shipped['rung']} {shipped['name']}: {shipped['what']}"
    assert rec["latency"]["shipped_ms"] == shipped["latency_ms"] and not report["flagged"]


def test_rung4_quantization_aware_fine_tune(tmp_path: Path, models: dict[str, tuple[Path, Path]]) -> None:
    # a weight of 250 on an all-zero input sets every hidden channel's int8 scale (~2): the weights that carry the
    # signal round to 0 or +-2, per channel or per tensor, with 8- or 16-bit activations; integer-only, no layer
    # may stay float; weights trained on that grid recover it
    _, f, report = _export(tmp_path, *models["coarse"], int8_integer_only=True, qat_epochs=10, qat_lr=0.03)
    rec = report["recovery"]
    # a plain-int8 rung: tried before the slower fallbacks, which are then not needed
    assert _rungs(report) == [(1, "calibration", False), (2, "per_tensor", False), (3, "clipped_ranges", False),
                              (4, "qat", True)]
    assert min(s["val_drop"] for s in rec["steps"][:2]) > 0.02 and rec["plain_val_drop"] > 0.02
    qat = rec["steps"][-1]
    assert qat["val_drop"] <= 0.01 and qat["integer_only"] and qat["settings"]["kernels"] == 2  # hidden, logits
    assert qat["settings"]["epochs"] == 10 and qat["settings"]["batch_size"] == 64  # train.batch_size
    assert rec["took"].startswith("rung 4 qat") and report["integer_only"] is True and not report["flagged"]
    assert set(rec["cost"]) >= {"size_ratio", "latency_ratio"} and f.recovery.met


def test_off_ships_plain_int8_and_says_so(tmp_path: Path, models: dict[str, tuple[Path, Path]]) -> None:
    result, f, report = _export(tmp_path, *models["outlier"], int8_recovery=False)
    assert report["recovery"] == {"enabled": False} and report["flagged"] and f.recovery is None
    run = MlflowClient(tracking_uri()).get_run(result.parent_run_id)
    assert run.data.tags["automl.int8.recovery"] == "off"
    assert not any(k.startswith("int8_recovery") for k in run.data.metrics)


def test_cli_says_how_far_it_got(tmp_path: Path, models: dict[str, tuple[Path, Path]],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    recovery = importlib.import_module("automl.export.recovery")
    monkeypatch.setattr(recovery, "MAX_FLOAT_STEPS", 0)  # no float layers: nothing meets it
    model, data = models["outlier"]
    pipeline = tmp_path / "far.yaml"
    pipeline.write_text(yaml.safe_dump({"name": "far", "data": {"source": "npz", "path": str(data)},
                                        "space": {"block": "mlp", "params": {"layers": 1, "units": 8}}}))
    out = CliRunner().invoke(app, ["export", str(model), "--data", str(pipeline), "--format", "int8",
                                   "--set", "export.latency_runs=5"])
    assert out.exit_code == 0, out.output
    assert "int8 recovery: max_drop 1.00 pt NOT met after every rung (1:calibration" in out.output
    report = json.loads(Path("mlruns/far/export/outlier_int8.json").read_text())
    assert report["recovery"]["needed"] and not report["recovery"]["met"] and report["flagged"]


def test_stratified_samples_take_every_class() -> None:
    y = np.array([0] * 95 + [1] * 4 + [2])
    x = np.arange(100, dtype=np.float32)[:, None]
    picked = stratified(x, y, 6, "classification")
    assert len(picked) == 6 and 99.0 in picked[:, 0] and sum(v in picked[:, 0] for v in range(95, 99)) >= 2
    reg = stratified(x, np.linspace(0, 1, 100), 10, "regression")
    assert len(np.unique(reg // 10)) == 10  # one sample per target decile


def _activation_types(path: str) -> set[str]:
    """The dtypes of every tensor an op reads or writes, but the float I/O's QUANTIZE / DEQUANTIZE."""
    from automl.export.recovery import _graph

    interp = _graph(Path(path).read_bytes())
    return {np.dtype(interp._get_tensor_details(t, 0)["dtype"]).name for op in interp._get_ops_details()
            if op["op_name"] not in ("QUANTIZE", "DEQUANTIZE") for t in [*op["inputs"], *op["outputs"]] if t >= 0}


def test_rung3_clipped_ranges_recover_sensor_spikes_as_plain_int8(tmp_path: Path,
                                                                   models: dict[str, tuple[Path, Path]]) -> None:
    # spikes of +500 in 3 % of the training rows set the input's min/max range: plain int8 of the clean rows loses
    # points, more samples and the other weight scales do not help, and 16-bit activations would recover them at
    # many times the latency; clipped ranges recover them with int8 activations
    result, f, report = _export(tmp_path, *models["spikes"], qat_epochs=0)
    rec = report["recovery"]
    assert rec["plain_val_drop"] > 0.03 and rec["met"] and not report["flagged"]
    assert _rungs(report)[:2] == [(1, "calibration", False), (2, "per_tensor", False)]
    assert _rungs(report)[-1] == (3, "clipped_ranges", True) and rec["took"].startswith("rung 3 clipped_ranges")
    clip = rec["steps"][-1]
    assert "normalize" in clip["settings"]["clipped_layers"] and clip["settings"]["percentile"] in (99.99, 99.9, 99.5)
    first = clip["settings"]["clipped"][0]  # the spike no longer sets the input's range
    assert "input" in first["tensor"] and first["was"][1] > 400 and first["range"][1] < 10
    # a plain int8 file: int8 activations (int32 only for biases), no 16-bit or float tensor inside
    assert _activation_types(f.path) <= {"int8", "int32"} and report["integer_only"] is True
    # every candidate timed beside its drop, with plain int8 and float32
    assert all(s["latency_ms"] > 0 for s in rec["steps"] if s["val_drop"] is not None)
    speed = rec["latency"]
    assert speed["plain_int8_ms"] > 0 and speed["float32_ms"] > 0 and speed["shipped_ms"] == clip["latency_ms"]
    assert speed["speed"] == "plain int8 (int8 activations)" and "vs_float32" in speed
    run = MlflowClient(tracking_uri()).get_run(result.parent_run_id)
    steps = len(rec["steps"])
    assert run.data.metrics[f"int8_recovery_step{steps}_latency_ms"] == clip["latency_ms"]
    assert run.data.metrics["int8_recovery_latency_float32_ms"] == speed["float32_ms"]
    assert run.data.tags["automl.int8.recovery"].startswith("met: rung 3 clipped_ranges")
