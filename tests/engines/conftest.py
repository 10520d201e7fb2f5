"""The engine tests' ``tmp_path`` (their working directory, where the stores live) on a memory-backed file
system where the machine has one.

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


@pytest.fixture
def tmp_path(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if not (SHM.is_dir() and os.access(SHM, os.W_OK)):
        yield tmp_path_factory.mktemp("engines")
        return
    with tempfile.TemporaryDirectory(dir=SHM, prefix="automl-test-") as work:
        yield Path(work)
