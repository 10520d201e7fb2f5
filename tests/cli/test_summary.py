"""The run's summary names what its numbers are (issue 24): a regression's loss is on the standardized target,
its other metrics in the target's units."""

from __future__ import annotations

from types import SimpleNamespace

from automl.cli import _best_line


def _result(task: str, metric: str, tests: dict[str, float]) -> SimpleNamespace:
    plan = SimpleNamespace(data=SimpleNamespace(task=task))
    return SimpleNamespace(plan=plan, best_trial=3, metric=metric, best_value=0.5, test_metrics=tests)


def test_a_regression_summary_names_units() -> None:
    line = _best_line(_result("regression", "val_loss", {"test_loss": 0.25, "test_mae": 12.0, "test_mse": 200.0}))
    assert line == ("best trial 3: val_loss=0.5000 (MSE / target variance)  test_loss=0.2500 (MSE / target "
                    "variance)  test_mae=12.0000 (target units)  test_mse=200.0000 (target units squared)")


def test_a_classification_summary_has_no_units() -> None:
    line = _best_line(_result("classification", "val_accuracy", {"test_accuracy": 0.9}))
    assert line == "best trial 3: val_accuracy=0.5000  test_accuracy=0.9000"


def test_the_small_test_split_warning_is_said_once_per_command(capsys: object) -> None:
    from typer.testing import CliRunner

    from automl import cli

    CliRunner().invoke(cli.app, ["schema"])  # a command starts: nothing said yet
    cli._size_warning("the test split (114 rows) is too small to tell 1 point of accuracy")
    cli._size_warning("the test split (114 rows) is too small to tell 1 point of accuracy")  # the export's, again
    err = capsys.readouterr().err  # type: ignore[attr-defined]
    assert err.count("too small to tell") == 1
