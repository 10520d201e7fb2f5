"""The study's observer protocol and its terminal renderings (bars on a TTY, lines in logs)."""

from __future__ import annotations

import io
import re
from pathlib import Path

from rich.console import Console
from typer.testing import CliRunner

import automl
from automl.cli import app
from automl.console import RichProgress, _clock
from automl.progress import Events, Fanout, Progress
from automl.testing.studies import StudyDir

EPOCH = {"loss": 0.9, "accuracy": 0.6, "val_loss": 1.0, "val_accuracy": 0.55, "lr": 0.01}


def _drive(observer: Progress) -> None:
    """A resumed study of 3 trials: a new best, a pruned trial, a failed one."""
    observer.study_started("demo", 3, 2, "val_accuracy", "maximize")
    outcomes = [("COMPLETE", 0.8, 0.8, None), ("PRUNED", 0.5, 0.8, "pruned after epoch 1"),
                ("FAIL", None, 0.8, "loss became nan at epoch 0")]
    for i, (state, value, best, reason) in enumerate(outcomes):
        observer.trial_started(i + 2, {"lr": 0.01, "units": 8})
        for epoch in range(2):
            observer.epoch_ended(i + 2, epoch, 2, EPOCH)
        observer.trial_ended(i + 2, state, value, best, reason, 1.5)
    observer.study_ended()


def _render(*, terminal: bool, **kwargs: bool) -> str:
    buffer = io.StringIO()
    _drive(RichProgress(Console(file=buffer, force_terminal=terminal, width=160), **kwargs))
    return buffer.getvalue()


def test_log_output_is_one_line_per_trial_with_state_value_and_best() -> None:
    lines = _render(terminal=False).splitlines()
    trials = [ln for ln in lines if " trial " in ln]
    assert len(trials) == 3
    assert trials[0].startswith("[1/3] trial   2 COMPLETE val_accuracy=0.8000  best=0.8000 *")
    assert "PRUNED" in trials[1] and "(pruned after epoch 1)" in trials[1]
    assert "FAIL" in trials[2] and "val_accuracy=-" in trials[2] and "loss became nan" in trials[2]
    assert "resuming: 2 earlier trials" in lines[0]
    assert lines[-1].startswith("study demo: 3 trials in") and "1 complete, 1 fail, 1 pruned" in lines[-1]
    assert "best val_accuracy=0.8000 (trial 2)" in lines[-1]
    assert "\x1b[" not in "".join(lines)  # no escape codes in logs


def test_verbose_log_adds_parameters_and_epochs() -> None:
    out = _render(terminal=False, verbose=True)
    assert "trial 2 params: lr=0.01, units=8" in out
    assert len(re.findall(r"trial \d epoch \d/2 loss=0.9 ", out)) == 6


def test_quiet_prints_nothing() -> None:
    assert _render(terminal=False, quiet=True) == ""
    assert _render(terminal=True, quiet=True) == ""


def test_terminal_draws_study_and_epoch_bars() -> None:
    out = _render(terminal=True)
    assert "\x1b[" in out  # a live display
    assert "3/3" in out and "ETA" in out
    assert "best val_accuracy=0.8000 (trial 2)" in out
    assert "val_loss=1" in out and "val_accuracy=0.55" in out  # the running trial's live metrics
    assert "trial 3" in out and "2/2" in out  # its epoch bar
    # lines above the bars: the new best and the failure, not the pruned trial (that one is in the bar's counts)
    assert "trial   2 COMPLETE" in out and "trial   4 FAIL" in out and "trial   3 PRUNED" not in out
    assert "1 fail, 1 pruned" in out


def test_eta_is_mean_trial_time_times_trials_left() -> None:
    p = RichProgress(Console(file=io.StringIO()), live=False)
    p.study_started("s", 5, 0, "val_accuracy", "maximize")
    assert p.eta() is None
    for n in range(2):
        p.trial_started(n, {})
        p.trial_ended(n, "COMPLETE", 0.5, 0.5, None, 10.0)
    assert p.eta() == 30.0
    assert _clock(3725.2) == "1:02:05" and _clock(None) == "-:--:--"


def test_events_and_fanout_record_every_call_in_order() -> None:
    a, b = Events(), Events()
    _drive(Fanout(a, b))
    kinds = [e.kind for e in a.events]
    assert kinds == [e.kind for e in b.events]
    assert kinds[0] == "study_started" and kinds[-1] == "study_ended"
    assert kinds.count("trial_started") == 3 and kinds.count("epoch_ended") == 6
    assert [e.args["state"] for e in a.of("trial_ended")] == ["COMPLETE", "PRUNED", "FAIL"]


def test_a_real_study_calls_the_observer_in_protocol_order(tiny_study: StudyDir, in_study: Path) -> None:
    events = Events()
    result = automl.run(tiny_study.pipeline, {"study.trials": 1}, progress=events)
    kinds = [e.kind for e in events.events]
    assert kinds[0] == "study_started" and kinds[-1] == "study_ended"
    started = events.of("study_started")[0].args
    assert started["total"] == 1 and started["done_before"] >= 4  # resumed the fixture's study
    assert (started["metric"], started["direction"]) == ("val_accuracy", "maximize")
    for begun, ended in zip(events.of("trial_started"), events.of("trial_ended"), strict=True):
        epochs = [e for e in events.of("epoch_ended") if e.args["number"] == begun.args["number"]]
        assert [e.args["epoch"] for e in epochs] == list(range(len(epochs)))
        assert begun.at <= min(e.at for e in epochs) and max(e.at for e in epochs) <= ended.at
        assert "val_accuracy" in epochs[-1].args["metrics"]
    assert events.of("trial_ended")[-1].args["best"] == result.best_value


def test_cli_run_in_a_log_prints_one_line_per_trial(tiny_study: StudyDir, in_study: Path) -> None:
    out = CliRunner().invoke(app, ["run", str(tiny_study.pipeline), "--trials", "2"])
    assert out.exit_code == 0, out.output
    assert len(re.findall(r"^\[[12]/2\] trial +\d+ (COMPLETE|PRUNED) ", out.output, flags=re.M)) == 2, out.output
    assert "\x1b[" not in out.output
