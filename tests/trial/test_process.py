"""Trials in their own process: a crash, a kill from outside, a memory or time overrun fails that trial with its
reason and the study goes on; the process is recycled; it never outlives its study."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient

import automl
from automl.progress import Events
from automl.testing import write_pipeline
from tests.integration.test_interrupt import _wait_for_running_epochs

PROCESS = {"isolation": "process"}


def _reasons(result: automl.TuneResult) -> list[str | None]:
    return [t.attrs.get("fail_reason") for t in result.trials]


# The same path as a kill from outside (the trial process ends by a signal; its trial FAIL with the signal's name,
# the next trial runs in a new process): test_a_trial_process_killed_from_outside_fails_its_trial below; the FAILED
# MLflow run and its fail_reason tag of a crashed trial:
# tests/study/test_loop_records.py::test_each_trial_end_is_recorded_in_optuna_and_mlflow (the fake runner's crash).
@pytest.mark.slow
def test_a_trial_process_that_aborts_fails_its_trial_and_the_study_goes_on(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOML_FAULT", "child_epoch_end:abort:1")  # the first trial process's first epoch
    monkeypatch.setenv("AUTOML_FAULT_ONCE", str(tmp_path / "aborted"))
    result = automl.run(write_pipeline(tmp_path, study={"trials": 3}, train=PROCESS))
    assert [t.state for t in result.trials] == ["FAIL", "COMPLETE", "COMPLETE"]
    assert _reasons(result)[0] == "trial process killed by signal 6 (SIGABRT)"
    assert result.model_path is not None
    client = MlflowClient(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    failed = [r for r in runs if r.info.status == "FAILED"]
    assert [r.data.tags["automl.fail_reason"] for r in failed] == ["trial process killed by signal 6 (SIGABRT)"]


class _KillFirstTrialProcess(Events):
    """Kills the trial process from outside (as the OOM killer does) during trial 0's second epoch."""

    def epoch_ended(self, number: int, epoch: int, epochs: int, metrics: dict[str, float]) -> None:
        super().epoch_ended(number, epoch, epochs, metrics)
        if number == 0 and epoch == 1:
            children = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text().split()
            for pid in children:
                if "automl-trial" in Path(f"/proc/{pid}/cmdline").read_text() or \
                        "multiprocessing" in Path(f"/proc/{pid}/cmdline").read_text():
                    os.kill(int(pid), signal.SIGKILL)


def test_a_trial_process_killed_from_outside_fails_its_trial(tmp_path: Path) -> None:
    result = automl.run(write_pipeline(tmp_path, study={"trials": 2}, train={**PROCESS, "epochs": 4}),
                        progress=_KillFirstTrialProcess())
    assert [t.state for t in result.trials] == ["FAIL", "COMPLETE"]
    assert _reasons(result)[0] == "trial process killed by signal 9 (SIGKILL)"


def test_a_trial_past_max_memory_fails(tmp_path: Path) -> None:
    # a trial process holds far more than 50 MiB once Keras is imported: every trial overruns it
    result = automl.run(write_pipeline(tmp_path, study={"trials": 2}, train={**PROCESS, "max_memory_mib": 50}))
    assert [t.state for t in result.trials] == ["FAIL", "FAIL"]
    assert all(r is not None and r.startswith("exceeded max_memory_mib 50 (resident ") for r in _reasons(result))


def test_a_trial_past_trial_timeout_fails_in_both_modes(tmp_path: Path) -> None:
    for isolation in ("process", "inline"):
        result = automl.run(write_pipeline(tmp_path, name=f"t-{isolation}", study={"trials": 1, "trial_timeout": 0.5},
                                           train={"isolation": isolation, "epochs": 2000}))
        assert [t.state for t in result.trials] == ["FAIL"]
        assert _reasons(result) == ["exceeded trial_timeout 0.5 s"]


def test_the_trial_process_is_recycled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from automl.trial import process

    pids: list[list[int]] = []
    close = process.ProcessRunner.close

    def record(self: process.ProcessRunner) -> None:
        pids.append(list(self.pids))
        close(self)

    monkeypatch.setattr(process.ProcessRunner, "close", record)
    result = automl.run(write_pipeline(tmp_path, study={"trials": 3}, train={**PROCESS, "recycle_after": 2,
                                                                            "epochs": 1}))
    assert [t.state for t in result.trials] == ["COMPLETE"] * 3
    assert len(pids[-1]) == 2 and len(set(pids[-1])) == 2  # trials 0-1, 2
    assert not any(Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]
                   for pid in pids[-1])


def test_no_trial_process_outlives_a_killed_study(tmp_path: Path) -> None:
    path = write_pipeline(tmp_path, study={"trials": 2}, train={**PROCESS, "epochs": 500, "batch_size": 16})
    proc = subprocess.Popen([sys.executable, "-m", "automl.cli", "run", str(path)], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = tmp_path / "mlruns" / "optuna.db"
    _wait_for_running_epochs(db, time.monotonic() + 180)  # a trial process is training
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    assert children, "no trial process"
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{c}").exists() for c in children):
        time.sleep(0.2)
    assert not [c for c in children if Path(f"/proc/{c}").exists()
                and Path(f"/proc/{c}/stat").read_text().split()[2] != "Z"]
    storage = f"sqlite:///{db}"
    assert optuna.load_study(study_name="tiny", storage=storage).trials  # it had started


def test_the_trial_process_ignores_the_terminals_ctrl_c(tmp_path: Path) -> None:
    """A terminal sends Ctrl-C to the whole process group: the trial process must leave the decision to the
    study, which stops at the next epoch's end and closes every run."""
    from automl.testing import default_sigint

    path = write_pipeline(tmp_path, study={"trials": 2}, train={**PROCESS, "epochs": 500, "batch_size": 16})
    proc = subprocess.Popen([sys.executable, "-m", "automl.cli", "run", str(path)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint,
                            start_new_session=True)
    # the trial process is training: a running trial has reported an epoch through it
    _wait_for_running_epochs(tmp_path / "mlruns" / "optuna.db", time.monotonic() + 180)
    os.killpg(proc.pid, signal.SIGINT)  # the whole group, as a terminal does
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err
    client = MlflowClient(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    assert runs and all(r.info.status == "KILLED" for r in runs), [r.info.status for r in runs]


# A user's script without an `if __name__ == "__main__":` guard, whose studies train in trial processes. One script
# proves both claims below (each claim alone cost a subprocess and its trial processes' Keras imports, ~25 s).
KERAS_FREE = """
import os, sys
from pathlib import Path
import automl
from automl.testing import write_pipeline

print("study starts", flush=True)
path = write_pipeline(Path("."), study={"trials": 2}, train={"epochs": 2, "isolation": "process", "refit": True})
first = automl.tune(path)
print("first", [t.state for t in first.trials], sorted(first.test_metrics), "keras" in sys.modules, flush=True)
best = Path("mlruns/tiny/best.keras")
best.write_bytes(best.read_bytes()[:100])  # damaged: the final stage refits it in the trial process
os.environ["AUTOML_FAULT"] = "trial_start:raise:*"  # the resumed session's trial fails, none replaces it
again = automl.tune(path, {"study.trials": 3})
print("again", sorted(again.test_metrics), "keras" in sys.modules, flush=True)
"""


def test_an_unguarded_script_runs_its_studies_once_and_its_process_never_imports_keras(tmp_path: Path) -> None:
    """multiprocessing's spawn re-ran the user's unguarded script inside the trial process (a second study
    there, which failed to start its own trial process): the trial failed with "exited with code 1".

    The trial process also scores the best model on the test split and refits or rebuilds a damaged one: the
    study's own process skips the Keras import (~5 s, overlapped with nothing) and the memory it holds."""
    (tmp_path / "study.py").write_text(KERAS_FREE)
    done = subprocess.run([sys.executable, "study.py"], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert done.stdout.count("study starts") == 1, done.stdout
    metrics = "['test_accuracy', 'test_auc', 'test_f1', 'test_loss', 'test_precision', 'test_recall']"
    assert f"first ['COMPLETE', 'COMPLETE'] {metrics} False" in done.stdout, done.stdout + done.stderr[-3000:]
    assert f"again {metrics} False" in done.stdout, done.stdout
    import keras  # here, not in the script: this process has usually imported it already

    keras.models.load_model(tmp_path / "mlruns" / "tiny" / "best.keras")  # rebuilt whole


@pytest.mark.slow  # in `make test-slow` (the default suite stays under ~15 minutes on 2 cores)
def test_threads_are_not_left_behind(tmp_path: Path) -> None:
    before = threading.active_count()
    automl.run(write_pipeline(tmp_path, study={"trials": 1}, train={**PROCESS, "epochs": 1}))
    assert threading.active_count() <= before + 1
