"""Your own model (issue 14) end to end: a study whose space names `my_models.py:build` trains real Keras models
under both engines, inline and in a trial process; a builder that raises or returns something else fails that
trial; the builder file is recorded (path, SHA-256) and a changed file stops a resume; the best model reloads in a
fresh process with its custom layer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

import automl
from automl.builders.user import file_sha256
from automl.cli import app
from automl.testing import write_pipeline
from automl.tracking import tracking_uri

runner = CliRunner()

BUILDER = '''
import keras


@keras.saving.register_keras_serializable(package="test_models")
class Doubled(keras.layers.Layer):
    def call(self, x):
        return 2.0 * x


def build(hp, data):
    if hp.get("mode") == "raise":
        raise ValueError("no model for you")
    if hp.get("mode") == "list":
        return ["not", "a", "model"]
    inputs = keras.Input(shape=data.input_shape)
    x = Doubled()(data.normalization()(inputs))
    x = keras.layers.Dense(hp["units"], activation="relu")(x)
    return keras.Model(inputs, keras.layers.Dense(data.num_classes, activation="softmax")(x), name="mine")
'''


def _study(tmp_path: Path, *, name: str = "mine", params: dict[str, Any] | None = None, **kwargs: Any) -> Path:
    (tmp_path / "models").mkdir(exist_ok=True)
    (tmp_path / "models" / "my_models.py").write_text(BUILDER)
    space = {"block": "models/my_models.py:build",
             "params": params or {"units": {"type": "int", "low": 4, "high": 16}}}
    return write_pipeline(tmp_path, name=name, space=space, **kwargs)


def _runs(experiment: str) -> tuple[list[Any], list[Any]]:
    client = MlflowClient(tracking_uri())
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id], max_results=1000)
    return ([r for r in runs if "mlflow.parentRunId" not in r.data.tags],
            [r for r in runs if "mlflow.parentRunId" in r.data.tags])


def test_a_study_of_your_own_model_is_logged_recorded_and_reloads(tmp_path: Path) -> None:
    result = automl.run(_study(tmp_path, study={"trials": 2}))
    assert [t.state for t in result.trials] == ["COMPLETE", "COMPLETE"]
    builder = tmp_path / "models" / "my_models.py"
    digest = file_sha256(builder)

    parents, children = _runs("mine")
    assert len(children) == 2 and all(c.info.status == "FINISHED" for c in children)
    assert all("units" in c.data.params and c.data.metrics["params_count"] > 0 for c in children)
    parent = parents[0]
    assert parent.data.params["builder"] == "models/my_models.py:build"
    assert parent.data.params["builder.path"] == str(builder)
    assert parent.data.params["builder.sha256"] == digest == parent.data.tags["automl.builder_sha256"]
    record = json.loads((tmp_path / "mlruns/mine/builder.json").read_text())
    assert record["builders"] == [{"block": "models/my_models.py:build", "target": f"{builder}:build",
                                   "path": str(builder), "function": "build", "sha256": digest}]
    assert json.loads((tmp_path / "mlruns/mine/best.json").read_text())["builders"] == record["builders"]
    study = optuna.load_study(study_name="mine", storage="sqlite:///mlruns/optuna.db")
    assert study.user_attrs["automl.builders"] == {"models/my_models.py:build": digest}

    # a process that never imported the builder does not know Doubled: automl's load imports the recorded builder
    import keras

    from automl.builders import user
    from automl.store.folder import load_model

    keras.saving.get_custom_objects().pop("test_models>Doubled")
    user._modules.clear()
    model = load_model(tmp_path / "mlruns/mine/best.keras")
    assert "Doubled" in {type(layer).__name__ for layer in model.get_layer("mine").layers}


def _reloads_in_a_fresh_process(folder: Path, model: str) -> None:
    code = ("from pathlib import Path; from automl.store.folder import load_model; "
            f"m = load_model(Path('{model}')); "
            "print(sorted({type(l).__name__ for l in m.get_layer('mine').layers}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=folder, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Doubled" in out.stdout


def test_a_builder_that_raises_or_returns_no_model_fails_its_trial_and_the_study_goes_on(tmp_path: Path) -> None:
    params = {"units": 8, "lr": 0.01, "mode": {"type": "categorical", "choices": ["ok", "raise", "list"]}}
    result = automl.run(_study(tmp_path, params=params, study={"sampler": "grid", "trials": 3}))
    reasons = {t.params["mode"]: (t.state, t.attrs.get("fail_reason")) for t in result.trials}
    assert reasons == {
        "ok": ("COMPLETE", None),
        "raise": ("FAIL", "BuilderFailed: builder my_models.py:build raised ValueError: no model for you"),
        "list": ("FAIL", "TypeError: builder my_models.py:build returned list, not a keras.Model"),
    }
    _, children = _runs("mine")
    failed = [c for c in children if c.data.tags["automl.state"] == "FAIL"]
    assert failed and all(c.info.status == "FAILED" for c in failed)
    assert {c.data.tags["automl.fail_reason"] for c in failed} == {r for s, r in reasons.values() if s == "FAIL"}
    assert result.best_value is not None


@pytest.mark.parametrize("engine", ["optuna", "keras_tuner"])
def test_a_changed_builder_file_stops_a_resume_like_a_changed_space(tmp_path: Path, engine: str) -> None:
    path = _study(tmp_path, name=f"by-{engine}", study={"engine": engine, "sampler": "random", "trials": 1})
    first = runner.invoke(app, ["run", str(path)])
    assert first.exit_code == 0, first.output
    builder = tmp_path / "models" / "my_models.py"
    before = file_sha256(builder)
    builder.write_text(BUILDER + "\n# tuned the builder\n")
    changed = runner.invoke(app, ["run", str(path)])
    assert changed.exit_code == 2, changed.output
    text = " ".join(changed.output.split())
    assert (f"study 'by-{engine}' exists with a different search space (builder models/my_models.py:build changed "
            f"since the study started: sha256 {before[:12]} -> {file_sha256(builder)[:12]}): use --name NEW_NAME"
            ) in text, text
    assert "Traceback" not in changed.output
    again = runner.invoke(app, ["run", str(path), "--new"])
    assert again.exit_code == 0, again.output


@pytest.mark.slow  # a trial process, a student study, a TFLite export and a fresh process: ~60 s on 2 cores
def test_your_own_model_in_a_trial_process_distills_and_exports(tmp_path: Path) -> None:
    path = _study(tmp_path, study={"trials": 2}, train={"isolation": "process"},
                  distill={"trials": 1, "epochs": 1}, export={"formats": ["float32"]})
    result = automl.run(path)
    assert [t.state for t in result.trials] == ["COMPLETE", "COMPLETE"]
    assert result.distill is not None and result.distill.student_path is not None
    assert 0 < result.distill.student_params < result.distill.teacher_params  # the builder, narrower
    files = [f for f in result.export.files if f.format == "float32"]
    assert files and Path(files[0].path).exists()
    _reloads_in_a_fresh_process(tmp_path, "mlruns/mine/best.keras")
