"""The storage layer, below the trial and the study: what automl keeps on disk and how it opens its stores.

- :mod:`automl.store.folder`: a study's folder ``mlruns/<name>/`` (every file name, atomic writes, the marker
  that lets ``--new`` delete only automl's files) and loading a ``.keras`` model.
- :mod:`automl.store.access`: opening the Optuna and MLflow databases safely (a lock per SQLite store, a
  PostgreSQL advisory lock per study, the writability check, missing drivers, passwords redacted).

It imports nothing above it (no plan, trial, engine or study): a trial process saves its model and an engine
finds its store here. Nothing is imported in this file, so that ``automl.store.access`` stays cheap.
"""
