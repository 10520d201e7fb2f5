"""Pipeline and space configuration: pydantic models, YAML loading, overrides."""

from automl.config.loader import Pipeline, load_pipeline, load_space_file, parse_overrides
from automl.config.models import DataConfig, PipelineConfig, StudyConfig, TrainConfig

__all__ = [
    "DataConfig",
    "Pipeline",
    "PipelineConfig",
    "StudyConfig",
    "TrainConfig",
    "load_pipeline",
    "load_space_file",
    "parse_overrides",
]
