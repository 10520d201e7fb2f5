"""Sizes and counts in a pipeline have sane bounds; errors show at most a few hundred characters of a value."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from automl._text import did_you_mean, one_of, show
from automl.cli import app
from automl.testing import write_pipeline

runner = CliRunner()


def _validate(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["validate", *args])
    return result.exit_code, result.output.strip()


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("train.batch_size=65537", "train.batch_size: expected a value <= 65536, got 65537"),
        ("train.batch_size=1.0e+20", "train.batch_size: expected a value <= 65536, got 1e+20"),
        ("train.batch_size=32.5", "train.batch_size: expected an integer, got 32.5"),
        ("train.epochs=100001", "train.epochs: expected a value <= 100000, got 100001"),
        ("study.trials=1000001", "study.trials: expected a value <= 1000000, got 1000001"),
        ("study.workers=1025", "study.workers: expected a value <= 1024, got 1025"),
        ("study.cv_folds=101", "study.cv_folds: expected a value <= 100, got 101"),
        ("study.timeout=.inf", "study.timeout: expected a finite number, got inf"),
        ("study.timeout=.nan", "study.timeout: expected a finite number, got nan"),
        ("seed=-1", "seed: expected a value >= 0, got -1"),
        ("seed=2147483648", "seed: expected a value <= 2147483647, got 2147483648"),
        ("seed=1000000000000000000000000000000", "seed: expected a value <= 2147483647, got "
                                                 "1000000000000000000000000000000"),
        ("data.samples=1000001", "data.samples: expected a value <= 1000000, got 1000001"),
        ("data.features=100001", "data.features: expected a value <= 100000, got 100001"),
        ("data.classes=1001", "data.classes: expected a value <= 1000, got 1001"),
        ("data.noise=1.5", "data.noise: expected a value <= 1, got 1.5"),
        ("data.shape=[]", "data.shape: expected at least 1 item, got []"),
        ("data.shape=[2,2,2,2]", "data.shape: expected at most 3 items, got [2, 2, 2, 2]"),
        ("data.shape=[100001]", "data.shape.0: expected a value <= 100000, got 100001"),
        ("distill.epochs=100001", "distill.epochs: expected a value <= 100000, got 100001"),
        ("distill.trials=1000001", "distill.trials: expected a value <= 1000000, got 1000001"),
        ("export.latency_runs=100001", "export.latency_runs: expected a value <= 100000, got 100001"),
        ("export.representative_samples=1000001",
         "export.representative_samples: expected a value <= 1000000, got 1000001"),
    ],
)
def test_sizes_and_counts_are_bounded(tmp_path: Path, override: str, expected: str) -> None:
    code, out = _validate(str(write_pipeline(tmp_path)), "--set", override)
    assert code == 2, out
    assert out == f"{tmp_path / 'tiny.yaml'}: {expected}"


def test_synthetic_data_size_is_bounded(tmp_path: Path) -> None:
    path = write_pipeline(tmp_path, data={"source": "synthetic", "samples": 1_000_000, "shape": [100, 1000]})
    code, out = _validate(str(path))
    assert code == 2
    assert out == f"{path}: data.samples: `samples x values per sample <= 100000000` must hold, got 1000000 x 100000"


def test_a_float_in_the_file_for_an_integer_names_the_key(tmp_path: Path) -> None:
    code, out = _validate(str(write_pipeline(tmp_path, train={"batch_size": 1e20})))
    assert code == 2
    assert out == f"{tmp_path / 'tiny.yaml'}: train.batch_size: expected a value <= 65536, got 1e+20"


def test_image_size_is_bounded(tmp_path: Path) -> None:
    path = write_pipeline(tmp_path, data={"source": "image_folder", "path": ".", "image_size": [16, 100000]})
    code, out = _validate(str(path))
    assert code == 2
    assert out == f"{path}: data.image_size.1: expected a value <= 8192, got 100000"


def test_the_defaults_and_the_shipped_pipelines_still_validate(repo: Path) -> None:
    from automl.config.loader import load_pipeline

    for path in sorted((repo / "pipelines").glob("*.yaml")):
        load_pipeline(path)


MEGA = "x" * 1_000_000


@pytest.mark.parametrize(
    "overrides",
    [
        [f"train.batch_size={MEGA}"],  # type error: the value is shown
        [f"study.sampler={MEGA}"],  # did-you-mean over the choices
        [f"study.{MEGA}=1"],  # unknown key: the key is shown
        [f"space.params.units.when={MEGA}"],  # a space validator's message quotes the value
        [f"distill.alpha={MEGA}"],
        [f"name={MEGA} y"],  # a name that is not one
        [f"name.{MEGA}.x=1"],  # a key path through a value that is not a mapping
        ["data.source=csv", "data.target=y", f"data.path={MEGA}"],  # a file name too long for the system
        [f"space={MEGA}"],  # the same, for the space file (the error names it)
        ["data.source=csv", "data.target=y", f"data.path={'y' * 300}.csv"],  # one path part too long
        [f"space={'y' * 300}.yaml"],
    ],
)
def test_a_megabyte_value_gives_a_short_line(tmp_path: Path, overrides: list[str]) -> None:
    path = str(write_pipeline(tmp_path))
    code, out = _validate(path, *[arg for o in overrides for arg in ("--set", o)])
    assert code == 2
    assert len(out.splitlines()) == 1, out[:1000]
    assert len(out) - len(path) < 400, out[:1000]


def test_show_bounds_strings() -> None:
    shown = show("ab" * 500_000)
    assert shown.startswith("'abab") and shown.endswith("... (1000000 characters)")
    assert len(shown) < 250
    assert show("short") == "'short'"


def test_show_bounds_containers_and_numbers() -> None:
    nested: list[object] = ["x"]
    for _ in range(30):
        nested = [nested] * 10  # shared like YAML aliases: 10**30 leaves if expanded
    assert len(show(nested)) <= 203
    assert len(show({f"k{i}": "v" * 1000 for i in range(1000)})) <= 203
    assert show(["a", "b"]) == "['a', 'b']" and show({"b": 1, "a": 2}) == "{'b': 1, 'a': 2}"
    assert show(10**5000) == "an integer of about 5001 digits"
    assert show(1e20) == "1e+20" and show(3) == "3" and show(None) == "None" and show(True) == "True"


def test_did_you_mean_and_one_of_stay_short() -> None:
    assert did_you_mean("t" * 1_000_000, ["tpe"]) == ""
    assert len(one_of("t" * 1_000_000, ["tpe", "random"], "sampler")) < 300


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("seed=true", "seed: expected an integer, got true"),
        ("train.epochs=false", "train.epochs: expected an integer, got false"),
        ("study.timeout=-1", "study.timeout: expected a value > 0, got -1"),
        ("space=5", "space: expected a string or a mapping, got 5"),
        ("distill.student=5", "distill.student: expected a string or a mapping, got 5"),
        ("space=''", "space: expected a file name, got ''"),
        ("distill.student=''", "distill.student: expected a file name, got ''"),
        ("space.params.optimizer.choices=[[1]]",
         "space.params.optimizer.choices.0: expected a string, a number or true or false, got [1]"),
    ],
)
def test_one_problem_is_one_line(tmp_path: Path, override: str, expected: str) -> None:
    code, out = _validate(str(write_pipeline(tmp_path)), "--set", override)
    assert code == 2, out
    assert out == f"{tmp_path / 'tiny.yaml'}: {expected}"


def test_a_missing_student_space_is_found_by_validate(tmp_path: Path) -> None:
    path = write_pipeline(tmp_path, distill={"student": "nowhere.yaml"})
    code, out = _validate(str(path))
    assert code == 2
    assert out == f"{path}: distill.student: file not found: nowhere.yaml"


def test_a_student_space_that_is_a_folder(tmp_path: Path) -> None:
    (tmp_path / "spaces").mkdir()
    path = write_pipeline(tmp_path, distill={"student": "spaces"})
    code, out = _validate(str(path))
    assert code == 2
    assert out == f"{path}: distill.student: expected a YAML file, got a directory: spaces"
