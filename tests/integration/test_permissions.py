"""Stores automl cannot write: one line naming the path and the missing permission, exit 2, nothing deleted.

Root ignores permission bits, so as root each case runs the `automl` command unprivileged: as user nobody
(uid 65534) when its Python is reachable by nobody, else as root without the capabilities that bypass
permission checks (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER), both with util-linux's `setpriv`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from automl.testing import write_pipeline

pytestmark = pytest.mark.fresh_folder  # unwritable folders and stores, made fresh

NOBODY = 65534
_NO_DAC = "-dac_override,-dac_read_search,-fowner"


@dataclass
class Unprivileged:
    """How to run a command to which permission bits apply; ``uid`` owns what it may write."""

    prefix: list[str]
    uid: int

    def own(self, path: Path) -> None:
        for p in [path, *path.rglob("*")]:
            os.chown(p, self.uid, self.uid)


def _works(prefix: list[str], probe: Path) -> bool:
    code = ("import os, sys, automl.cli; "
            "sys.exit(0 if not os.access(sys.argv[1], os.W_OK) else 3)")  # the bits must apply to it
    try:
        proc = subprocess.run([*prefix, sys.executable, "-c", code, str(probe)], capture_output=True, timeout=120,
                              env={**os.environ, "HOME": str(probe.parent)})
    except OSError:
        return False
    return proc.returncode == 0


@pytest.fixture(scope="module")
def unprivileged() -> Unprivileged:
    if os.geteuid() != 0:
        return Unprivileged([], os.geteuid())
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root, and no `setpriv` (util-linux) to drop privileges: chmod proves nothing")
    base = Path(tempfile.mkdtemp(prefix="automl-perm-probe-"))
    try:
        base.chmod(0o755)
        probe = base / "read-only"
        probe.write_text("")
        probe.chmod(0o444)
        os.chown(base, NOBODY, NOBODY)
        os.chown(probe, NOBODY, NOBODY)
        nobody = [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
        if _works(nobody, probe):
            return Unprivileged(nobody, NOBODY)
        os.chown(base, 0, 0)
        os.chown(probe, 0, 0)
        no_dac = [setpriv, f"--bounding-set={_NO_DAC}", f"--inh-caps={_NO_DAC}"]
        if _works(no_dac, probe):
            return Unprivileged(no_dac, 0)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    pytest.skip("running as root, and neither user nobody (is the venv's Python readable by it?) nor root "
                "without CAP_DAC_OVERRIDE could run automl with permission bits applied")


@pytest.fixture
def folder(unprivileged: Unprivileged) -> Iterator[Path]:
    """A fresh working folder the unprivileged user owns, with a tiny pipeline (outside root's 700 tmp)."""
    base = Path(tempfile.mkdtemp(prefix="automl-perm-"))
    base.chmod(0o755)
    (base / "home").mkdir()
    write_pipeline(base, name="tiny", study={"trials": 1}, train={"epochs": 1})
    unprivileged.own(base)
    yield base
    for p in [base, *base.rglob("*")]:  # let root clean up what the test made read-only
        if p.is_dir():
            p.chmod(0o755)
    shutil.rmtree(base, ignore_errors=True)


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in folder.rglob("*") if "home" not in p.parts}


def _make_stores(folder: Path, unprivileged: Unprivileged) -> None:
    """The stores of an earlier run (made here, as root, in-process: a real run would cost 10 s)."""
    import optuna

    from automl.tracking import Tracker

    cwd = Path.cwd()
    os.chdir(folder)
    try:
        Tracker("tiny", artifact_root=Path("mlruns/artifacts"))
        optuna.storages.RDBStorage(f"sqlite:///{folder}/mlruns/optuna.db")
    finally:
        os.chdir(cwd)
    unprivileged.own(folder)


def _run_refused(folder: Path, unprivileged: Unprivileged, *, names: str) -> str:
    before = _snapshot(folder)
    env = {**os.environ, "HOME": str(folder / "home"), "KERAS_HOME": str(folder / "home" / ".keras")}
    proc = subprocess.run([*unprivileged.prefix, sys.executable, "-m", "automl.cli", "run", "tiny.yaml", "--quiet"],
                          cwd=folder, capture_output=True, text=True, timeout=300, env=env)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert names in lines[0] and "permission denied" in lines[0], lines[0]
    after = _snapshot(folder)
    assert set(before) <= set(after), set(before) - set(after)  # nothing deleted
    changed = {k for k in before if after[k] != before[k]}
    assert all(k.endswith(".db") for k in changed), changed  # only a writable store may have been written
    return lines[0]


def test_an_mlruns_folder_that_is_not_writable(folder: Path, unprivileged: Unprivileged) -> None:
    (folder / "mlruns").mkdir(mode=0o555)
    unprivileged.own(folder / "mlruns")
    line = _run_refused(folder, unprivileged, names="mlruns")
    assert line.startswith("mlruns: folder not writable (permission denied"), line
    assert line.endswith(": automl needs write access to its stores"), line


@pytest.mark.slow  # in `make test-slow` (the default suite stays under ~15 minutes on 2 cores)
def test_a_read_only_optuna_database(folder: Path, unprivileged: Unprivileged) -> None:
    _make_stores(folder, unprivileged)
    (folder / "mlruns" / "optuna.db").chmod(0o444)
    line = _run_refused(folder, unprivileged, names="mlruns/optuna.db")
    assert line == "mlruns/optuna.db: not writable (permission denied): automl needs write access to its stores"


def test_a_read_only_mlflow_database(folder: Path, unprivileged: Unprivileged) -> None:
    _make_stores(folder, unprivileged)
    (folder / "mlruns" / "mlflow.db").chmod(0o444)
    line = _run_refused(folder, unprivileged, names="mlruns/mlflow.db")
    assert line == "mlruns/mlflow.db: not writable (permission denied): automl needs write access to its stores"


@pytest.mark.slow  # in `make test-slow` (the default suite stays under ~15 minutes on 2 cores)
def test_databases_in_a_folder_sqlite_cannot_write_its_journal_in(folder: Path, unprivileged: Unprivileged) -> None:
    _make_stores(folder, unprivileged)
    (folder / "mlruns").chmod(0o555)  # the files in it stay writable
    line = _run_refused(folder, unprivileged, names="mlruns")
    assert line.startswith("mlruns: folder not writable (permission denied, needed to write "), line


@pytest.mark.slow  # in `make test-slow` (the default suite stays under ~15 minutes on 2 cores)
def test_an_artifacts_folder_that_is_not_writable(folder: Path, unprivileged: Unprivileged) -> None:
    _make_stores(folder, unprivileged)
    (folder / "mlruns" / "artifacts").chmod(0o555)
    line = _run_refused(folder, unprivileged, names="mlruns/artifacts")
    assert line == "mlruns/artifacts: not writable (permission denied): automl needs write access to its stores"


@pytest.mark.slow  # in `make test-slow` (the default suite stays under ~15 minutes on 2 cores)
def test_a_study_folder_that_is_not_writable(folder: Path, unprivileged: Unprivileged) -> None:
    _make_stores(folder, unprivileged)
    (folder / "mlruns" / "tiny").mkdir(mode=0o555)
    unprivileged.own(folder / "mlruns" / "tiny")
    line = _run_refused(folder, unprivileged, names="mlruns/tiny")
    assert line.startswith("mlruns/tiny: not writable (permission denied): "), line
