"""Data sources and splits."""

from automl.data.dataset import Dataset
from automl.data.loader import TaskContradiction, TaskRule, infer_task, load_dataset, task_rule
from automl.data.sources import SOURCES

__all__ = ["SOURCES", "Dataset", "TaskContradiction", "TaskRule", "infer_task", "load_dataset", "task_rule"]
