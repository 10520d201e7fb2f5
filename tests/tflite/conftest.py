"""tempfile's folder inside each test's (what a measuring command was handed must be gone afterwards)."""

from automl.testing.fixtures import temp  # noqa: F401
