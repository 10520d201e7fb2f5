"""`automl ui`: a real MLflow server over the study's store, queried over HTTP, stopped with Ctrl-C."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from automl.cli import app
from automl.testing.studies import StudyDir
from automl.tracking.server import MlflowServer, ServerError, free_port, port_in_use


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as r:
        return bytes(r.read())


def test_rest_api_finds_the_studys_parent_and_child_runs_and_artifacts(tiny_study: StudyDir) -> None:
    with MlflowServer(tiny_study.tracking_uri, port=0) as server:
        experiments = server.api("experiments/search", {"max_results": 100})["experiments"]
        experiment = next(e for e in experiments if e["name"] == "tiny")
        runs = server.api("runs/search", {"experiment_ids": [experiment["experiment_id"]], "max_results": 1000})
        tags = [{t["key"]: t["value"] for t in r["data"].get("tags", [])} for r in runs["runs"]]
        parents = {r["info"]["run_id"]: r for r, t in zip(runs["runs"], tags, strict=True)
                   if t.get("automl.role") == "study"}
        children = [t for t in tags if t.get("automl.role") == "trial"]
        assert parents and len(children) >= 4
        assert {c["mlflow.parentRunId"] for c in children} <= set(parents)
        first = parents[tiny_study.result.parent_run_id]
        assert {m["key"] for m in first["data"]["metrics"]} >= {"best_value", "test_accuracy"}

        # artifacts resolve through the server (they live under mlruns/artifacts)
        run_id = tiny_study.result.parent_run_id
        listed = json.loads(_get(f"{server.url}/ajax-api/2.0/mlflow/artifacts/list?run_id={run_id}"))
        assert {"pipeline.yaml", "model"} <= {f["path"] for f in listed["files"]}
        assert b"name: tiny" in _get(f"{server.url}/get-artifact?path=pipeline.yaml&run_uuid={run_id}")

        link = server.experiment_url("tiny")
        assert link == f"{server.url}/#/experiments/{experiment['experiment_id']}/runs?workflowType=machine_learning"
        assert server.experiment_url("no-such-study") is None
        port = server.port
    assert not server.running() and not port_in_use(port)


def test_cli_ui_prints_the_links_and_stops_cleanly_on_ctrl_c(tiny_study: StudyDir) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "automl.cli", "ui", "tiny", "--port", str(port)],
                            cwd=tiny_study.folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Ctrl-C" in line:
                break
        output = "".join(lines)
        assert f"MLflow UI: http://127.0.0.1:{port}" in output, output
        assert f"study tiny: http://127.0.0.1:{port}/#/experiments/" in output
        assert _get(f"http://127.0.0.1:{port}/health").strip() == b"OK"
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, rest
    assert "stopping the MLflow UI" in rest
    assert not port_in_use(port)  # the server process (its own session) went with it
    assert (tiny_study.folder / "mlruns" / "ui.log").exists()


def test_a_taken_port_is_a_one_line_error(tiny_study: StudyDir, in_study: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ServerError, match=f"port {port} on 127.0.0.1 is in use: pass --port N"):
            MlflowServer(tiny_study.tracking_uri, port=port).start()
        result = CliRunner().invoke(app, ["ui", "--port", str(port)])
    assert result.exit_code == 2
    assert "is in use" in result.output


@pytest.mark.fresh_folder  # it checks what is (not) written into a fresh folder
def test_ui_without_a_store_says_to_run_a_study_first() -> None:
    result = CliRunner().invoke(app, ["ui", "--port", "0"])
    assert result.exit_code == 2
    assert "no MLflow store at" in result.output and "automl run PIPELINE" in result.output
    assert not Path("mlruns").exists()  # nothing created behind the user's back
