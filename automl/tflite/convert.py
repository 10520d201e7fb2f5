"""Keras model -> TFLite flatbuffer in one of four formats, with builtin ops only.

Formats form a registry (``FORMATS.get("int8")``): each configures a ``tf.lite.TFLiteConverter``.
Conversion uses ``from_keras_model`` (a route that works with Keras 3; ``from_concrete_functions`` once
gave all-NaN outputs, so every file is re-validated anyway). Select TF ops are never enabled: they need
the Flex delegate, which ai-edge-litert does not ship, so such a file would not run on a phone either.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from automl.builders.registry import Registry
from automl.data.rows import chunks
from automl.errors import ExportError
from automl.tflite.prepare import all_layers


@dataclass
class ConvertOptions:
    """What a format may need besides the model: calibration samples and the integer I/O type."""

    #: raw training samples, one per calibration step: an array, or rows read from files
    #: (:class:`~automl.data.rows.Rows`), read a chunk at a time while the converter calibrates
    representative: Any = None
    io: str = "float32"  # float32 | int8 | uint8 (full-integer format only)
    per_channel: bool = True  # quantization scales per output channel (False: per tensor, smaller files)
    #: float formats of a pruned model: store weights that are mostly zeros as TFLite sparse tensors
    #: (Optimize.EXPERIMENTAL_SPARSITY); the interpreter densifies them when it loads the file
    sparse_encoding: bool = False


#: calibration samples read from files are read this many bytes at a time
CALIBRATION_CHUNK_BYTES = 8 * 2**20

# the formats whose sparse-encoded files ai-edge-litert runs (dynamic and int8 ones fail in its XNNPACK delegate)
SPARSE_ENCODED = ("float32", "float16")

# name -> a function that configures a TFLiteConverter for that format
FORMATS: Registry[None] = Registry("format")


@FORMATS.register("float32")
def _float32(converter: Any, options: ConvertOptions) -> None:
    """Weights and activations in float32: the reference file."""


@FORMATS.register("float16")
def _float16(converter: Any, options: ConvertOptions) -> None:
    """float16 weights (half the size), computed in float32 on CPUs, natively on GPUs."""
    import tensorflow as tf

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]


@FORMATS.register("dynamic")
def _dynamic(converter: Any, options: ConvertOptions) -> None:
    """int8 weights, float activations quantized on the fly (dynamic range): no calibration data."""
    import tensorflow as tf

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter._experimental_disable_per_channel = not options.per_channel


@FORMATS.register("int8")
def _int8(converter: Any, options: ConvertOptions) -> None:
    """Full integer: int8 weights and activations, ranges calibrated on representative samples."""
    import tensorflow as tf

    if options.representative is None or len(options.representative) == 0:
        raise ExportError("format int8 needs representative samples (export.representative_samples > 0)")
    samples = options.representative

    def representative() -> Iterator[list[np.ndarray]]:
        for _, chunk in chunks(samples, CALIBRATION_CHUNK_BYTES):  # one chunk in memory, one row float32 at once
            for sample in chunk:
                yield [np.asarray(sample[None, ...], dtype=np.float32)]

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    # per-channel scales and zero points cost 12 bytes per output channel in the file
    converter._experimental_disable_per_channel = not options.per_channel
    if options.io != "float32":
        io_type = {"int8": tf.int8, "uint8": tf.uint8}[options.io]
        converter.inference_input_type = io_type
        converter.inference_output_type = io_type


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """The converter prints MLIR dumps and SavedModel notes on fds 1 and 2; hide them."""
    if os.environ.get("AUTOML_TF_LOGS"):
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile() as sink:
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def convert(model: Any, fmt: str, options: ConvertOptions | None = None) -> bytes:
    """The TFLite flatbuffer of ``model`` (already prepared by :func:`inference_model`) in ``fmt``.

    Raises ExportError naming the layer when an op has no TFLite builtin.

    >>> data = convert(model, "int8", ConvertOptions(representative=x_train[:200]))  # doctest: +SKIP
    """
    import tensorflow as tf

    options = options or ConvertOptions()
    configure = FORMATS.factory(fmt)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    configure(converter, options)
    if options.sparse_encoding and fmt in SPARSE_ENCODED:
        converter.optimizations = [*(converter.optimizations or []), tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
    try:
        with quiet():
            return bytes(converter.convert())
    except Exception as exc:  # ConverterError and friends: find the layer behind the failing op
        raise ExportError(explain_failure(model, fmt, str(exc))) from None


_OP = re.compile(r"'tf\.(\w+)' op is neither a custom op nor a flex op")
_LOC = re.compile(r'fused\["(\w+):",\s*"([^"@]+)')


def explain_failure(model: Any, fmt: str, message: str) -> str:
    """A one-line reason for a failed conversion that names the Keras layer when it can be found."""
    ops = list(dict.fromkeys(_OP.findall(message)))
    layers = {layer.name: layer for layer in all_layers(model)}
    culprit = None
    for op, path in _LOC.findall(message):
        if ops and op not in ops and not any(o.startswith(op) for o in ops):
            continue
        for part in path.split("/"):
            for name in sorted(layers, key=len, reverse=True):
                if part == name or re.fullmatch(re.escape(name) + r"_\d+", part):
                    culprit = layers[name]
                    break
            if culprit is not None and culprit is not model:
                break
        if culprit is not None:
            break
    what = ", ".join(f"tf.{o}" for o in ops) if ops else None
    if culprit is not None:
        head = f"{fmt}: layer '{culprit.name}' ({type(culprit).__name__}) cannot be expressed in TFLite builtin ops"
    else:
        head = f"{fmt}: the model cannot be expressed in TFLite builtin ops"
    if what:
        return (f"{head}: {what} has no builtin kernel (Select TF ops would need the Flex delegate, which "
                "ai-edge-litert does not ship); replace or remove that layer")
    first = next((line.strip() for line in message.splitlines() if "error" in line.lower()), message.strip())
    return f"{head}: {first[:300]}"
