"""MLflow model registry: register a file logged as a run artifact as a new model version.

Models are registered as plain files (``best.keras``, ``student.keras``, ``*.tflite``): TFLite has no MLflow
flavor. The best model and the student are also logged with the Keras flavor (:func:`log_flavor`, with the pip
requirements given so MLflow infers nothing), which ``mlflow.keras.load_model`` and ``mlflow.pyfunc.load_model``
read. A version's ``source`` is the artifact's URI, its tags
carry what a user searches by (``format``, accuracy, size), and an alias per ``alias`` value points at
the latest one (``models:/<name>@int8``).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from automl._text import first_line
from automl.tracking.mlflow import Tracker

SHA_TAG = "automl.sha256"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _tag(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)[:5000]


def register_file(tracker: Tracker, name: str, run_id: str, artifact_path: str, local_file: str | Path, *,
                  tags: dict[str, Any] | None = None, alias: str | None = None,
                  description: str | None = None) -> str:
    """Register ``artifact_path`` of ``run_id`` as a version of model ``name``; returns the version.

    A file identical to the latest version's (same SHA-256) is not registered again: that version is
    returned, so re-running a finished study does not pile up copies.
    """
    from mlflow.exceptions import MlflowException

    client = tracker.client
    sha = _sha256(Path(local_file))
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, description=description)
    version_tags = {k: t for k, v in (tags or {}).items() if (t := _tag(v)) is not None}
    version_tags[SHA_TAG] = sha
    latest = client.search_model_versions(f"name='{name}'", order_by=["version_number DESC"], max_results=1)
    if latest and latest[0].tags.get(SHA_TAG) == sha and all(
            latest[0].tags.get(k) == v for k, v in version_tags.items()):
        version = str(latest[0].version)
    else:
        source = f"{client.get_run(run_id).info.artifact_uri.rstrip('/')}/{artifact_path}"
        created = client.create_model_version(name, source=source, run_id=run_id, tags=version_tags,
                                              description=description)
        version = str(created.version)
    if alias:
        client.set_registered_model_alias(name, alias, version)
    return version


def find_versions(tracker: Tracker, name: str, **tags: str) -> list[Any]:
    """Versions of ``name`` whose tags equal ``tags``, newest first (``find_versions(t, "x-tflite",
    format="int8")``)."""
    query = " and ".join([f"name='{name}'", *(f"tag.`{k}`='{v}'" for k, v in tags.items())])
    return list(tracker.client.search_model_versions(query, order_by=["version_number DESC"]))


def log_flavor(tracker: Tracker, progress: Any, folder: Any, run_id: str, name: str,
               log: Callable[[dict[str, Any]], str]) -> str | None:
    """A model logged with MLflow's Keras flavor as ``name`` (``best_model``, ``student``), output of ``run_id``,
    its metadata what predicting needs (``target.json`` and ``encoding.json`` of the study folder); the run is
    tagged ``automl.<name>`` with the model's URI. ``log(metadata)`` logs it and returns the URI (where the model
    is: :meth:`Tracker.log_keras_model` here, or a trial process, which holds Keras when this process does
    not). None, with a note, when MLflow refuses it (the stage's result stands: the .keras file is logged as a
    plain artifact too)."""
    import json

    metadata: dict[str, Any] = {"automl.study": folder.name}
    for key, path in (("target", folder.target), ("encoding", folder.encoding)):
        if path.exists():
            metadata[key] = json.loads(path.read_text())
    try:
        uri = log(metadata)
    except Exception as exc:  # a server without artifact access, a model MLflow cannot save: one note
        first = first_line(exc, 200)
        progress.note(f"{name} was not logged as an MLflow Keras model: {first}")
        return None
    tracker.log(run_id, tags={f"automl.{name}": uri})
    return uri
