"""Run every command block of README.md and docs/*.md, in order, in a fresh copy of the repository.

Budgets are tiny (AUTOML_SET); marked blocks are skipped and counted. Every block runs even after one fails,
and the failure lists each failing block with the end of its output.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.docs.blocks import blocks

TINY = ("study.trials=1 train.epochs=1 train.isolation=inline distill.trials=1 distill.epochs=1 "
        "export.latency_runs=3 export.representative_samples=32")
BLOCK_TIMEOUT = 1200


def _tracked(repo: Path) -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=repo, capture_output=True, check=True).stdout
    return [p for p in out.decode().split("\0") if p]


def fresh_copy(repo: Path, dest: Path) -> Path:
    """The repository's tracked files (as they are in the working tree) and a .venv that shares the repo's
    packages but has its own install stamp, so `make` sees an installed environment and installs nothing."""
    for rel in _tracked(repo):
        src = repo / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    venv = repo / ".venv"
    (dest / ".venv").mkdir()
    for entry in venv.iterdir():
        if entry.name != ".automl-installed":
            (dest / ".venv" / entry.name).symlink_to(entry)
    (dest / ".venv" / ".automl-installed").touch()
    return dest


@pytest.mark.slow
@pytest.mark.timeout(7200)
def test_every_command_block_runs_in_a_fresh_copy(repo: Path, tmp_path: Path) -> None:
    root = fresh_copy(repo, tmp_path / "repo")
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "AUTOML_STORAGE")}
    env |= {"AUTOML_SET": TINY, "PATH": f"{root / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}",
            "TF_CPP_MIN_LOG_LEVEL": "3", "COLUMNS": "120"}
    ran, skipped, failed = [], [], []
    for block in blocks(root):
        if not block.is_command:
            continue
        if block.skip is not None:
            skipped.append(f"{block.where} ({block.skip})")
            continue
        start = time.monotonic()
        try:
            done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block.script()], cwd=root, env=env,
                                  capture_output=True, text=True, timeout=BLOCK_TIMEOUT)
            code, output = done.returncode, done.stdout + done.stderr
        except subprocess.TimeoutExpired as exc:
            code, output = -1, f"timed out after {BLOCK_TIMEOUT} s: {exc.output or ''}"
        seconds = time.monotonic() - start
        ran.append(f"{block.where} {seconds:.0f} s exit {code}")
        if code != 0:
            failed.append(f"{block.where} exit {code}:\n{block.script()}\n--- output (end) ---\n{output[-3000:]}")
    print(f"\nran {len(ran)} blocks, skipped {len(skipped)}:", *ran, *(f"skipped {s}" for s in skipped),
          sep="\n  ", file=sys.stderr)
    assert ran and not failed, "\n\n".join(failed)
