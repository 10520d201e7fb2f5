"""Data sources and splits."""

from automl.data.dataset import Dataset
from automl.data.loader import infer_task, load_dataset
from automl.data.sources import SOURCES

__all__ = ["SOURCES", "Dataset", "infer_task", "load_dataset"]
