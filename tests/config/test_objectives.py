"""`study.objectives`, `study.constraints`, `study.measure`: the forms a pipeline may write, and one-line errors
naming the file and the key for what it may not."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from automl.cli import app
from automl.config import load_pipeline
from automl.config.constraints import parse_constraint
from automl.config.models import StudyConfig
from automl.errors import ConfigError
from automl.plan import make_plan
from automl.testing import write_pipeline

runner = CliRunner()
PARETO = [{"metric": "val_accuracy", "direction": "maximize"}, {"metric": "tflite_latency_ms", "direction": "minimize"}]


def _error(tmp_path: Path, **study: object) -> str:
    path = write_pipeline(tmp_path, study=study)
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"{path}: "), lines[0]
    return lines[0][len(f"{path}: "):]


def test_the_long_form_and_the_shorthand_read_the_same(tmp_path: Path) -> None:
    long = load_pipeline(write_pipeline(tmp_path, name="a", study={"objectives": PARETO})).config.study
    short = load_pipeline(write_pipeline(tmp_path, name="b", study={
        "objectives": [{"val_accuracy": "maximize"}, {"tflite_latency_ms": "minimize"}]})).config.study
    inferred = load_pipeline(write_pipeline(tmp_path, name="c", study={
        "objectives": ["val_accuracy", {"metric": "tflite_latency_ms"}]})).config.study
    assert long.objectives == short.objectives == inferred.objectives
    assert [(o.metric, o.direction) for o in long.objectives or []] == [("val_accuracy", "maximize"),
                                                                         ("tflite_latency_ms", "minimize")]
    assert long.multi_objective and long.measured == ("tflite_latency_ms",)


def test_a_multi_objective_study_does_not_prune_by_default() -> None:
    assert StudyConfig.model_validate({"objectives": PARETO}).pruner == "none"
    assert StudyConfig.model_validate({"objectives": PARETO[:1]}).pruner == "median"  # one objective prunes


def test_a_multi_objective_study_may_prune_dominated_trials(tmp_path: Path) -> None:
    study = load_pipeline(write_pipeline(tmp_path, study={
        "objectives": PARETO, "pruner": {"name": "dominated", "warmup_epochs": 2, "min_trials": 3}})).config.study
    assert study.pruner == "dominated"
    assert study.pruner_options == {"warmup_epochs": 2, "interval_epochs": 1, "min_trials": 3}
    plain = StudyConfig.model_validate({"objectives": PARETO, "pruner": "dominated"})
    assert plain.pruner == "dominated"


def test_constraints_are_parsed_and_name_what_is_measured(tmp_path: Path) -> None:
    study = load_pipeline(write_pipeline(tmp_path, study={
        "constraints": ["tflite_kib <= 64", "params_count<20000"]})).config.study
    assert study.measured == ("tflite_kib",)
    assert study.measure.format == "int8" and study.measure.threads == 1


def test_no_measurement_without_a_tflite_metric(tmp_path: Path) -> None:
    study = load_pipeline(write_pipeline(tmp_path, study={
        "objectives": ["val_accuracy", "params_count"], "pruner": "none"})).config.study
    assert study.measured == ()


@pytest.mark.parametrize(("study", "expected"), [
    ({"objectives": [{"metric": "tflite_latncy_ms"}]},
     "study.objectives.0.metric: expected val_<metric> or one of params_count, tflite_kib, tflite_latency_ms, got "
     "'tflite_latncy_ms'; did you mean 'tflite_latency_ms'?"),
    ({"objectives": [{"params_count": "maximize"}]},
     "study.objectives.0.direction: params_count must be minimized, got direction=maximize"),
    ({"objectives": ["val_accuracy", "val_accuracy"]},
     "study.objectives.1.metric: each metric may be one objective once, got val_accuracy twice"),
    ({"objectives": PARETO, "metric": "val_accuracy"},
     "study.metric: `objectives` replaces `metric` and `direction`: set one or the other, got metric=val_accuracy "
     "beside objectives"),
    ({"objectives": PARETO, "pruner": "median"},
     "study.pruner: a multi-objective study prunes with `dominated` or not at all (Optuna prunes single-objective "
     "studies only), got pruner median: set `pruner: dominated`, `pruner: none` or leave it out (none)"),
    ({"objectives": PARETO, "pruner": {"name": "hyperband", "min_resource": 2}},
     "study.pruner: a multi-objective study prunes with `dominated` or not at all (Optuna prunes single-objective "
     "studies only), got pruner hyperband: set `pruner: dominated`, `pruner: none` or leave it out (none)"),
    ({"pruner": "dominated"},
     "study.pruner: pruner dominated compares the objectives of a multi-objective study, and this study has "
     "one objective: list two or more in `objectives`, or use median, percentile, ..."),
    ({"objectives": ["val_accuracy"], "pruner": {"name": "dominated", "min_trials": 2}},
     "study.pruner: pruner dominated compares the objectives of a multi-objective study, and this study has "
     "one objective: list two or more in `objectives`, or use median, percentile, ..."),
    ({"objectives": PARETO, "pruner": {"name": "dominated", "min_trials": 0}},
     "study.pruner.min_trials: expected a positive integer, got 0"),
    ({"objectives": PARETO, "pruner": {"name": "dominated", "percentile": 25}},
     "study.pruner.percentile: unknown dominated pruner option 'percentile' (choices: interval_epochs, "
     "min_trials, warmup_epochs)"),
    ({"objectives": PARETO, "sampler": "cmaes"},
     "study.sampler: sampler cmaes optimizes one objective, got 2 objectives: use tpe, nsga2, nsga3, gp, random, "
     "qmc or grid"),
    ({"objectives": PARETO, "engine": "keras_tuner", "sampler": "random"},
     "study.objectives: a multi-objective study needs engine optuna, got engine keras_tuner (it optimizes one "
     "metric)"),
    ({"constraints": ["tflite_kib <= 64"], "engine": "keras_tuner", "sampler": "random"},
     "study.constraints: constraints need engine optuna, got engine keras_tuner"),
    ({"constraints": ["tflite_kib == 64"]},
     "study.constraints.0: expected `METRIC <= NUMBER` (or <, >=, >), got 'tflite_kib == 64'"),
    ({"constraints": ["tflite_kib <= 64", "val_accuracy >= 0.9"]},
     "study.constraints.1: unknown constraint metric 'val_accuracy' (choices: params_count, tflite_kib, "
     "tflite_latency_ms)"),
    ({"measure": {"format": "int4"}},
     "study.measure.format: expected one of 'int8', 'float32', 'float16' or 'dynamic', got 'int4'"),
])
def test_bad_objectives_and_constraints_are_one_line(tmp_path: Path, study: dict[str, object], expected: str) -> None:
    assert _error(tmp_path, **study) == expected


def test_an_objective_metric_of_another_task_names_its_key(tmp_path: Path) -> None:
    path = write_pipeline(tmp_path, study={"objectives": ["val_accuracy", "val_mae"], "pruner": "none"})
    with pytest.raises(ConfigError) as err:
        make_plan(load_pipeline(path))
    assert str(err.value).startswith(f"{path}: study.objectives.1.metric: unknown objective metric for "
                                     "classification 'val_mae'")


def test_the_plan_trains_on_the_first_scored_objective(tmp_path: Path) -> None:
    path = write_pipeline(tmp_path, study={"objectives": [{"params_count": "minimize"}, {"val_loss": "minimize"}],
                                           "constraints": ["params_count <= 500"]})
    plan = make_plan(load_pipeline(path))
    assert plan.objectives == (("params_count", "minimize"), ("val_loss", "minimize"))
    assert (plan.metric, plan.direction) == ("val_loss", "minimize")
    assert plan.directions == ["minimize", "minimize"] and plan.multi_objective
    assert [str(c) for c in plan.constraints] == ["params_count <= 500"]


def test_a_single_objective_pipeline_plans_as_before(tmp_path: Path) -> None:
    plan = make_plan(load_pipeline(write_pipeline(tmp_path)))
    assert plan.objectives == () and plan.constraints == ()
    assert plan.directions == ["maximize"] and not plan.multi_objective


@pytest.mark.parametrize(("text", "value", "holds"), [
    ("tflite_latency_ms <= 1.0", 1.0, True), ("tflite_latency_ms < 1.0", 1.0, False),
    ("tflite_kib >= 64", 63.9, False), ("params_count > 1e3", 1001, True), ("tflite_kib<=.5", 0.25, True)])
def test_the_constraint_parser(text: str, value: float, holds: bool) -> None:
    constraint = parse_constraint(text)
    assert constraint.holds(value) is holds
    assert (constraint.violation(value) <= 0) is holds


@pytest.mark.parametrize("text", ["", "tflite_kib", "tflite_kib <= ", "<= 3", "tflite_kib <= 3 and x",
                                  "__import__('os') <= 1", "tflite_kib <= nan", "tflite_kib <= inf", "tflite_kib => 3"])
def test_the_constraint_parser_refuses_anything_else(text: str) -> None:
    with pytest.raises(ValueError, match="expected"):
        parse_constraint(text)


def test_the_plan_holds_the_objectives_in_one_shape(tmp_path: Path) -> None:
    from automl._types import Goal, Objectives

    plan = make_plan(load_pipeline(write_pipeline(tmp_path, study={
        "objectives": [{"val_accuracy": "maximize"}, {"params_count": "minimize"}]})))
    assert isinstance(plan.objectives, Objectives) and plan.objectives.multi and plan.multi_objective
    assert plan.objectives[1] == Goal("params_count", "minimize") and plan.objectives.metrics[0] == "val_accuracy"
