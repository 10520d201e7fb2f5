"""block pretrained: weights read from a file (never downloaded), two-phase fine-tuning, a validate that names the
missing ImageNet file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from mlflow import MlflowClient
from typer.testing import CliRunner

from automl.cli import app
from automl.errors import ConfigError
from automl.space import SpaceFile, resolve_space
from automl.testing import write_pipeline
from automl.tracking import tracking_uri

runner = CliRunner()


def _space(folder: Path, **params: object) -> Path:
    path = folder / "space.yaml"
    path.write_text(yaml.safe_dump({"block": "pretrained", "params": params}))
    return path


def test_imagenet_weights_missing_from_the_cache_stop_validate_with_one_line(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    path = _space(tmp_path, backbone="mobilenet_v3_small", weights="imagenet")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    line = result.output.strip()
    assert "\n" not in line and "params.weights" in line
    assert f"weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5 in {tmp_path / 'keras' / 'models'}" in line


def test_imagenet_weights_in_the_cache_are_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "efficientnetv2-b0_notop.h5").write_bytes(b"")
    space = resolve_space(SpaceFile.model_validate({"block": "pretrained", "params": {
        "backbone": "efficientnet_v2_b0"}}), 4)
    assert space.params["weights"].grid() == ["imagenet"]


def test_a_relative_weights_file_is_read_from_the_space_files_folder(tmp_path: Path) -> None:
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "b.weights.h5").write_bytes(b"")
    path = _space(tmp_path, weights="w/b.weights.h5")
    space = resolve_space(SpaceFile.model_validate(yaml.safe_load(path.read_text())), 4, file=str(path))
    assert space.params["weights"].grid() == [str(tmp_path / "w" / "b.weights.h5")]
    with pytest.raises(ConfigError, match=r"space.yaml: params.weights: weights file .*nope.h5 does not exist"):
        resolve_space(SpaceFile.model_validate({"block": "pretrained", "params": {"weights": "nope.h5"}}), 4,
                      file=str(path))


def test_a_folder_of_weights_names_the_file_keras_wants(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="has no mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.5_96_no_top.h5"):
        resolve_space(SpaceFile.model_validate({"block": "pretrained", "params": {
            "backbone": "mobilenet_v2", "alpha": 0.5, "resolution": 96, "weights": str(tmp_path)}}), 4)


@pytest.mark.slow
def test_a_study_fine_tunes_in_two_phases_from_a_weights_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import keras

    monkeypatch.chdir(tmp_path)
    app_model = keras.applications.MobileNetV3Small(input_shape=(32, 32, 3), include_top=False, weights=None,
                                                    include_preprocessing=True, pooling="avg")
    (tmp_path / "weights").mkdir()
    app_model.save_weights(tmp_path / "weights" / "small.weights.h5")
    space = {"block": "pretrained", "params": {"backbone": "mobilenet_v3_small", "weights": "weights/small.weights.h5",
                                               "frozen_epochs": 1, "unfreeze": 0.3, "lr": 1e-3}}
    path = write_pipeline(tmp_path, name="pre", space=space, study={"trials": 1},
                          data={"source": "synthetic", "samples": 64, "shape": [32, 32, 3], "classes": 3})
    result = runner.invoke(app, ["run", str(path)])
    assert result.exit_code == 0, result.output

    client = MlflowClient(tracking_uri())
    exp = client.get_experiment_by_name("pre")
    child = next(r for r in client.search_runs([exp.experiment_id]) if "mlflow.parentRunId" in r.data.tags)
    phases = sorted((m.step, m.value) for m in client.get_metric_history(child.info.run_id, "phase"))
    trainable = sorted((m.step, m.value) for m in client.get_metric_history(child.info.run_id, "trainable_params"))
    lrs = sorted((m.step, m.value) for m in client.get_metric_history(child.info.run_id, "lr"))
    assert [v for _, v in phases] == [1.0, 2.0]
    assert trainable[1][1] > trainable[0][1] > 0
    assert lrs[1][1] == pytest.approx(lrs[0][1] * 0.1, rel=1e-3)

    model = keras.models.load_model(tmp_path / "mlruns" / "pre" / "best.keras")
    backbone = model.get_layer("pretrained_backbone")
    first = next(w for w in backbone.weights if "kernel" in w.path)  # the stem: below the unfrozen top
    expected = next(w for w in app_model.weights if "kernel" in w.path)
    np.testing.assert_array_equal(np.asarray(first), np.asarray(expected))
