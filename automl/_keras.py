"""Import Keras (and TensorFlow) once, without the C++ start-up chatter on stderr.

TensorFlow's native logging prints before absl is initialized, so no environment variable silences
it; the only way is to point fd 2 elsewhere during the first import. ``AUTOML_TF_LOGS=1`` keeps it.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType


def _gpu_memory_growth() -> None:
    """Let TensorFlow take GPU memory as trials need it instead of all of it up front."""
    import tensorflow as tf

    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialized by an earlier import: its setting stays
            pass


def import_keras() -> ModuleType:
    if "keras" in sys.modules or os.environ.get("AUTOML_TF_LOGS"):
        import keras

        _gpu_memory_growth()
        import automl.builders.custom  # noqa: F401  (registers automl's Keras objects for load_model)

        return keras
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import keras
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    _gpu_memory_growth()
    import automl.builders.custom  # noqa: F401  (registers automl's Keras objects for load_model)

    return keras
