"""`study.sampler` / `study.pruner` as a name or a mapping with options, `study.enqueue`, `study.from_study`."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from automl import api
from automl.cli import app
from automl.config import load_pipeline
from automl.config.models import StudyConfig
from automl.engines import missing_extra
from automl.engines.base import StudySettings
from automl.testing import write_pipeline

runner = CliRunner()


def _validate(path: Path, *sets: str) -> tuple[int, str]:
    args = [a for s in sets for a in ("--set", s)]
    result = runner.invoke(app, ["validate", str(path), *args])
    return result.exit_code, result.output.strip()


def test_a_name_alone_means_the_defaults_as_before() -> None:
    study = StudyConfig.model_validate({"sampler": "tpe", "pruner": "median"})
    assert (study.sampler, study.pruner) == ("tpe", "median")
    assert study.sampler_options == {"n_startup_trials": None, "multivariate": True, "group": None}
    assert study.pruner_options == {"warmup_epochs": None, "interval_epochs": 1, "n_startup_trials": 5,
                                    "n_min_trials": 1}
    assert StudyConfig().engine_options() == {
        "sampler_options": study.sampler_options, "pruner_options": study.pruner_options, "enqueue": [],
        "from_study": None}


def test_engine_options_are_study_settings_fields() -> None:
    fields = {f.name for f in dataclasses.fields(StudySettings)}
    assert set(StudyConfig().engine_options()) <= fields


def test_the_mapping_form_keeps_the_name_where_readers_look_and_the_options_beside_it(tmp_path: Path) -> None:
    path = write_pipeline(tmp_path, study={"sampler": {"name": "tpe", "n_startup_trials": 5, "multivariate": True},
                                           "pruner": {"name": "percentile", "percentile": 10, "warmup_epochs": 2}})
    study = load_pipeline(path).config.study
    assert (study.sampler, study.pruner) == ("tpe", "percentile")
    assert study.sampler_options["n_startup_trials"] == 5
    assert (study.pruner_options["percentile"], study.pruner_options["warmup_epochs"]) == (10.0, 2)
    # and on the command line, a mapping in YAML
    study = load_pipeline(path, ["study.sampler={name: qmc, qmc_type: halton}"]).config.study
    assert (study.sampler, study.sampler_options) == ("qmc", {"qmc_type": "halton", "scramble": True})


@pytest.mark.parametrize(("trials", "size"), [(1, 4), (20, 4), (50, 10), (100, 20), (1000, 20)])
def test_nsga_population_follows_the_sessions_trials(trials: int, size: int) -> None:
    study = StudyConfig.model_validate({"sampler": {"name": "nsga2"}, "trials": trials})
    assert study.sampler_options["population_size"] == size
    given = StudyConfig.model_validate({"sampler": {"name": "nsga3", "population_size": 7}, "trials": trials})
    assert given.sampler_options["population_size"] == 7


@pytest.mark.parametrize(("sets", "expected"), [
    (["study.sampler={name: tpe, multivarate: true}"],
     "tiny.yaml: study.sampler.multivarate: unknown tpe sampler option 'multivarate'; did you mean "
     "'multivariate'? (choices: group, multivariate, n_startup_trials)"),
    (["study.sampler={name: tpe, n_startup_trials: -1}"],
     "tiny.yaml: study.sampler.n_startup_trials: expected a value >= 0, got -1"),
    (["study.sampler={name: tpe, group: true, multivariate: false}"],
     "tiny.yaml: study.sampler.group: `group: true` needs `multivariate: true`, got multivariate=false"),
    (["study.sampler={n_startup_trials: 5}"], "tiny.yaml: study.sampler.name: required key is missing"),
    (["study.sampler={name: tpee}"], "tiny.yaml: study.sampler: unknown optuna sampler 'tpee'; did you mean 'tpe'?"),
    (["study.sampler={name: random, seed: 3}"], "tiny.yaml: study.sampler.seed: sampler 'random' takes no options"),
    (["study.sampler={name: nsga2, population_size: 1}"],
     "tiny.yaml: study.sampler.population_size: expected a value >= 2, got 1"),
    (["study.sampler={name: nsga2, population_size: 2.5}"],
     "tiny.yaml: study.sampler.population_size: expected an integer, got 2.5"),
    (["study.sampler={name: nsga3, crossover: spx, population_size: 2}"],
     "tiny.yaml: study.sampler.population_size: crossover spx needs `population_size >= 3`, got 2"),
    (["study.sampler={name: cmaes, with_margin: true, lr_adapt: true}"],
     "tiny.yaml: study.sampler.lr_adapt: at most one of with_margin, use_separable_cma, lr_adapt may be true"),
    (["study.pruner={name: percentile, percentile: 120}"],
     "tiny.yaml: study.pruner.percentile: expected a value <= 100, got 120"),
    (["study.pruner={name: median, warmup: 2}"],
     "tiny.yaml: study.pruner.warmup: unknown median pruner option 'warmup'; did you mean 'warmup_epochs'?"),
    (["study.pruner={name: threshold}"],
     "tiny.yaml: study.pruner.lower: the threshold pruner needs `lower`, `upper` or both"),
    (["study.pruner={name: threshold, lower: 0.9, upper: 0.1}"],
     "tiny.yaml: study.pruner.lower: `lower <= upper` must hold, got lower=0.9, upper=0.1"),
    (["study.pruner={name: hyperband, reduction_factor: 1}"],
     "tiny.yaml: study.pruner.reduction_factor: expected a value >= 2, got 1"),
    (["study.engine=keras_tuner", "study.sampler={name: random, seed: 1}"],
     "tiny.yaml: study.sampler.seed: keras_tuner samplers take no options, got seed: write `sampler: random`"),
    (["study.engine=keras_tuner", "study.enqueue=[{lr: 0.01}]"],
     "tiny.yaml: study.enqueue: warm starts need engine optuna, got engine keras_tuner"),
    (["study.engine=keras_tuner", "study.from_study=other"],
     "tiny.yaml: study.from_study: warm starts need engine optuna, got engine keras_tuner"),
    (["study.enqueue=[{lr: 0.01}, {}]"], "tiny.yaml: study.enqueue.1: expected a mapping of parameter -> value"),
    (["study.enqueue=[{lr: [1, 2]}]"], "tiny.yaml: study.enqueue.0.lr"),
    (["study.from_study=a/b"], "tiny.yaml: study.from_study: expected a study name"),
])
def test_bad_options_are_one_line_naming_the_option(tmp_path: Path, sets: list[str], expected: str) -> None:
    code, out = _validate(write_pipeline(tmp_path), *sets)
    assert code == 2
    assert len(out.splitlines()) == 1, out
    assert expected in out, out


@pytest.mark.skipif(missing_extra("gp") is None, reason="torch is installed")
def test_gp_without_torch_fails_validation_naming_the_extra(tmp_path: Path) -> None:
    code, out = _validate(write_pipeline(tmp_path), "study.sampler=gp")
    assert code == 2 and out.endswith("tiny.yaml: study.sampler: sampler 'gp' needs torch, which is not installed: "
                                      "pip install 'automl[gp]'"), out
    assert len(out.splitlines()) == 1


def test_the_editor_schema_accepts_both_forms(tmp_path: Path) -> None:
    result = runner.invoke(app, ["schema"])
    schema = json.loads(result.output)
    doc = {"name": "x", "data": {"source": "iris"}, "space": "s.yaml"}
    for study in ({"sampler": "tpe"}, {"sampler": {"name": "tpe", "n_startup_trials": 3},
                                       "pruner": {"name": "patient", "patience": 2}, "enqueue": [{"lr": 0.01}],
                                       "from_study": "other"}):
        jsonschema.validate({**doc, "study": study}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**doc, "study": {"sampler": {"n_startup_trials": 3}}}, schema)


def test_from_study_in_the_api_is_the_override_of_study_from_study(tmp_path: Path) -> None:
    path = write_pipeline(tmp_path)
    loaded = api._pipeline(path, ["study.trials=2"], "earlier")
    assert (loaded.config.study.from_study, loaded.config.study.trials) == ("earlier", 2)
    assert api._pipeline(path, {"study.trials": 2}, "earlier").config.study.from_study == "earlier"
    with pytest.raises(TypeError, match="from_study apply to a pipeline path"):
        api.run(loaded, from_study="earlier")
