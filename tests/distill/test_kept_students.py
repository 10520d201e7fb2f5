"""A killed `automl distill` never loses the last good student (issue 26, item 2): the new students are staged
beside the published ones and replace them together, only once the run has finished."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import automl
from automl.store.folder import StudyFolder
from automl.testing import default_sigint, write_pipeline
from tests.integration.test_interrupt import _wait_for_running_epochs

STUDENTS = StudyFolder.STUDENT_FILES


def _automl(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "automl.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env={**os.environ, **(env or {})})


def _digests(folder: Path) -> dict[str, str]:
    return {n: hashlib.sha256((folder / n).read_bytes()).hexdigest() for n in STUDENTS if (folder / n).exists()}


@pytest.fixture(scope="module")
def distilled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tuned study with one finished `automl distill`: its pipeline (each test compares against the students
    it finds, so the tests share it in any order)."""
    tmp_path = tmp_path_factory.mktemp("kd")
    path = write_pipeline(tmp_path, name="kd", study={"trials": 1}, train={"epochs": 2},
                          distill={"trials": 1, "epochs": 2})
    # in this process (no TensorFlow import of its own) and once: `run` distills too, as the pipeline has distill
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        automl.run(path)
    assert set(_digests(tmp_path / "mlruns" / "kd")) == set(STUDENTS)
    return path


def test_sigterm_during_distill_keeps_the_earlier_students(distilled: Path) -> None:
    folder = distilled.parent / "mlruns" / "kd"
    before = _digests(folder)
    proc = subprocess.Popen([sys.executable, "-m", "automl.cli", "distill", str(distilled),
                             "--set", "distill.epochs=500"], cwd=distilled.parent, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    try:  # a student trial is reporting epochs: the run is past its start and before its end
        _wait_for_running_epochs(distilled.parent / "mlruns" / "optuna.db", time.monotonic() + 180)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=180)
    finally:
        proc.kill()
    assert proc.returncode == 143, out + err
    assert "Traceback" not in err
    assert _digests(folder) == before
    assert not (folder / "distilling").exists()


def test_a_kill_while_students_move_is_finished_by_the_next_run(distilled: Path) -> None:
    folder = distilled.parent / "mlruns" / "kd"
    killed = _automl(distilled.parent, "distill", str(distilled), env={"AUTOML_FAULT": "publish_students:kill"})
    assert killed.returncode == -signal.SIGKILL
    staged = _digests(folder / "distilling")
    assert set(staged) == set(STUDENTS)  # the complete new set waits beside the published one
    # whatever reads the study next settles it: the next distill rolls the publication forward first
    StudyFolder("kd", root=distilled.parent / "mlruns").settle_students()
    assert _digests(folder) == staged and not (folder / "distilling").exists()


def test_settle_finishes_a_half_done_publication_and_drops_an_unfinished_stage(tmp_path: Path) -> None:
    folder = StudyFolder("s", root=tmp_path)
    folder.path.mkdir()
    for name in STUDENTS:
        (folder.path / name).write_text(f"old {name}")
    stage = folder.distill_stage
    stage.mkdir()
    (stage / "student.keras").write_text("new student")
    (stage / "student.json").write_text("new info")
    folder.settle_students()  # no publication listed: a killed run's leftovers, dropped
    assert not stage.exists() and (folder.path / "student.keras").read_text() == "old student.keras"

    stage.mkdir()
    (stage / "student.keras").write_text("new student")
    (stage / "student.json").write_text("new info")
    (stage / "publish.json").write_text('{"files": ["student.keras", "student.json"]}')
    os.replace(stage / "student.keras", folder.path / "student.keras")  # a kill after the first move
    folder.settle_students()
    assert not stage.exists()
    assert (folder.path / "student.keras").read_text() == "new student"
    assert (folder.path / "student.json").read_text() == "new info"
    assert not (folder.path / "student_scratch.keras").exists()  # the run made none: the old one is not kept
