"""Faults injected into `automl run` (kill -9, SIGINT, SIGTERM, abort at named points and at random times),
each followed by a resume: nothing left RUNNING, no trial miscounted, no file of another study touched."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.faults.schedule import POINTS, Outcome, run_schedule, run_verb_faults


@pytest.mark.slow  # in `make test-slow` (the default suite stays under ~15 minutes on 2 cores)
def test_a_few_faults_heal(tmp_path: Path) -> None:
    outcome = run_schedule(tmp_path, injections=2, seed=1, random_share=0.0)
    assert outcome.resume_failures == [], outcome.log
    assert (outcome.left_running, outcome.files_lost) == (0, 0), outcome.log


@pytest.mark.slow
@pytest.mark.timeout(5400)
def test_the_full_fault_schedule(tmp_path: Path) -> None:
    injections = int(os.environ.get("AUTOML_FAULT_INJECTIONS", "32"))
    assert injections >= len(POINTS)
    outcome = run_schedule(tmp_path, injections=injections, seed=0)
    run_verb_faults(tmp_path, outcome)
    print(f"\ninjections={outcome.injections} left_running={outcome.left_running} files_lost={outcome.files_lost} "
          f"resume_failures={len(outcome.resume_failures)}")
    print("\n".join(outcome.log))
    assert outcome.resume_failures == [], outcome.resume_failures
    assert (outcome.left_running, outcome.files_lost) == (0, 0), outcome.log


@pytest.mark.slow
def test_a_killed_distill_and_predict_keep_their_files(tmp_path: Path) -> None:
    outcome = Outcome()
    run_verb_faults(tmp_path, outcome, [("distill", "publish_students", "kill"),
                                        ("predict", "predict_batch", "sigint")])
    assert outcome.resume_failures == [], outcome.log
    assert (outcome.left_running, outcome.files_lost) == (0, 0), outcome.log
