"""Every shipped space and pipeline validates (fast); every shipped pipeline runs a trial (slow)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SPACES = sorted(p.name for p in (REPO / "search_spaces").glob("*.yaml"))
PIPELINES = sorted(p.name for p in (REPO / "pipelines").glob("*.yaml"))


@pytest.mark.parametrize("name", SPACES)
def test_shipped_space_validates(name: str) -> None:
    from automl.api import validate

    assert validate(REPO / "search_spaces" / name).kind == "space"


def test_every_block_has_a_shipped_space_and_wide_offers_them_all() -> None:
    from automl.builders.blocks import BLOCKS
    from automl.config.loader import load_space_file

    blocks = {str(load_space_file(REPO / "search_spaces" / n).block.model_dump().get("value")) for n in SPACES}
    assert set(BLOCKS.names()) - {"cnn"} <= blocks  # cnn has cnn_small.yaml
    wide = load_space_file(REPO / "search_spaces" / "wide.yaml").block
    # pretrained needs weights that cannot ship (ImageNet's files) or is a slow start from scratch: its own space
    assert set(wide.grid()) == set(BLOCKS.names()) - {"pretrained"}


@pytest.mark.parametrize("name", PIPELINES)
def test_shipped_pipeline_validates_with_its_data(name: str) -> None:
    from automl.api import validate

    assert validate(REPO / "pipelines" / name).kind == "pipeline"


@pytest.mark.slow
@pytest.mark.parametrize("name", PIPELINES)
def test_shipped_pipeline_runs_a_trial(name: str) -> None:
    import automl

    result = automl.tune(REPO / "pipelines" / name, {"study.trials": 1, "train.epochs": 1, "train.refit": False})
    assert result.best_value is not None and result.test_metrics
