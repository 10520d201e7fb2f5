"""A latency command (study.measure.command, export.measure.command) run for real: a local script plays the
device; its figure, its failures (exit status, timeout, no number) and the temporary file it is handed."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import pytest

from automl.errors import MeasureError
from automl.tflite.device import DeviceCommand, parse_latency, run_command
from automl.tflite.measure import latency_trust

#: a device that answers with the file's size / 1000 ms, after a line of chatter (what benchmark_model does)
FAKE = """import os, sys
print("pushing", sys.argv[1])
print(f"latency: {os.path.getsize(sys.argv[1]) / 1000} ms")
"""




def _script(tmp_path: Path, text: str) -> str:
    path = tmp_path / "device.py"
    path.write_text(text)
    return f"{sys.executable} {path} {{tflite}}"


def test_the_figure_is_the_last_number_of_the_last_line(tmp_path: Path, temp: Path) -> None:
    timed = run_command(DeviceCommand(_script(tmp_path, FAKE)), b"x" * 2500)
    assert timed.ms == 2.5 and timed.line == "latency: 2.5 ms"
    assert list(temp.iterdir()) == []


def test_a_path_with_a_space_reaches_the_command_quoted(tmp_path: Path, temp: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    spaced = temp / "a b"
    spaced.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spaced))
    assert run_command(DeviceCommand(_script(tmp_path, FAKE)), b"x" * 1000).ms == 1.0
    assert list(spaced.iterdir()) == []


def test_a_command_that_exits_non_zero_says_its_last_stderr_line(tmp_path: Path, temp: Path) -> None:
    script = _script(tmp_path, "import sys\nprint('adb: error: device offline', file=sys.stderr)\nsys.exit(1)\n")
    with pytest.raises(MeasureError) as err:
        run_command(DeviceCommand(script, key="export.measure.command"), b"x")
    assert str(err.value) == "export.measure.command exited 1: adb: error: device offline"
    assert list(temp.iterdir()) == []


def test_a_command_past_its_timeout_is_killed_with_what_it_started(tmp_path: Path, temp: Path) -> None:
    # the shell starts a child that sleeps: the whole group goes, or communicate() would wait for the sleep
    start = time.monotonic()
    with pytest.raises(MeasureError) as err:
        run_command(DeviceCommand("sleep 30; echo 1 {tflite}", timeout=0.5), b"x")
    assert time.monotonic() - start < 10
    assert str(err.value) == "study.measure.command timed out after 0.5 s (study.measure.command_timeout)"
    assert list(temp.iterdir()) == []


@pytest.mark.parametrize(("stdout", "message"), [
    ("avg 3 ms\nbenchmark done\n", "printed no number on its last line: 'benchmark done'"),
    ("", "printed no number on its last line: ''"),
    ("latency: 0 ms", "printed 0 ms on its last line: a latency must be a positive number of milliseconds"),
])
def test_a_line_without_a_latency_is_refused(stdout: str, message: str) -> None:
    with pytest.raises(MeasureError, match="^study.measure.command " + message.replace("(", r"\(")):
        parse_latency(stdout)


def test_a_long_line_is_clipped() -> None:
    assert len(parse_latency("x" * 500 + " 4.5").line) == 200


def test_latency_trust_claims_no_interpreter_noise_for_command_figures() -> None:
    fast = {"tflite_latency_ms": 0.02}
    assert latency_trust([{**fast, "automl.latency_source": "command"}] * 3) is None
    assert latency_trust([{**fast, "automl.latency_source": "interpreter", "tflite_latency_cv": 0.01}] * 3)


@pytest.mark.parametrize(("median_ms", "cv", "problem"), [
    (0.02, 0.01, "the models take 20 µs a call (median of 3), too fast to rank on a shared CPU"),
    (4.0, 0.12, "repeated timings of one model vary by 12.0% (median CV, above 5%)"),
    (4.0, 0.01, None)], ids=["too-fast", "noisy", "trusted"])
def test_latency_trust_names_each_problem_of_the_interpreters_timings(median_ms: float, cv: float,
                                                                      problem: str | None) -> None:
    """The rule behind the run's and the report's warning (end to end:
    tests/study/test_latency_note.py::test_the_latency_warning_follows_the_measurements)."""
    said = latency_trust([{"tflite_latency_ms": median_ms, "tflite_latency_cv": cv}] * 3)
    if problem is None:
        assert said is None
    else:
        assert said is not None and said.startswith(f"tflite_latency_ms is partly noise here: {problem}: "), said
