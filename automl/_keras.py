"""Import Keras (and TensorFlow) once, without the C++ start-up chatter on stderr.

TensorFlow's native logging prints before absl is initialized, so no environment variable silences
it; the only way is to point fd 2 elsewhere during the first import. ``AUTOML_TF_LOGS=1`` keeps it.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType


def _gpu_memory_growth() -> None:
    """Let TensorFlow take GPU memory as trials need it instead of all of it up front.

    (``TF_FORCE_GPU_ALLOW_GROWTH`` / ``XLA_PYTHON_CLIENT_PREALLOCATE``, set by ``import automl``, do the same
    for processes that import TensorFlow or JAX before this runs.)
    """
    if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        return
    import tensorflow as tf

    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialized by an earlier import: its setting stays
            pass


def gpu_count() -> int:
    """GPUs the Keras backend sees (after CUDA_VISIBLE_DEVICES)."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return len(tf.config.list_physical_devices("GPU"))
    if backend == "jax":
        import jax

        return sum(d.platform == "gpu" for d in jax.devices())
    if backend == "torch":
        import torch

        return int(torch.cuda.device_count())
    return 0


def resolve_precision(precision: str) -> str:
    """``train.precision`` as a Keras dtype policy name: ``auto`` is mixed_float16 on a GPU, else float32."""
    if precision != "auto":
        return precision
    return "mixed_float16" if gpu_count() else "float32"


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

        if keras.backend.backend() == "tensorflow":
            import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    _gpu_memory_growth()
    import automl.builders.custom  # noqa: F401  (registers automl's Keras objects for load_model)

    return keras
