"""Latency measured where the model runs (issue 25), through the real path: a multi-objective study whose
`tflite_latency_ms` comes from `study.measure.command`, a local script playing the device (its figure is the
file's size / 1000, so it is deterministic and differs between models), then `automl export --pareto` timing
with `export.measure.command`. The CLI, Optuna's SQLite storage, MLflow's sqlite store, tiny Keras trainings and
the TFLite converter are real; only the phone is played."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from automl.cli import app
from automl.store.folder import StudyFolder
from automl.testing import write_pipeline

runner = CliRunner()
SMALL, LARGE = {"units": 4, "optimizer": "adam", "lr": 0.05}, {"units": 16, "optimizer": "adam", "lr": 0.05}
#: the device: pushes (chatter on stdout), then answers the file's size / 1000 ms; with a mode argument, the first
#: call fails that way and the later ones answer (so one study shows a failed trial and goes on)
DEVICE = """import os, sys, time
path, mode = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "")
calls = os.path.join(os.path.dirname(os.path.abspath(__file__)), "calls")
first = not os.path.exists(calls)
open(calls, "a").write(path + "\\n")
if first and mode == "exit":
    print("adb: error: device 'emulator-5554' not found", file=sys.stderr)
    sys.exit(1)
if first and mode == "sleep":
    time.sleep(60)
if first and mode == "silent":
    print("benchmark done")
    sys.exit(0)
print("adb push", path, "/data/local/tmp/m.tflite")
print(f"Inference (avg): {os.path.getsize(path) / 1000} ms")
"""


def _device(tmp_path: Path, mode: str = "") -> str:
    script = tmp_path / "device" / "phone.py"
    script.parent.mkdir(exist_ok=True)
    script.write_text(DEVICE)
    return f"{sys.executable} {script} {{tflite}} {mode}".strip()


def _trial_runs(name: str) -> dict[int, Any]:
    client = MlflowClient(f"sqlite:///{Path.cwd() / 'mlruns' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(name)
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id], "tags.`automl.role` = 'trial'")
    return {int(r.data.tags["automl.trial"]): r for r in runs}




@pytest.mark.slow  # a study of 3 trials with an export, then a Pareto export (~40 s)
def test_the_device_figure_is_the_latency_of_the_search_and_the_export(tmp_path: Path, temp: Path) -> None:
    command = _device(tmp_path)
    study = {"objectives": [{"val_accuracy": "maximize"}, {"tflite_latency_ms": "minimize"}], "trials": 3,
             "sampler": "random", "enqueue": [SMALL, LARGE], "measure": {"format": "float32", "command": command}}
    path = write_pipeline(tmp_path, name="phone", study=study, train={"epochs": 1},
                          export={"formats": ["float32"], "measure": {"command": command}})
    run = runner.invoke(app, ["run", str(path)])
    assert run.exit_code == 0, run.output
    assert "partly noise" not in run.output  # no interpreter noise is claimed for a device's figures

    trials = optuna.load_study(study_name="phone", storage="sqlite:///mlruns/optuna.db").get_trials(deepcopy=False)
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3
    runs = _trial_runs("phone")
    for t in trials:
        attrs = t.user_attrs
        figure = round(attrs["tflite_kib"] * 1024) / 1000  # what the device said: the file's bytes / 1000
        assert attrs["tflite_latency_ms"] == pytest.approx(figure, abs=1e-6) and t.values[1] == attrs[
            "tflite_latency_ms"]
        assert "tflite_latency_cv" not in attrs and "tflite_load" not in attrs  # one figure, from the device
        assert attrs["automl.latency_source"] == "command"
        assert attrs["automl.latency_output"] == f"Inference (avg): {figure} ms"
        mlflow = runs[t.number].data
        assert mlflow.metrics["tflite_latency_ms"] == pytest.approx(figure, abs=1e-6)
        assert mlflow.tags["automl.latency_source"] == "command"
        assert mlflow.tags["automl.latency_output"] == f"Inference (avg): {figure} ms"
    assert trials[0].values[1] < trials[1].values[1]  # 4 units: a smaller file, a faster answer
    client = MlflowClient("sqlite:///mlruns/mlflow.db")
    (session,) = client.search_runs([client.get_experiment_by_name("phone").experiment_id],
                                    "tags.`automl.role` = 'study'")
    assert session.data.params["measure.command"] == command  # where the session's latencies came from
    assert list(temp.glob("automl-*.tflite")) == []  # each trial's file is gone (TensorFlow's own may stay)

    folder = StudyFolder("phone")
    best = json.loads((folder.export_dir / "best_float32.json").read_text())
    assert best["latency_source"] == "command"
    assert best["latency_ms_median"] == (folder.export_dir / "best_float32.tflite").stat().st_size / 1000
    assert best["latency_output"] == f"Inference (avg): {best['latency_ms_median']} ms"

    # the front was chosen on the device's figures, and --pick budgets them
    front = json.loads(folder.pareto.read_text())
    for member in front:
        assert member["values"]["tflite_latency_ms"] == trials[member["trial"]].values[1]
        assert member["measured"]["tflite_latency_ms"] == pytest.approx(trials[member["trial"]].values[1])
    fastest = min(front, key=lambda m: m["values"]["tflite_latency_ms"])
    budget = fastest["values"]["tflite_latency_ms"]
    picked = runner.invoke(app, ["export", str(path), "--pick", f"tflite_latency_ms <= {budget}"])
    assert picked.exit_code == 0, picked.output
    pareto = folder.export_dir / "pareto"
    assert [p.name for p in pareto.glob("*.tflite")] == [f"trial_{fastest['trial']}_float32.tflite"]
    check = json.loads((pareto / f"trial_{fastest['trial']}_float32.json").read_text())
    assert check["latency_source"] == "command"
    assert check["latency_ms_median"] == (pareto / f"trial_{fastest['trial']}_float32.tflite").stat().st_size / 1000

    # a device that fails in export: one line, exit 2
    (tmp_path / "device" / "calls").unlink()  # the device's next call is its first: it fails
    failing = runner.invoke(app, ["export", str(path), "--pareto", "--set",
                                  f"export.measure.command={_device(tmp_path, 'exit')}"])
    assert failing.exit_code == 2, failing.output
    # (in-process, TensorFlow's conversion chatter may come before it)
    assert failing.output.strip().splitlines()[-1] == \
        "export.measure.command exited 1: adb: error: device 'emulator-5554' not found"
    assert "Traceback" not in failing.output
    assert list(temp.glob("automl-*.tflite")) == []


@pytest.mark.parametrize(("mode", "timeout", "reason"), [
    ("exit", 300, "study.measure.command exited 1: adb: error: device 'emulator-5554' not found"),
    # the same study for the other two failures (~25 s each; tests/tflite/test_device.py has their messages fast)
    pytest.param("sleep", 1, "study.measure.command timed out after 1 s (study.measure.command_timeout)",
                 marks=pytest.mark.slow),
    pytest.param("silent", 300, "study.measure.command printed no number on its last line: 'benchmark done'",
                 marks=pytest.mark.slow),
], ids=["exits-1", "times-out", "no-number"])
def test_a_failing_device_fails_its_trial_and_the_study_goes_on(tmp_path: Path, temp: Path, mode: str,
                                                                timeout: float, reason: str) -> None:
    study = {"objectives": ["val_accuracy", "tflite_latency_ms"], "trials": 2, "sampler": "random",
             "measure": {"format": "float32", "command": _device(tmp_path, mode), "command_timeout": timeout}}
    path = write_pipeline(tmp_path, name="flaky", study=study, train={"epochs": 1})
    run = runner.invoke(app, ["run", str(path)])
    assert run.exit_code == 0, run.output
    assert "Traceback" not in run.output
    trials = optuna.load_study(study_name="flaky", storage="sqlite:///mlruns/optuna.db").get_trials(deepcopy=False)
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE"]
    assert trials[0].user_attrs["fail_reason"] == reason
    assert trials[1].user_attrs["automl.latency_source"] == "command"
    runs = _trial_runs("flaky")
    assert runs[0].data.tags["automl.fail_reason"] == reason and runs[0].data.tags["automl.state"] == "FAIL"
    assert list(temp.glob("automl-*.tflite")) == []
