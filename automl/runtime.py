"""The runtime of the processes that train: the Keras import, devices, threads, precision and memory.

One place owns what the backend is told:

- :func:`environment_defaults` (run by ``import automl``): the backend, quiet TensorFlow logs, GPU memory
  taken as needed rather than all up front;
- :func:`import_keras`: Keras (and TensorFlow) imported once, without the C++ start-up chatter on stderr
  (TensorFlow's native logging prints before absl is initialized, so no environment variable silences it;
  fd 2 points elsewhere during the first import; ``AUTOML_TF_LOGS=1`` keeps it), memory growth on GPUs;
- :func:`use_gpu` / :func:`visible_gpus` / :func:`gpu_count`: which CUDA devices a process may use;
- :func:`set_threads`: a process's share of the CPU cores;
- :func:`resolve_precision`: ``train.precision`` as a Keras dtype policy (the plan carries the result);
- :func:`release_memory` / :func:`freeze_imports`: what a long-lived training process does between trials.
"""

from __future__ import annotations

import gc
import os
import sys
from types import ModuleType


def environment_defaults() -> None:
    """Settings that must be in the environment before TensorFlow or JAX is imported (a user's own win)."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TF logs CUDA probing at ERROR on CPU hosts
    # GPU memory as trials need it, not all of it up front (TensorFlow; JAX when KERAS_BACKEND=jax)
    os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # MLflow's usage reports: no network calls of ours
    # MLflow's artifact download bars (`finish`, `report` reading a model back) are not automl's output
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def use_gpu(device: str | None) -> None:
    """Let this process see only the CUDA ``device`` (before the backend is imported); None: leave it."""
    if device is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = device


def visible_gpus() -> list[str]:
    """The CUDA devices this process may use, as ``CUDA_VISIBLE_DEVICES`` entries."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        ids = [d.strip() for d in listed.split(",") if d.strip() and d.strip() != "-1"]
        return ids[:gpu_count()] if ids else []
    return [str(i) for i in range(gpu_count())]


def set_threads(threads: int | None) -> None:
    """Run each op on at most ``threads`` CPU threads (a worker's share of the cores); None: all."""
    if not threads:
        return
    keras = import_keras()
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
        except RuntimeError:  # the runtime is initialized already: its setting stays
            pass


def release_memory() -> None:
    """Free what the last trial's graphs hold (not all of it: TensorFlow keeps ~6-8 MiB of every traced model,
    docs/benchmarks.md "Trial processes: memory"; trial processes are what keeps a study flat).

    ``clear_session`` runs a full ``gc.collect()`` itself; :func:`freeze_imports` keeps that cheap. Nothing to
    do in a process that never imported Keras (a study whose trials run in trial processes).
    """
    if "keras" not in sys.modules:
        return
    import keras

    keras.backend.clear_session()


def freeze_imports() -> None:
    """Move every object alive now (TensorFlow, Keras, MLflow, Optuna modules) out of the GC's sight.

    A full collection after each trial otherwise walks those hundreds of thousands of long-lived objects:
    measured at ~0.7 s a trial on 2 cores, 3x less with them frozen.
    """
    gc.collect()
    gc.freeze()


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


def _no_gpu_device() -> bool:
    """True when no GPU can be visible to any backend, known without importing one: no NVIDIA device node
    (``/dev/nvidia0``...) and no ROCm one (``/dev/kfd``), or ``CUDA_VISIBLE_DEVICES`` empty or -1. Lets a
    study's own process (trials in trial processes) resolve ``precision: auto`` without the ~5 s Keras import."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None and listed.strip() in ("", "-1"):
        return True
    if "keras" in sys.modules:
        return False  # imported already: ask it
    dev = "/dev"
    try:
        names = os.listdir(dev)
    except OSError:
        return False
    return not any(n == "kfd" or (n.startswith("nvidia") and n[6:].isdigit()) for n in names)


def gpu_count() -> int:
    """GPUs the Keras backend sees (after CUDA_VISIBLE_DEVICES)."""
    if _no_gpu_device():
        return 0
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
    if keras.backend.backend() == "tensorflow":
        import logging

        # tf.function's "triggered tf.function retracing" warnings (a model called on batches of several shapes,
        # as CSV studies do) are advice to whoever wrote the graph code, not to a study's user
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
    _gpu_memory_growth()
    import automl.builders.custom  # noqa: F401  (registers automl's Keras objects for load_model)

    return keras
