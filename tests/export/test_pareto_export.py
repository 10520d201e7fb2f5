"""`automl export --pareto` / `--pick` on a real multi-objective study: every kept Pareto model exported to
export/pareto/trial_<n>_<format>.tflite and re-validated, or the best one meeting a budget on validation values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import automl
from automl.cli import app
from automl.store.folder import StudyFolder
from automl.testing import write_pipeline

runner = CliRunner()
PICK_BUDGET = 120  # params_count: units 4 -> 51, units 16 -> 195 (TINY_TABULAR_SPACE, 8 features, 3 classes)


@pytest.mark.slow  # a study of 3 trials, then two exports (~45 s)
def test_export_pareto_and_pick(tmp_path: Path) -> None:
    study = {"objectives": [{"val_accuracy": "maximize"}, {"params_count": "minimize"}], "trials": 3,
             "sampler": "random", "enqueue": [{"units": 4, "optimizer": "adam", "lr": 0.05},
                                              {"units": 16, "optimizer": "adam", "lr": 0.05}]}
    path = write_pipeline(tmp_path, name="shelf", study=study, train={"epochs": 2})
    automl.run(path)
    folder = StudyFolder("shelf")
    front = json.loads(folder.pareto.read_text())
    members = sorted(m["trial"] for m in front)

    out = runner.invoke(app, ["export", str(path), "--pareto", "--format", "float32"])
    assert out.exit_code == 0, out.output
    pareto_dir = folder.export_dir / "pareto"
    assert sorted(p.name for p in pareto_dir.glob("*.tflite")) == [f"trial_{n}_float32.tflite" for n in members]
    for n in members:
        check = json.loads((pareto_dir / f"trial_{n}_float32.json").read_text())
        assert check["format"] == "float32" and check["samples"] > 0 and not check["flagged"]
    from mlflow import MlflowClient

    registered = MlflowClient(f"sqlite:///{Path.cwd() / 'mlruns' / 'mlflow.db'}").get_registered_model("shelf-tflite")
    # per-trial aliases: the best model's per-format aliases (float32, int8, ...) do not move
    assert sorted(registered.aliases) == [f"trial_{n}_float32" for n in members]

    # the fewest parameters (units 4) are always on the front, so one member meets the budget
    meeting = [m for m in front if m["measured"]["params_count"] <= PICK_BUDGET]
    assert meeting
    bad = runner.invoke(app, ["export", str(path), "--pick", "params_count <= 10"])
    assert bad.exit_code == 2 and "no Pareto trial meets --pick 'params_count <= 10'" in bad.output
    chosen = max(meeting, key=lambda m: m["values"]["val_accuracy"])["trial"]
    for stale in pareto_dir.iterdir():
        stale.unlink()
    picked = runner.invoke(app, ["export", str(path), "--pick", f"params_count <= {PICK_BUDGET}",
                                            "--format", "float32"])
    assert picked.exit_code == 0, picked.output
    assert [p.name for p in pareto_dir.glob("*.tflite")] == [f"trial_{chosen}_float32.tflite"]


def test_pick_and_pareto_refuse_bad_input_in_one_line(tmp_path: Path) -> None:
    path = write_pipeline(tmp_path, name="nofront")
    out = runner.invoke(app, ["export", str(path), "--pareto"])
    assert out.exit_code == 2 and len(out.output.strip().splitlines()) == 1
    assert "no Pareto front at mlruns/nofront/pareto.json" in out.output
    out = runner.invoke(app, ["export", str(path), "--pareto", "--model", "best"])
    assert out.exit_code == 2 and out.output.strip().startswith("--pareto: --pareto and --pick export")
