"""A fault schedule: inject one fault into `automl run`, resume, check the invariants; repeat.

Faults are either named points (``AUTOML_FAULT``, see :mod:`automl.faults`) or a signal sent from outside at
a random moment. After each one the study is resumed without faults, and the invariants checked:

- no MLflow run and no Optuna trial is RUNNING (every experiment, every study of the store);
- every session that completed ran exactly the trials it was asked for, and every trial belongs to a
  session or was failed by the heal;
- ``best.keras`` loads;
- the files of a bystander study in the same ``mlruns/`` (its folder, its MLflow artifacts, a keras-tuner
  study's state) are byte-for-byte what they were.

:func:`run_verb_faults` does the same for the verbs that replace files: a faulted ``automl distill`` leaves the
published students byte-for-byte as they were (or its finished, listed stage, which the next run rolls forward),
and a faulted ``automl predict -o FILE`` leaves the earlier FILE as it was.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import optuna
from mlflow import MlflowClient

from automl.testing import default_sigint, write_pipeline

POINTS = [("epoch_end", "kill"), ("epoch_end", "sigint"), ("epoch_end", "sigterm"), ("trial_start", "kill"),
          ("between_trials", "kill"), ("between_trials", "sigterm"), ("save_best", "kill"),
          ("final_stage", "kill"), ("final_stage", "sigint"), ("final_stage", "sigterm"), ("store_create", "kill"),
          ("epoch_end", "abort")]
SIGNALS = [signal.SIGKILL, signal.SIGINT, signal.SIGTERM]
#: faults in the verbs that replace a study's files: (verb, point, action)
VERB_POINTS = [("distill", "publish_students", "kill"), ("distill", "publish_students", "sigterm"),
               ("distill", "publish_students", "sigint"), ("distill", "epoch_end", "kill"),
               ("distill", "epoch_end", "sigterm"), ("predict", "predict_batch", "kill"),
               ("predict", "predict_batch", "sigint"), ("predict", "predict_batch", "sigterm")]
STUDENTS = ("student.keras", "student_scratch.keras", "student.json")


@dataclass
class Outcome:
    injections: int = 0
    left_running: int = 0  # runs or trials RUNNING after a resume
    files_lost: int = 0  # bystander files changed or gone
    resume_failures: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)


def _run(cwd: Path, pipeline: Path, *args: str, env: dict[str, str] | None = None,
         timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return _verb(cwd, "run", str(pipeline), *args, env=env, timeout=timeout)


def _verb(cwd: Path, verb: str, *args: str, env: dict[str, str] | None = None,
          timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "automl.cli", verb, *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, preexec_fn=default_sigint, env={**os.environ, **(env or {})})


def _hashes(root: Path, paths: list[Path]) -> dict[str, str]:
    out = {}
    for base in paths:
        for p in sorted(base.rglob("*")) if base.is_dir() else [base]:
            if p.is_file():
                out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def bystanders(folder: Path) -> list[Path]:
    """Make another study (optuna) and a keras-tuner study beside the one under test; their files."""
    other = write_pipeline(folder, name="bystander", study={"trials": 1}, train={"epochs": 1})
    assert _run(folder, other).returncode == 0
    kt = write_pipeline(folder, name="kt", study={"trials": 1, "engine": "keras_tuner", "sampler": "random"},
                        train={"epochs": 1})
    assert _run(folder, kt).returncode == 0
    client = MlflowClient(f"sqlite:///{folder}/mlruns/mlflow.db")
    artifacts = [Path(client.get_experiment_by_name(n).artifact_location.removeprefix("file://"))
                 for n in ("bystander", "kt")]
    return [folder / "mlruns" / "bystander", folder / "mlruns" / "kt", folder / "mlruns" / "keras_tuner" / "kt",
            *artifacts]


def check(folder: Path, name: str, outcome: Outcome) -> None:
    _no_run_left_running(folder, outcome, "after resume")
    client = MlflowClient(f"sqlite:///{folder}/mlruns/mlflow.db")
    trials = optuna.load_study(study_name=name, storage=f"sqlite:///{folder}/mlruns/optuna.db").trials
    experiment = client.get_experiment_by_name(name).experiment_id
    for session in client.search_runs([experiment], "tags.`automl.role` = 'study'"):
        ran = [t for t in trials if t.user_attrs.get("automl.session") == session.info.run_id]
        if session.info.status == "FINISHED" and len(ran) != int(session.data.params["trials"]):
            outcome.log.append(f"session {session.info.run_id} ran {len(ran)} trials, asked "
                               f"{session.data.params['trials']}")
            outcome.left_running += 1
    import keras

    keras.models.load_model(folder / "mlruns" / name / "best.keras")


def run_schedule(folder: Path, injections: int, seed: int = 0, random_share: float = 0.3) -> Outcome:
    """``injections`` faults into one study in ``folder`` (each followed by a clean resume)."""
    rng = random.Random(seed)
    outcome = Outcome()
    watched = bystanders(folder)
    before = _hashes(folder, watched)
    pipeline = write_pipeline(folder, name="victim", study={"trials": 2, "sampler": "tpe", "pruner": "median"},
                              train={"epochs": 3, "isolation": "process"})
    points = list(POINTS)
    rng.shuffle(points)
    for i in range(injections):
        if i < len(points) or rng.random() > random_share:
            point, action = points[i % len(points)]
            nth = rng.randint(1, 3) if point in ("epoch_end", "trial_start") else 1
            spec = f"{point}:{action}:{nth}"
            result = _run(folder, pipeline, env={"AUTOML_FAULT": spec})
        else:
            signum = rng.choice(SIGNALS)
            delay = rng.uniform(3.0, 20.0)
            spec = f"{signal.Signals(signum).name} after {delay:.1f} s"
            proc = subprocess.Popen([sys.executable, "-m", "automl.cli", "run", str(pipeline)], cwd=folder,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    preexec_fn=default_sigint)
            time.sleep(delay)
            proc.send_signal(signum)
            out, err = proc.communicate(timeout=300)
            result = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
        outcome.injections += 1
        if "Traceback" in result.stderr:
            outcome.resume_failures.append(f"{spec}: traceback: {result.stderr.strip().splitlines()[-1]}")
        resumed = _run(folder, pipeline)
        if resumed.returncode != 0 or "Traceback" in resumed.stderr:
            outcome.resume_failures.append(f"{spec}: resume exit {resumed.returncode}: "
                                           f"{resumed.stderr.strip()[-300:]} {resumed.stdout[-1500:]}")
            continue
        check(folder, "victim", outcome)
        outcome.log.append(f"{spec}: exit {result.returncode}, resumed")
    after = _hashes(folder, watched)
    outcome.files_lost = sum(after.get(k) != v for k, v in before.items())
    return outcome


def _no_run_left_running(folder: Path, outcome: Outcome, spec: str) -> None:
    client = MlflowClient(f"sqlite:///{folder}/mlruns/mlflow.db")
    running = client.search_runs([e.experiment_id for e in client.search_experiments()],
                                 "attributes.status = 'RUNNING'")
    storage = f"sqlite:///{folder}/mlruns/optuna.db"
    trials = [t for s in optuna.get_all_study_names(storage)
              for t in optuna.load_study(study_name=s, storage=storage).trials
              if t.state == optuna.trial.TrialState.RUNNING]
    outcome.left_running += len(running) + len(trials)
    if running or trials:
        outcome.log.append(f"RUNNING {spec}: runs {[r.info.run_id for r in running]}, "
                           f"trials {[t.number for t in trials]}")


def run_verb_faults(folder: Path, outcome: Outcome, faults: list[tuple[str, str, str]] | None = None) -> None:
    """Faults in ``automl distill`` and ``automl predict -o`` of a distilled study beside the others.

    After each: the published students (or predictions file) are byte-for-byte the earlier ones, unless the fault
    came after the new students were completely staged and listed (a kill leaves the listed stage for the next
    run to roll forward; a SIGINT or SIGTERM there lets the run finish moving them, exit 0); the next clean run
    of the verb succeeds; no run or trial is left RUNNING."""
    import numpy as np

    pipeline = write_pipeline(folder, name="student", study={"trials": 1}, train={"epochs": 2},
                              distill={"trials": 1, "epochs": 2})
    for verb in ("run", "distill"):
        done = _verb(folder, verb, str(pipeline))
        assert done.returncode == 0, done.stderr
    study = folder / "mlruns" / "student"
    rows = folder / "rows.npy"
    np.save(rows, np.random.default_rng(0).normal(size=(3000, 8)).astype("float32"))
    predictions = folder / "predictions.csv"
    done = _verb(folder, "predict", str(pipeline), str(rows), "-o", str(predictions))
    assert done.returncode == 0, done.stderr
    for verb, point, action in faults or VERB_POINTS:
        spec = f"{verb} {point}:{action}"
        watched = [study / n for n in STUDENTS] if verb == "distill" else [predictions]
        before = _hashes(folder, watched)
        args = [str(pipeline)] if verb == "distill" else [str(pipeline), str(rows), "-o", str(predictions)]
        nth = "2" if point == "epoch_end" else "1"
        result = _verb(folder, verb, *args, env={"AUTOML_FAULT": f"{point}:{action}:{nth}"})
        outcome.injections += 1
        if "Traceback" in result.stderr:
            outcome.resume_failures.append(f"{spec}: traceback: {result.stderr.strip().splitlines()[-1]}")
        after = _hashes(folder, watched)
        # at publish_students the new students are complete and listed: a kill leaves them listed for the next run
        # to roll forward; a SIGINT / SIGTERM there comes after the last safe point, so the run finishes moving
        # them and exits 0 (it did complete). Either way never a mix: the next run's check loads them.
        published = point == "publish_students" and (
            (study / "distilling" / "publish.json").exists()
            or (result.returncode == 0 and not (study / "distilling").exists()))
        if after != before and not published:
            outcome.files_lost += sum(after.get(k) != v for k, v in before.items())
            changed = sorted(k for k, v in before.items() if after.get(k) != v)
            outcome.log.append(f"{spec}: the earlier files changed: {changed}")
        leftovers = [p.name for p in folder.glob("*predictions.csv*") if p != predictions]
        if leftovers:
            outcome.log.append(f"{spec}: left {leftovers}")
            outcome.files_lost += len(leftovers)
        resumed = _verb(folder, verb, *args)
        if resumed.returncode != 0 or "Traceback" in resumed.stderr:
            outcome.resume_failures.append(f"{spec}: next run exit {resumed.returncode}: "
                                           f"{resumed.stderr.strip()[-300:]}")
            continue
        _no_run_left_running(folder, outcome, spec)
        if verb == "distill":
            import keras

            keras.models.load_model(study / "student.keras")
            if (study / "distilling").exists():
                outcome.log.append(f"{spec}: the stage is left after a clean run")
                outcome.files_lost += 1
        outcome.log.append(f"{spec}: exit {result.returncode}, next run clean")
