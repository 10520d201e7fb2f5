"""A typed option given a bad value is one line naming the option, exit 2, as every other bad input (issue 26)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from automl.testing import write_pipeline


def _automl(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "automl.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize(("option", "value"), [("--budget", "1e12"), ("--budget", "abc"), ("--budget", "1.5"),
                                               ("--trials", "x")])
@pytest.mark.fresh_folder  # it checks what is (not) written into a fresh folder
def test_a_bad_value_of_a_typed_option_is_one_line(tmp_path: Path, option: str, value: str) -> None:
    path = write_pipeline(tmp_path)
    result = _automl(tmp_path, "run", str(path), option, value)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{option}") and "integer" in lines[0], result.stderr
    assert not (tmp_path / "mlruns").exists()


def test_help_and_a_missing_argument_keep_their_exit_codes(tmp_path: Path) -> None:
    assert _automl(tmp_path, "validate", "--help").returncode == 0
    missing = _automl(tmp_path, "run")
    assert missing.returncode == 2 and missing.stderr.strip() == "Missing argument 'pipeline'"
