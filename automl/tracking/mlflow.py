"""MLflow tracking: one parent run per study session, one nested child run per trial.

Uses ``MlflowClient`` directly (no global active run), so a trial's run can be written from anywhere,
and batches each epoch's metrics into one ``log_batch`` call.
"""

from __future__ import annotations

import logging
import math
import numbers
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from automl.states import TrialState

DEFAULT_TRACKING_URI = "sqlite:///mlruns/mlflow.db"
PARENT_TAG = "mlflow.parentRunId"
#: a run's MLflow status by how it ended: a trial's state, or KILLED (a session stopped)
_STATUS: dict[str, str] = {TrialState.COMPLETE: "FINISHED", TrialState.PRUNED: "FINISHED", TrialState.FAIL: "FAILED",
                           "KILLED": "KILLED"}


def absolute_sqlite(url: str) -> str:
    """``sqlite:///mlruns/x.db`` -> ``sqlite:////abs/cwd/mlruns/x.db``.

    A relative SQLite URL means "under the working directory"; pinning it matters because MLflow caches
    one store per URL string, so a relative URL would keep pointing at the first directory it saw.
    """
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url[len(prefix):].startswith("/") and ":memory:" not in url:
        return prefix + str(Path(url[len(prefix):]).resolve())
    return url


def tracking_uri(explicit: str | None = None) -> str:
    """``--tracking-uri`` > ``MLFLOW_TRACKING_URI`` > ``sqlite:///mlruns/mlflow.db`` (made absolute)."""
    return absolute_sqlite(explicit or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI)


#: how long automl waits for an MLflow tracking server (an http(s) tracking URI) to answer before it gives up, in
#: seconds; the environment variable sets it
TIMEOUT_ENV = "AUTOML_TRACKING_TIMEOUT"
DEFAULT_TIMEOUT = 15.0


def server_timeout() -> float:
    """The wait for a tracking server: ``$AUTOML_TRACKING_TIMEOUT`` seconds, else :data:`DEFAULT_TIMEOUT`."""
    from automl.errors import ConfigError

    text = os.environ.get(TIMEOUT_ENV, "").strip()
    if not text:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"must be a number of seconds > 0, got {text[:40]!r}", path=TIMEOUT_ENV)
    return value


def check_server(uri: str, timeout: float | None = None) -> None:
    """A StudyError, after at most ``timeout`` seconds, unless the MLflow server at ``uri`` (http or https)
    answers; other URIs (SQLite, a folder) are not checked.

    MLflow's own client retries a refused request with backoff for about four minutes, printing the URL (and its
    password) in every warning and traceback; a server that is not there is one line here instead, with the
    password masked. Any HTTP answer counts: a server that wants a login says so at the first real request.
    """
    if not uri.lower().startswith(("http://", "https://")):
        return
    import requests

    from automl.errors import StudyError
    from automl.store.access import redact

    timeout = server_timeout() if timeout is None else timeout
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        try:
            requests.get(uri.rstrip("/") + "/health", timeout=max(0.2, min(5.0, left)), allow_redirects=False)
            return
        except requests.RequestException as exc:
            why = _unreachable_reason(exc)
        if time.monotonic() + 0.5 >= deadline:
            raise StudyError(f"{redact(uri)}: no MLflow tracking server answered within {timeout:g} s ({why}): "
                             f"start it, or give another --tracking-uri ({TIMEOUT_ENV} sets the wait in seconds)")
        time.sleep(0.5)


@contextmanager
def refused(uri: str, what: str) -> Iterator[None]:
    """An MLflow error inside the block (a server that answered but refuses the API: a login, a proxy) as one
    StudyError line ``<uri>: <what>: <MLflow's words>``, the password masked in both."""
    from mlflow.exceptions import MlflowException

    try:
        yield
    except MlflowException as exc:
        from automl.errors import StudyError
        from automl.store.access import redact, scrub

        words = " ".join(scrub(str(getattr(exc, "message", exc))).split())
        raise StudyError(f"{redact(uri)}: {what}: {words[:300]}") from None


def _unreachable_reason(exc: BaseException) -> str:
    """A few words for a failed request, never its URL (which holds the password)."""
    import requests

    text = str(exc)
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS handshake failed"
    for words in ("Connection refused", "Name or service not known", "No route to host",
                  "Temporary failure in name resolution", "Network is unreachable"):
        if words in text:
            return words.lower()
    return type(exc).__name__


def keras_requirements() -> list[str]:
    """The pip requirements of a logged Keras model: the installed keras and its backend's package."""
    from importlib.metadata import PackageNotFoundError, version

    import keras

    backend = {"tensorflow": ("tensorflow", "tensorflow-cpu"), "jax": ("jax",), "torch": ("torch",)}.get(
        keras.backend.backend(), ())
    found = [f"keras=={keras.__version__}"]
    for names in (backend, ("numpy",)):
        for package in names:  # the `cpu` extra installs the module as the distribution tensorflow-cpu
            try:
                found.append(f"{package}=={version(package)}")
                break
            except PackageNotFoundError:
                continue
    return found


@contextmanager
def _fluent(uri: str, experiment_id: str) -> Iterator[None]:
    """MLflow's global tracking URI and experiment pointed at ``uri`` / ``experiment_id`` for a call of its fluent
    API (``Model.log`` reads both from there), then put back as they were, environment variables included."""
    import mlflow
    from mlflow.tracking import _tracking_service, fluent

    saved_env = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_ID")}
    saved_uri, saved_experiment = _tracking_service.utils._tracking_uri, fluent._active_experiment_id
    mlflow.set_tracking_uri(uri)
    fluent._active_experiment_id = experiment_id  # type: ignore[assignment]
    try:
        yield
    finally:
        _tracking_service.utils._tracking_uri = saved_uri
        fluent._active_experiment_id = saved_experiment
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _quiet() -> None:
    for name in ("alembic", "mlflow.store.db.utils", "mlflow.store", "mlflow.tracking"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _metrics(steps: list[tuple[int, dict[str, float]]]) -> list[Any]:
    """MLflow ``Metric`` entities of several steps, stamped now; non-finite values are skipped."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    return [Metric(k, float(v), now, step) for step, values in steps for k, v in values.items()
            if v is not None and math.isfinite(float(v))]


PARAM_DIGITS = 10


def param_value(value: Any) -> str:
    """A param as MLflow shows it: floats to :data:`PARAM_DIGITS` significant digits, so a sampled 0.1 + 0.2 reads
    ``0.3``, not ``0.30000000000000004`` (a float keeps its ``.0``); ints, bools and strings as they are.

    >>> param_value(0.1 + 0.2), param_value(1e-05), param_value(3.0), param_value(0.000123456789012345)
    ('0.3', '1e-05', '3.0', '0.000123456789')
    >>> param_value(7), param_value(True), param_value("adam")
    ('7', 'True', 'adam')
    """
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        # a float32 through its own shortest repr: float(np.float32(0.1)) is 0.10000000149011612
        exact = value if isinstance(value, float) else float(str(value))
        return repr(float(format(exact, f".{PARAM_DIGITS}g")))
    return str(value)


class Tracker:
    """Writes a study's runs to one MLflow experiment named after the pipeline."""

    def __init__(self, experiment: str, uri: str | None = None, artifact_root: Path | None = None) -> None:
        _quiet()
        from automl.store.access import STORES_NEED_WRITING, check_writable

        self.uri = tracking_uri(uri)
        local = self.uri.startswith("sqlite:")
        if artifact_root is not None and local:
            check_writable(artifact_root, STORES_NEED_WRITING)
        check_server(self.uri)
        with refused(self.uri, f"cannot open MLflow experiment '{experiment}' there"):
            self._open(experiment, artifact_root if local else None)

    def _open(self, experiment: str, artifact_root: Path | None) -> None:
        """Get or create the experiment ``experiment`` (its artifacts under ``artifact_root`` when given)."""
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        from automl.store.access import retrying, store_lock

        # one process at a time makes (migrates) a fresh store and gets-or-creates the experiment
        with store_lock(self.uri):
            self.client = retrying(lambda: MlflowClient(tracking_uri=self.uri))
            found = self.client.get_experiment_by_name(experiment)
            if found is not None:
                self.experiment_id = found.experiment_id
                return
            location = None
            if artifact_root is not None:
                artifact_root.mkdir(parents=True, exist_ok=True)
                location = artifact_root.resolve().as_uri()
            try:
                self.experiment_id = self.client.create_experiment(experiment, artifact_location=location)
            except MlflowException as exc:  # a server or database no lock covers: another process made it
                made = self.client.get_experiment_by_name(experiment)
                if exc.error_code != "RESOURCE_ALREADY_EXISTS" or made is None:
                    raise
                self.experiment_id = made.experiment_id

    def start_run(self, name: str, *, parent: str | None = None, tags: dict[str, Any] | None = None) -> str:
        """A new run (nested under ``parent``), tagged with its owner process so a later start can tell
        whether the run is still going or was left RUNNING by a process that died."""
        from automl.liveness import OWNER, this_process

        all_tags = {OWNER: str(this_process()), **{k: str(v) for k, v in (tags or {}).items()}}
        if parent:
            all_tags[PARENT_TAG] = parent
        run = self.client.create_run(self.experiment_id, tags=all_tags, run_name=name)
        return str(run.info.run_id)

    def log(self, run_id: str, *, params: dict[str, Any] | None = None, metrics: dict[str, float] | None = None,
            tags: dict[str, Any] | None = None, step: int = 0) -> None:
        """Params, metrics (at ``step``) and tags in one ``log_batch`` call; non-finite metrics are skipped."""
        from mlflow.entities import Param, RunTag

        self.client.log_batch(
            run_id,
            metrics=_metrics([(step, metrics or {})]),
            params=[Param(k, param_value(v)[:6000]) for k, v in (params or {}).items()],
            tags=[RunTag(k, str(v)[:5000]) for k, v in (tags or {}).items()],
        )

    def log_steps(self, run_id: str, steps: list[tuple[int, dict[str, float]]]) -> None:
        """Metrics of several steps (epochs) in as few ``log_batch`` calls as MLflow allows (1000 each)."""
        metrics = _metrics(steps)
        for i in range(0, len(metrics), 1000):
            self.client.log_batch(run_id, metrics=metrics[i:i + 1000])

    def log_artifact(self, run_id: str, path: str | Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(run_id, str(path), artifact_path)

    def log_image(self, run_id: str, png: bytes, file: str) -> None:
        """PNG bytes as the artifact ``file`` of the run."""
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / file
            path.write_bytes(png)
            self.client.log_artifact(run_id, str(path))

    def log_text(self, run_id: str, text: str, file: str) -> None:
        self.client.log_text(run_id, text, file)

    def log_keras_model(self, run_id: str, model: Any, name: str, *, metadata: dict[str, Any] | None = None) -> str:
        """``model`` as an MLflow model of the Keras flavor, output of ``run_id`` (:func:`log_keras_model`)."""
        return log_keras_model(self.uri, self.experiment_id, run_id, model, name, metadata=metadata)

    def running(self) -> list[Any]:
        """Runs of this experiment that are RUNNING (``mlflow.entities.Run``)."""
        return list(self.client.search_runs([self.experiment_id], "attributes.status = 'RUNNING'",
                                            max_results=50_000))

    def fail(self, run_id: str, reason: str, status: str = "FAILED") -> None:
        """End a run FAILED (or ``status``) with ``automl.fail_reason``; a trial's run also gets ``automl.state``."""
        tags = {"automl.fail_reason": reason}
        if self.client.get_run(run_id).data.tags.get("automl.role", "").endswith("trial"):
            tags["automl.state"] = TrialState.FAIL
        self.log(run_id, tags=tags)
        self.client.set_terminated(run_id, status)

    def fail_running(self, run_id: str, reason: str) -> bool:
        """End the run FAILED with ``reason`` if it is still RUNNING; whether it was."""
        if self.client.get_run(run_id).info.status != "RUNNING":
            return False
        self.fail(run_id, reason)
        return True

    def fail_dead(self, reason: str | None = None, orphan: Any = None) -> list[tuple[str, str]]:
        """End FAILED the RUNNING runs whose owner process (on this host) died; ``(run_id, reason)`` of each.

        ``orphan(tags)`` may name a reason for any other run (an earlier release's run without an owner tag, or
        the run of a trial that another host's heartbeat check failed).
        """
        from automl.liveness import OWNER, dead

        failed = []
        for run in self.running():
            tags = run.data.tags
            gone = dead(tags.get(OWNER))
            why = (reason or gone.died()) if gone is not None else (orphan(tags) if orphan is not None else None)
            if why:
                self.fail(run.info.run_id, why)
                failed.append((run.info.run_id, why))
        return failed

    def end(self, run_id: str, state: str = TrialState.COMPLETE) -> None:
        self.client.set_terminated(run_id, _STATUS.get(state, state))


def log_keras_model(uri: str, experiment_id: str, run_id: str, model: Any, name: str, *,
                    metadata: dict[str, Any] | None = None) -> str:
    """``model`` as an MLflow model of the Keras flavor (``mlflow.keras.log_model``), output of ``run_id`` in the
    experiment ``experiment_id`` of the store at ``uri``; returns its URI (``models:/m-...``), which
    ``mlflow.keras.load_model`` and ``mlflow.pyfunc.load_model`` read. The pip requirements are given (the
    installed keras and backend), so MLflow neither loads the model in a subprocess to infer them nor reaches
    the network; ~1 s for a small model, so it runs once per session (the best model, the student), never per
    trial. A function of the store, not of a :class:`Tracker`, so that a trial process (where the model and
    Keras are) can log it."""
    import mlflow
    import numpy as np
    from mlflow.models import Model, ModelSignature
    from mlflow.types.schema import Schema, TensorSpec

    def spec(tensor: Any) -> Schema:
        return Schema([TensorSpec(np.dtype("float32"), (-1, *(int(d) for d in tensor.shape[1:])))])

    _quiet()
    signature = ModelSignature(inputs=spec(model.inputs[0]), outputs=spec(model.outputs[0]))
    with _fluent(uri, experiment_id):
        info = Model.log(None, name=name, flavor=mlflow.keras, model=model, run_id=run_id,
                         pip_requirements=keras_requirements(), signature=signature, metadata=metadata,
                         tags={"automl.role": name})
    return str(info.model_uri)
