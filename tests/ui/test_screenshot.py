"""The MLflow UI renders a study's runs: a headless Chromium screenshot (also docs/img/mlflow_ui.png)."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest

from automl.testing import write_pipeline
from tests.ui._chromium import Chromium, find_chromium

pytestmark = pytest.mark.slow

IMAGE = Path(__file__).resolve().parents[2] / "docs" / "img" / "mlflow_ui.png"
COLUMNS = ["metrics.`best_val_accuracy`", "metrics.`test_accuracy`", "metrics.`params_count`", "params.`filters`",
           "params.`optimizer`", "params.`lr`", "tags.`automl.state`"]


@pytest.mark.skipif(find_chromium() is None, reason="chromium is not installed (Debian: apt-get install -y chromium)")
def test_experiment_page_shows_the_study_with_its_nested_trial_runs(tmp_path: Path, repo: Path) -> None:
    pytest.importorskip("websocket", reason="websocket-client (a dev dependency) drives Chromium")
    from PIL import Image

    import automl
    from automl.tracking.server import MlflowServer

    trials = 10
    path = write_pipeline(tmp_path, name="quickstart", data={"source": "digits"},
                          space=str(repo / "search_spaces" / "cnn_small.yaml"),
                          study={"trials": trials, "sampler": "tpe", "pruner": "median"},
                          train={"epochs": 4, "batch_size": 32})
    automl.run(path)
    with MlflowServer(port=0) as server, Chromium(1600, 800) as page:
        experiment = server.experiment_id("quickstart")
        assert experiment is not None
        page.open(server.runs_url(experiment))
        page.wait_for_text("quickstart-session-0")
        # the runs table's state lives in localStorage: add metric/param columns, close the assistant, reload
        key = json.dumps(f'MLflowLocalStorage-1.1-ExperimentPage-["{experiment}"]-ReactComponentState')
        state = json.loads(page.js(f"localStorage.getItem({key})") or "{}")
        if state:
            state["selectedColumns"] = COLUMNS
            page.js(f"localStorage.setItem({key}, {json.dumps(json.dumps(state))})")
        page.js("localStorage.setItem('mlflow.assistant.panelOpen_v1', 'false')")
        page.reload()
        page.wait_for_text("quickstart-session-0")
        page.js("document.querySelectorAll('button[data-component-id*=runnamecellrenderer]').forEach(b => b.click())")
        text = page.wait_for_text(*[f"trial-{n}" for n in range(trials)])
        page.js("document.querySelector('button[aria-label=Close]')?.click()")
        time.sleep(1)  # let the closing panel's animation finish
        assert "best_val_accuracy" in text and "COMPLETE" in text
        png = page.screenshot(tmp_path / "mlflow_ui.png")
    image = Image.open(io.BytesIO(png))
    assert image.size == (1600, 800)
    assert len(image.convert("RGB").getcolors(maxcolors=1 << 20) or []) > 50  # a rendered page, not a blank one
    IMAGE.parent.mkdir(parents=True, exist_ok=True)
    IMAGE.write_bytes(png)
