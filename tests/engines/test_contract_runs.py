"""The engine contract end to end: `automl run` under every engine, real Keras on ~200 samples, a real
MLflow store. Whatever the engine, the MLflow records have the same shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

import automl
from automl.engines import ENGINE_SAMPLERS
from automl.testing import write_pipeline
from automl.tracking import tracking_uri
from automl.tracking.mlflow import param_value
from tests.engines.contract import ENGINES

PARENT = "mlflow.parentRunId"


def _sampler(engine: str) -> str:
    return "random" if "random" in ENGINE_SAMPLERS[engine] else ENGINE_SAMPLERS[engine][0]


def _runs(experiment: str) -> tuple[list[Any], list[Any]]:
    client = MlflowClient(tracking_uri())
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    return [r for r in runs if PARENT not in r.data.tags], [r for r in runs if PARENT in r.data.tags]


def _shape(experiment: str) -> dict[str, Any]:
    """The keys, statuses and epoch steps of a study's runs; not the values, which depend on the sampler."""
    client = MlflowClient(tracking_uri())
    parents, children = _runs(experiment)
    return {
        # `best.<param>` keys are the best trial's active parameters: checked on their own
        "parents": sorted((r.info.status, sorted(r.data.tags), sorted(k for k in r.data.params if "." not in k),
                           sorted(r.data.metrics), sorted(a.path for a in client.list_artifacts(r.info.run_id)))
                          for r in parents),
        "child_statuses": sorted(r.info.status for r in children),
        "child_tags": sorted({k for r in children for k in r.data.tags}),
        "child_metrics": sorted({k for r in children for k in r.data.metrics}),
        "steps": sorted({tuple(sorted(m.step for m in client.get_metric_history(r.info.run_id, key)))
                         for r in children for key in ("loss", "val_loss", "val_accuracy", "lr")}),
    }


def test_mlflow_runs_look_the_same_under_every_engine_and_a_rerun_resumes(tmp_path: Path) -> None:
    shapes = {}
    for engine in ENGINES:
        study = f"by-{engine}"  # (a study may not be named `keras_tuner`: the stores own mlruns/keras_tuner)
        path = write_pipeline(tmp_path, name=study, study={"engine": engine, "sampler": _sampler(engine),
                                                          "trials": 2})
        automl.run(path)
        result = automl.run(path, {"study.trials": 1})  # resumes: total = earlier + new
        assert [t.number for t in result.trials] == [0, 1, 2]
        parents, children = _runs(study)
        assert len(parents) == 2 and len(children) == 3
        assert sorted(int(c.data.tags["automl.trial"]) for c in children) == [0, 1, 2]
        for child in children:
            record = result.trials[int(child.data.tags["automl.trial"])]
            assert child.data.tags["automl.engine"] == engine
            assert child.data.tags["automl.engine_trial_id"]
            # every active value and nothing else: an inactive parameter never reaches MLflow
            assert ("momentum" in child.data.params) == (record.params["optimizer"] == "sgd")
            for name, value in record.params.items():
                assert child.data.params[name] == param_value(value)  # the one formatting Tracker.log uses
        best = max(parents, key=lambda r: r.data.tags["automl.trials_before"])
        assert {k.removeprefix("best.") for k in best.data.params if k.startswith("best.")} == set(
            result.trials[result.best_trial].params)
        shapes[engine] = _shape(study)
    reference = shapes[ENGINES[0]]
    assert reference["steps"] == [(0, 1)]
    for engine, shape in shapes.items():
        for key, value in shape.items():
            assert value == reference[key], (engine, key)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_failing_trial_is_recorded_failed_with_its_reason(tmp_path: Path, engine: str) -> None:
    space = {"block": "mlp", "params": {
        "layers": 2, "units": 32, "activation": "relu", "dropout": 0.0,
        "optimizer": "sgd", "momentum": 0.9, "lr": {"type": "categorical", "choices": [10.0, 0.01]}}}
    data = {"source": "synthetic", "samples": 200, "features": 8, "classes": 0}
    result = automl.run(write_pipeline(tmp_path, space=space, data=data,
                                       study={"engine": engine, "sampler": _sampler(engine), "trials": 3}))
    states = {t.params["lr"]: t.state for t in result.trials}
    assert states == {10.0: "FAIL", 0.01: "COMPLETE"}, states
    assert all(t.attrs["fail_reason"].startswith("loss became") for t in result.trials if t.state == "FAIL")
    _, children = _runs("tiny")
    assert len(children) == len(result.trials)
    failed = [c for c in children if c.data.tags["automl.state"] == "FAIL"]
    assert failed and all(c.info.status == "FAILED" for c in failed)
    assert all(c.data.tags["automl.fail_reason"].startswith("loss became") for c in failed)
    assert result.best_value is not None
