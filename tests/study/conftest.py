"""The made MLflow store (``made_stores``) comes from tests/conftest.py; ``temp`` for the measuring commands."""

from automl.testing.fixtures import temp  # noqa: F401
