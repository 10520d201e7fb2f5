"""`automl run` with distill: and export: sections tunes, distills, exports, re-validates and registers."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from automl.cli import app
from automl.testing import write_pipeline
from automl.tracking import tracking_uri

runner = CliRunner()


def test_run_tunes_distills_exports_and_registers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import automl.plan

    loads: list[object] = []  # the plan is made once and handed to distill and export: the data loads once
    real = automl.plan.load_dataset
    monkeypatch.setattr(automl.plan, "load_dataset", lambda *a, **k: loads.append(a) or real(*a, **k))
    pipeline = write_pipeline(tmp_path, name="ship", train={"epochs": 2},
                              distill={"trials": 1, "epochs": 2},
                              export={"latency_runs": 5, "representative_samples": 40})
    out = runner.invoke(app, ["run", str(pipeline), "--trials", "1"])
    assert out.exit_code == 0, out.output
    assert len(loads) == 1

    lines = out.output.splitlines()
    scratch = next(i for i, line in enumerate(lines) if "student (from scratch)" in line)
    rows = {fmt: next(line for line in lines[scratch:] if line.startswith(f"│ {fmt} "))
            for fmt in ("float32", "float16", "dynamic", "int8")}  # the exports table closes the summary
    assert all("KiB" in row and " pt" in row and ("µs" in row or " ms" in row) for row in rows.values())
    for fmt in ("float32", "float16", "dynamic", "int8"):
        assert Path(f"mlruns/ship/export/student_{fmt}.tflite").exists()
        assert Path(f"mlruns/ship/export/student_{fmt}.json").exists()

    client = MlflowClient(tracking_uri())
    registered = {m.name for m in client.search_registered_models()}
    assert {"ship", "ship-student", "ship-tflite"} <= registered
    assert len(client.search_model_versions("name='ship-tflite'")) == 4
    assert client.get_model_version_by_alias("ship-tflite", "int8").tags["model"] == "student"
    roles = {r.data.tags.get("automl.role") for r in client.search_runs(
        [client.get_experiment_by_name("ship").experiment_id])}
    assert {"study", "trial", "distill", "student-trial", "export"} <= roles
