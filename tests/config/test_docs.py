"""docs/pipelines.md is generated from the models: it must list every key a user can write."""

from __future__ import annotations

from pathlib import Path

from automl.config.docs import render


def test_pipeline_reference_is_current(repo: Path) -> None:
    written = (repo / "docs/pipelines.md").read_text()
    assert written.strip() == render().strip(), (
        "docs/pipelines.md is stale: run `python -m automl.config.docs > docs/pipelines.md`")
