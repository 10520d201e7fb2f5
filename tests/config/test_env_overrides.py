"""AUTOML_SET: overrides every pipeline load applies last (the docs test's tiny budgets)."""

from __future__ import annotations

from pathlib import Path

import pytest

from automl.config.loader import load_pipeline
from automl.errors import ConfigError
from automl.testing import write_pipeline


def test_applied_after_the_file_and_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOML_SET", "study.trials=1  train.epochs=1 'study.sampler=tpe'")
    cfg = load_pipeline(write_pipeline(tmp_path), ["study.trials=7", "train.batch_size=8"]).config
    assert (cfg.study.trials, cfg.train.epochs, cfg.train.batch_size, cfg.study.sampler) == (1, 1, 8, "tpe")


def test_a_stage_key_applies_only_where_the_pipeline_has_the_stage(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOML_SET", "distill.trials=1 export.latency_runs=3")
    plain = load_pipeline(write_pipeline(tmp_path)).config
    assert plain.distill is None and plain.export is None  # no stage added
    staged = load_pipeline(write_pipeline(tmp_path, name="staged", distill=None, export={"formats": ["float32"]}))
    assert staged.config.distill is not None and staged.config.distill.trials == 1
    assert staged.config.export is not None and staged.config.export.latency_runs == 3


def test_unset_or_empty_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOML_SET", "  ")
    assert load_pipeline(write_pipeline(tmp_path)).config.study.trials == 3


@pytest.mark.parametrize("value, message", [
    ("study.trials", "AUTOML_SET: expected dotted.key=value, got 'study.trials'"),
    ("'study.trials=1", "AUTOML_SET: expected key=value items"),
    ("study.trials=[", "AUTOML_SET study.trials: value is not valid YAML"),
])
def test_bad_items_are_one_line_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str,
                                       message: str) -> None:
    monkeypatch.setenv("AUTOML_SET", value)
    with pytest.raises(ConfigError) as info:
        load_pipeline(write_pipeline(tmp_path))
    assert str(info.value).startswith(message) and "\n" not in str(info.value)
