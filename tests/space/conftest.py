"""An MLflow store made once for the fake runner's tests."""

from automl.testing.fixtures import _migrated_mlflow, made_stores  # noqa: F401
