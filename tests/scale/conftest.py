"""A real PostgreSQL cluster and a real ``mlflow server``, one each for this folder's tests."""

from automl.testing.fixtures import mlflow_url, postgres_cluster, postgres_url  # noqa: F401
