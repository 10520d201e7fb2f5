"""Experiment tracking (MLflow)."""

from automl.tracking.mlflow import DEFAULT_TRACKING_URI, PARENT_TAG, Tracker, tracking_uri

__all__ = ["DEFAULT_TRACKING_URI", "PARENT_TAG", "Tracker", "tracking_uri"]
