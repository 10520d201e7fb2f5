"""`automl report STUDY|PIPELINE` and the CLI's command list."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from automl.cli import app
from automl.testing.studies import StudyDir

runner = CliRunner()


def test_report_by_name_prints_a_summary_and_writes_the_page(tiny_study: StudyDir, in_study: Path) -> None:
    result = runner.invoke(app, ["report", "tiny"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "top trials by val_accuracy" in result.output
    assert f"{tiny_study.result.best_value:.4f}" in result.output
    assert "report: mlruns/tiny/report.html (logged to MLflow run" in result.output
    assert Path("mlruns/tiny/report.html").stat().st_size > 10_000


def test_report_by_pipeline_with_output_and_no_log(tiny_study: StudyDir, in_study: Path) -> None:
    result = runner.invoke(app, ["report", str(tiny_study.pipeline), "-o", "out/page.html", "--no-log"],
                           terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "report: out/page.html" in result.output and "logged" not in result.output
    assert Path("out/page.html").exists()


def test_report_errors_are_one_line_with_exit_code_2(tiny_study: StudyDir, in_study: Path) -> None:
    unknown = runner.invoke(app, ["report", "tinyy"])
    assert unknown.exit_code == 2
    assert "no study 'tinyy'" in unknown.output and "did you mean 'tiny'" in unknown.output
    assert "Traceback" not in unknown.output
    misuse = runner.invoke(app, ["report", "tiny", "--set", "study.trials=3"])
    assert misuse.exit_code == 2 and "--set applies to a pipeline file" in misuse.output


def test_help_lists_the_watch_and_compare_commands_and_completion() -> None:
    result = runner.invoke(app, ["--help"], terminal_width=200)
    for command in ("run", "validate", "studies", "schema", "report", "ui"):
        assert f" {command} " in result.output
    assert "--install-completion" in result.output
    # without a shell to detect (CI, a detached job) typer needs the shell named, which this variable allows
    env = {**os.environ, "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    script = subprocess.run([str(Path(sys.executable).with_name("automl")), "--show-completion", "bash"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert script.returncode == 0 and "_automl_completion" in script.stdout, script.stdout + script.stderr
