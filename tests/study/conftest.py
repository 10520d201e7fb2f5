"""An MLflow store made once for the fake runner's tests (a fresh store's migrations take seconds)."""

from automl.testing.fixtures import _migrated_mlflow, made_stores, temp  # noqa: F401
