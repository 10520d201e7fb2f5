"""automl: YAML search spaces -> Optuna studies of Keras models -> MLflow, from the CLI or Python.

>>> import automl
>>> result = automl.run("pipelines/quickstart.yaml", overrides={"study.trials": 5})  # doctest: +SKIP
>>> result.best_value, result.model_path  # doctest: +SKIP
"""

from __future__ import annotations

from automl.runtime import environment_defaults

environment_defaults()  # the backend, quiet logs, GPU memory as needed: before anything imports TensorFlow

from automl.store.access import scrub_logs  # noqa: E402

scrub_logs()  # no URL password in any log line, whichever library writes it

# The subpackages automl.distill / automl.export (and the module automl.predict) share their names with the API
# functions: import them first, so that the functions bound below are what `automl.distill` / `automl.export` stay.
import automl.distill as _distill_package  # noqa: E402, F401
import automl.export as _export_package  # noqa: E402, F401
import automl.predict as _predict_module  # noqa: E402, F401
import automl.report as _report_package  # noqa: E402, F401
from automl.api import (  # noqa: E402
    distill,
    export,
    finish,
    load_model,
    load_pipeline,
    predict,
    report,
    run,
    studies,
    tune,
    validate,
    worker,
)
from automl.errors import AutomlError, ConfigError, DataError, StudyError, TrialError  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "AutomlError",
    "ConfigError",
    "DataError",
    "StudyError",
    "TrialError",
    "distill",
    "export",
    "finish",
    "load_model",
    "load_pipeline",
    "predict",
    "report",
    "run",
    "studies",
    "tune",
    "validate",
    "worker",
]
