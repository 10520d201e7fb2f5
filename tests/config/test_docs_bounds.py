"""docs/pipelines.md states every bound the models enforce: numbers, names, and the numbers of a space."""

from __future__ import annotations

import html
import typing
from typing import Any

import pytest
from pydantic import BaseModel

from automl.config import models
from automl.config.docs import render
from automl.space import params


def _types() -> dict[str, str]:
    """key -> the type cell of its row."""
    out = {}
    for line in render().splitlines():
        if line.startswith("| `"):
            cells = [html.unescape(c.strip()) for c in line.strip("|").split(" | ")]
            out[cells[0].strip("`")] = cells[1]
    return out


@pytest.mark.parametrize(
    ("key", "shown"),
    [
        ("seed", "int 0..2147483647 | null"),
        ("train.batch_size", "int 1..65536"),
        ("train.epochs", "int 1..100000"),
        ("study.trials", "int 1..1000000"),
        ("study.workers", "int 1..1024"),
        ("study.cv_folds", "int 2..100 | null"),
        ("study.timeout", "float > 0, finite | null"),
        ("data.samples", "int 1..1000000"),
        ("data.features", "int 1..100000"),
        ("data.classes", "int 0..1000"),
        ("data.noise", "float in [0, 1]"),
        ("data.validation_split", "float in (0, 1)"),
        ("data.shape", "list of int 1..100000 (1 to 3 items) | null"),
        ("data.image_size", "list of int 1..8192 (2 items)"),
        ("export.max_drop", "float >= 0"),
        ("distill.epochs", "int 1..100000 | null"),
    ],
)
def test_the_type_of_a_key_states_its_bounds(key: str, shown: str) -> None:
    assert _types()[key] == shown


def _bounds(annotation: Any, metadata: list[Any]) -> list[tuple[str, str]]:
    """Each bound as the docs may show it: as written, or an integer's `> 0` as its least value 1."""
    found = []
    for m in metadata:
        for kind, step in (("gt", 1), ("ge", 0), ("lt", -1), ("le", 0)):
            bound = getattr(m, kind, None)
            if bound is not None:
                found.append((f"{bound:g}", str(bound + step)))
    for arg in typing.get_args(annotation):
        found += _bounds(arg, list(getattr(arg, "metadata", [])))
    return found


def _sections() -> list[tuple[str, type[BaseModel]]]:
    return [("", models.PipelineConfig), ("data.", models.DataConfig), ("study.", models.StudyConfig),
            ("train.", models.TrainConfig), ("distill.", models.DistillConfig), ("export.", models.ExportConfig)]


def test_every_numeric_bound_of_the_models_is_in_the_docs() -> None:
    types = _types()
    for prefix, model in _sections():
        for name, field in model.model_fields.items():
            for shown in _bounds(field.annotation, list(field.metadata)):
                assert any(s in types[prefix + name] for s in shown), (prefix + name, shown, types[prefix + name])


def test_the_docs_state_the_name_rules_and_the_reserved_names() -> None:
    text = render()
    assert f"at most {models.MAX_NAME} characters" in text
    for reserved in ("artifacts", "keras_tuner", "mlflow.db", "optuna.db", "ui.log", "optuna.db-journal",
                     "mlflow.db-wal", ".lock", "-student", "-tflite"):
        assert f"`{reserved}`" in text, reserved


def test_the_docs_state_the_bounds_of_a_space_and_of_synthetic_data() -> None:
    text = render()
    for bound in (params.MAX_INT, params.MAX_CHOICES, params.MAX_GRID, models.MAX_VALUES):
        assert f"{bound}" in text, bound
    assert f"{params.MAX_FLOAT:g}" in text and "step <= high - low" in text
