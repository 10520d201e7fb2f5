"""Import Keras (and TensorFlow) once, without the C++ start-up chatter on stderr.

TensorFlow's native logging prints before absl is initialized, so no environment variable silences
it; the only way is to point fd 2 elsewhere during the first import. ``AUTOML_TF_LOGS=1`` keeps it.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType


def import_keras() -> ModuleType:
    if "keras" in sys.modules or os.environ.get("AUTOML_TF_LOGS"):
        import keras

        return keras
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow  # noqa: F401
        import keras
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    return keras
