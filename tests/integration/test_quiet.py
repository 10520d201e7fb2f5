"""Quiet by default (issue 24): no line of TensorFlow's, absl's or MLflow's own logging in the output of any verb,
with `TF_CPP_MIN_LOG_LEVEL` unset as a user has it. The quickstart and the own-builder pipeline (whose builder
imports Keras at its top level) through validate, run (tune, distill, export), distill, export, predict, and
a worker with finish."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

#: what the libraries' own logging looks like: absl's start-up line, glog-style lines (I1207 16:39:01.1 ...),
#: CUDA probing, oneDNN's notice, MLflow's INFO lines and download bars
LIBRARY_LINE = re.compile(r"All log messages before absl|^[IWEF]\d{4} \d\d:\d\d:\d\d|cudart_stub|oneDNN custom "
                          r"operations|tensorflow/core|INFO mlflow|Downloading artifacts|\d+%\|", re.M)
TINY = ["--set", "train.epochs=1", "--set", "study.trials=1"]


def _automl(cwd: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "AUTOML_TF_LOGS")}
    result = subprocess.run([sys.executable, "-m", "automl.cli", *args], cwd=cwd, capture_output=True, text=True,
                            timeout=900, env=env)
    assert result.returncode == 0, (args, result.stdout[-2000:], result.stderr[-2000:])
    return result.stdout + result.stderr


@pytest.mark.slow  # ~3 min on 2 cores: run by .ci/run after the default suite
def test_no_library_log_line_in_any_verb(tmp_path: Path) -> None:
    for folder in ("pipelines", "search_spaces", "examples"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    (tmp_path / "rows.npy").write_bytes(b"")
    outputs = {
        "validate custom": _automl(tmp_path, "validate", "pipelines/custom.yaml"),
        "run custom": _automl(tmp_path, "run", "pipelines/custom.yaml", *TINY, "--set", "distill.trials=1",
                              "--set", "distill.epochs=1"),
        "distill custom": _automl(tmp_path, "distill", "pipelines/custom.yaml", "--trials", "1",
                                  "--set", "distill.epochs=1"),
        "export custom": _automl(tmp_path, "export", "pipelines/custom.yaml", "--format", "float32"),
        "validate quickstart": _automl(tmp_path, "validate", "pipelines/quickstart.yaml"),
        "worker quickstart": _automl(tmp_path, "worker", "pipelines/quickstart.yaml", "--budget", "1",
                                     "--set", "train.epochs=1"),
        "finish quickstart": _automl(tmp_path, "finish", "pipelines/quickstart.yaml", "--set", "train.epochs=1"),
    }
    import numpy as np
    from sklearn.datasets import load_breast_cancer

    np.save(tmp_path / "rows.npy", load_breast_cancer().data[:20])
    outputs["predict custom"] = _automl(tmp_path, "predict", "pipelines/custom.yaml", "rows.npy")
    for verb, text in outputs.items():
        found = LIBRARY_LINE.findall(text)
        assert not found, (verb, found, text[-3000:])
