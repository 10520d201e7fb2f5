"""The engine tests' stores on a memory-backed file system where the machine has one.

Every Optuna ask/tell is a few SQLite commits, and a commit waits for the disk: in /dev/shm the same
stores (real SQLite files, the same locks) run about four times faster, which keeps a contract that runs
per (engine, sampler) quick.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

SHM = Path("/dev/shm")


@pytest.fixture(autouse=True)
def _workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    if not (SHM.is_dir() and os.access(SHM, os.W_OK)):
        monkeypatch.chdir(tmp_path)
        yield tmp_path
        return
    with tempfile.TemporaryDirectory(dir=SHM, prefix="automl-test-") as work:
        monkeypatch.chdir(work)
        yield Path(work)
