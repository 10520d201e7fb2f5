"""train.precision: mixed trials compute in half floats, and what they leave behind is an ordinary float32 model."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from automl.builders.model import ModelSpec, build_model
from automl.config.models import DataConfig
from automl.data import load_dataset
from automl.runtime import resolve_precision
from automl.trial import TrialRequest, run_trial

HP = {"layers": 2, "units": 16, "activation": "relu", "dropout": 0.0, "optimizer": "adam", "lr": 0.01}


@pytest.fixture(scope="module")
def data():
    return load_dataset(DataConfig(source="synthetic", samples=240, features=8, classes=3))


def test_mixed_float16_model_layout(data) -> None:
    spec = ModelSpec.from_arrays(data.x_train, data.y_train, data.task, data.num_classes, precision="mixed_float16")
    model = build_model("mlp", HP, spec)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert dense[0].compute_dtype == "float16" and dense[0].variable_dtype == "float32"
    assert model.get_layer("normalize").compute_dtype == "float32"  # raw inputs never in float16
    assert model.get_layer("logits").compute_dtype == "float32" and model.output.dtype == "float32"
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored


def test_mixed_trial_leaves_a_float32_model(data) -> None:
    spec = ModelSpec.from_arrays(data.x_train, data.y_train, data.task, data.num_classes, precision="mixed_float16")
    result = run_trial(TrialRequest(number=0, block="mlp", hp=HP, spec=spec, metric="val_accuracy",
                                    direction="maximize", epochs=3, batch_size=32, seed=0), data)
    assert result.state == "COMPLETE", result.reason
    assert all(layer.compute_dtype == "float32" for layer in result.model.layers)
    assert not isinstance(result.model.optimizer, keras.optimizers.LossScaleOptimizer)
    probs = result.model.predict(data.x_val, verbose=0)
    # the float32 copy predicts what the float16 model scored (a few borderline samples may flip)
    assert float(np.mean(probs.argmax(-1) == data.y_val)) == pytest.approx(result.value, abs=0.05)


def test_auto_is_float32_without_a_gpu() -> None:
    assert resolve_precision("auto") == "float32"  # CI and this test run on CPU
    assert resolve_precision("mixed_bfloat16") == "mixed_bfloat16"


def test_cli_study_in_mixed_precision_saves_float32(tmp_path) -> None:
    from typer.testing import CliRunner

    from automl.cli import app
    from automl.testing import write_pipeline

    path = write_pipeline(tmp_path, study={"trials": 2}, train={"epochs": 1, "precision": "mixed_float16"})
    result = CliRunner().invoke(app, ["run", str(path), "--quiet"])
    assert result.exit_code == 0, result.output
    best = keras.models.load_model(tmp_path / "mlruns" / "tiny" / "best.keras")
    assert all(layer.compute_dtype == "float32" for layer in best.layers)
    bad = CliRunner().invoke(app, ["validate", str(path), "--set", "train.precision=float8"])
    assert bad.exit_code == 2 and "train.precision" in bad.output and "Traceback" not in bad.output
