"""One real tiny study shared by this folder's tests (package scope: each folder builds its own)."""

from automl.testing.fixtures import in_study, tiny_study  # noqa: F401
