"""Change the space and keep going (issue 24): a resumed study whose space changed says exactly what changed;
`--continue` goes on with its trials under the new space, recorded in Optuna, MLflow and terms.json; a change
the study cannot go on through (another block, other choices of a categorical) is still refused in one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import optuna
from mlflow import MlflowClient
from typer.testing import CliRunner, Result

from automl.cli import app
from automl.config import load_pipeline
from automl.plan import make_plan
from automl.progress import Events
from automl.study.tune import TuneResult, tune
from automl.testing import TINY_TABULAR_SPACE, write_pipeline
from automl.testing.runner import FakeRunner, Play


def _space(**units: Any) -> dict[str, Any]:
    return {**TINY_TABULAR_SPACE, "params": {**TINY_TABULAR_SPACE["params"], "units": {"type": "int", **units}}}


# The trials are the fake runner's (no Keras): what is tested is the study's bookkeeping of a changed space. The
# refusals happen before any trial, so the CLI runs in-process. The same refusal after real Keras trials:
# tests/integration/test_run.py::test_rerun_resumes_and_new_starts_afresh; a resumed session that trains: the same.
def _tune(path: Path, fake: FakeRunner, **kwargs: Any) -> TuneResult:
    return tune(load_pipeline(path), runners=fake.factory, **kwargs)


def _automl(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def test_a_widened_range_goes_on_with_continue(tmp_path: Path, made_stores: Path) -> None:
    first = write_pipeline(tmp_path, space=_space(low=4, high=16), study={"trials": 3}, train={"epochs": 2})
    before = _tune(first, FakeRunner([Play(epochs=[0.5, 0.6]), Play(epochs=[0.7, 0.8]), Play(epochs=[0.4])]))
    wider = write_pipeline(tmp_path, space=_space(low=4, high=256), study={"trials": 3}, train={"epochs": 2})

    refused = _automl("run", str(wider))
    assert refused.exit_code == 2, refused.output
    assert refused.output.strip() == (
        "study 'tiny' exists with a different search space (units: int 4..16 -> int 4..256): run with --continue to "
        "go on with its trials under the new space, or use --name NEW_NAME for a study of its own (or another "
        "`name` in the pipeline), or --new to start 'tiny' afresh (its trials are deleted)")

    events = Events()
    _tune(wider, FakeRunner(default=Play(epochs=[0.9])), continue_space=True, progress=events)
    assert "goes on under a changed search space from trial 3 on: units: int 4..16 -> int 4..256" in " ".join(
        " ".join(str(e.args.get("text", "")) for e in events.of("note")).split())

    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{tmp_path}/mlruns/optuna.db")
    units = [t.params["units"] for t in study.trials]
    assert all(4 <= u <= 16 for u in units[:3]) and all(4 <= u <= 256 for u in units[3:])
    assert max(units[3:]) > 16  # the new trials sample the wider range
    assert study.best_value >= before.best_value  # the earlier trials are its history
    assert [(h["from_trial"], h["changes"]) for h in study.user_attrs["automl.spaces"]] == [
        (0, []), (3, ["units: int 4..16 -> int 4..256"])]
    terms = json.loads((tmp_path / "mlruns" / "tiny" / "terms.json").read_text())
    assert [(s["from_trial"], s["changes"]) for s in terms["spaces"]] == [(3, ["units: int 4..16 -> int 4..256"])]
    client = MlflowClient(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    sessions = client.search_runs([client.get_experiment_by_name("tiny").experiment_id],
                                  "tags.`automl.role` = 'study'", order_by=["attributes.start_time ASC"])
    assert [s.data.tags.get("automl.space_changes") for s in sessions] == [None, "units: int 4..16 -> int 4..256"]
    assert len({s.data.params["space_fingerprint"] for s in sessions}) == 2  # which space each session ran


def test_other_choices_are_refused_even_with_continue(tmp_path: Path, made_stores: Path) -> None:
    _tune(write_pipeline(tmp_path, study={"trials": 1}, train={"epochs": 1}), FakeRunner())
    params = {**TINY_TABULAR_SPACE["params"], "optimizer": {"type": "categorical", "choices": ["sgd", "rmsprop"]}}
    changed = write_pipeline(tmp_path, space={**TINY_TABULAR_SPACE, "params": params}, study={"trials": 1},
                             train={"epochs": 1})
    result = _automl("run", str(changed), "--continue")
    assert result.exit_code == 2, result.output
    assert result.output.strip() == (
        "study 'tiny' exists with a different search space (optimizer: categorical [sgd, adam] -> categorical [sgd, "
        "rmsprop]): use --name NEW_NAME for a study of its own (or another `name` in the pipeline), or --new to "
        "start 'tiny' afresh (its trials are deleted)")


def test_a_mobilenet_study_from_before_stem_stride_is_refused_and_can_keep_its_stem(
        tmp_path: Path, made_stores: Path, monkeypatch: Any) -> None:
    """The block's stem became stride 2 on images of 32 px and more (`stem_stride: auto`): a study started before
    is refused in one line naming the new parameter (its trials' parameters would build other models), and goes
    on with the models it had with `stem_stride: 1` and `--continue`."""
    from automl.builders.blocks.mobilenet import MobileNetBlock

    now = MobileNetBlock.hyperparameters

    def before(self: MobileNetBlock, rank: int | None = None) -> dict[str, Any]:
        return {k: v for k, v in now(self, rank).items() if k != "stem_stride"}  # the block before stem_stride

    def pipeline(**fixed: Any) -> Path:
        space = {"block": "mobilenet", "params": {"stages": {"type": "int", "low": 1, "high": 3}, **fixed}}
        return write_pipeline(tmp_path, name="vision", data={"source": "digits"}, space=space, study={"trials": 2},
                              train={"epochs": 1})

    with monkeypatch.context() as old:
        old.setattr(MobileNetBlock, "hyperparameters", before)
        _tune(pipeline(), FakeRunner(default=Play(epochs=[0.5])))

    refused = _automl("run", str(pipeline()))
    assert refused.exit_code == 2, refused.output
    assert " ".join(refused.output.split()) == (
        "study 'vision' exists with a different search space (stem_stride: added (fixed auto)): run with --continue "
        "to go on with its trials under the new space, or use --name NEW_NAME for a study of its own (or another "
        "`name` in the pipeline), or --new to start 'vision' afresh (its trials are deleted)")

    fake = FakeRunner(default=Play(epochs=[0.6]))
    _tune(pipeline(stem_stride=1), fake, continue_space=True)
    assert [r.hp["stem_stride"] for r in fake.ran] == [1, 1]  # the new trials
    study = optuna.load_study(study_name="vision", storage=f"sqlite:///{tmp_path}/mlruns/optuna.db")
    space = make_plan(load_pipeline(pipeline(stem_stride=1))).space
    for old in study.trials[:2]:  # an earlier trial rebuilt (refit, teacher) is the model it was
        assert space.decode(space.replay(old.params))[1]["stem_stride"] == 1
    assert [(h["from_trial"], h["changes"]) for h in study.user_attrs["automl.spaces"]] == [
        (0, []), (2, ["stem_stride: added (fixed 1)"])]
