"""Activation ranges of a calibrated TFLite model, read and clipped before it is quantized.

Full-integer conversion calibrates every activation tensor's range as the min and max seen on the
representative samples; one extreme value (a sensor spike in a few training rows) then sets a range so wide that
the ordinary values fall on a handful of int8 levels. A *calibrated* model (``_experimental_calibrate_only``: the
float model with each tensor's min/max recorded in its quantization parameters) can have those ranges replaced
before ``mlir_quantize`` turns it into the int8 file: :func:`activation_values` runs the calibrated model on the
samples and keeps (a sample of) every activation, :func:`clip_ranges` writes a percentile range into each tensor
whose min/max range is much wider than its percentile range. The file stays plain int8 (int8 activations,
XNNPACK's kernels): only the scales change, and values beyond a range saturate.

The flatbuffer is read and written with ``tensorflow.lite.tools.flatbuffer_utils``, TensorFlow's own tool for
editing .tflite files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: values kept per tensor and batch (a random sample), so that a wide image model's activations stay small
VALUES_PER_BATCH = 8192
#: rows per interpreter call when gathering activations (every tensor of the batch is kept in memory at once)
BATCH = 16
_FLOAT32 = 0  # tflite.TensorType.FLOAT32


@dataclass(frozen=True)
class Clipped:
    """One tensor whose calibrated range was replaced: its name, the range it had and the one it got."""

    tensor: str
    was: tuple[float, float]
    range: tuple[float, float]

    def to_dict(self) -> dict[str, Any]:
        return {"tensor": self.tensor, "was": [round(v, 6) for v in self.was],
                "range": [round(v, 6) for v in self.range]}


def _model(content: bytes) -> Any:
    from tensorflow.lite.tools import flatbuffer_utils

    return flatbuffer_utils.convert_bytearray_to_object(bytearray(content))


def _ranged(model: Any) -> dict[int, tuple[float, float]]:
    """Tensor index -> calibrated (min, max) of every float activation of the main subgraph (its outputs left
    out: their range is what the caller reads, clipping it would saturate the predictions)."""
    graph = model.subgraphs[0]
    outputs = set(int(i) for i in graph.outputs)
    found = {}
    for i, tensor in enumerate(graph.tensors):
        q = tensor.quantization
        if (tensor.type != _FLOAT32 or i in outputs or q is None or q.min is None or q.max is None
                or len(q.min) != 1 or len(q.max) != 1):
            continue
        found[i] = (float(q.min[0]), float(q.max[0]))
    return found


def activation_values(calibrated: bytes, x: np.ndarray, seed: int = 0) -> dict[int, np.ndarray]:
    """Tensor index -> values of that activation over the rows of ``x`` (raw inputs), for every tensor with a
    calibrated range: all of them, or a random sample of :data:`VALUES_PER_BATCH` per batch of :data:`BATCH`
    rows."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from automl.tflite.convert import quiet

    wanted = _ranged(_model(calibrated))
    rng = np.random.default_rng(seed)
    with quiet():
        interp = Interpreter(model_content=calibrated, experimental_preserve_all_tensors=True,
                             experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    inp = interp.get_input_details()[0]
    batch = BATCH if int(inp["shape_signature"][0]) == -1 else int(inp["shape"][0])
    parts: dict[int, list[np.ndarray]] = {i: [] for i in wanted}
    shaped = 0
    for start in range(0, len(x), batch):
        rows = np.asarray(x[start:start + batch], dtype=np.float32)
        if len(rows) < batch and int(inp["shape_signature"][0]) != -1:
            break  # a fixed-batch file: the last partial batch is left out
        if len(rows) != shaped:
            if int(inp["shape_signature"][0]) == -1:
                interp.resize_tensor_input(inp["index"], [len(rows), *[int(d) for d in inp["shape"][1:]]])
            interp.allocate_tensors()
            shaped = len(rows)
        interp.set_tensor(inp["index"], rows)
        interp.invoke()
        for i in wanted:
            values = np.asarray(interp.get_tensor(i), dtype=np.float32).ravel()
            if len(values) > VALUES_PER_BATCH:
                values = values[rng.choice(len(values), VALUES_PER_BATCH, replace=False)]
            parts[i].append(values)
    return {i: np.concatenate(v) for i, v in parts.items() if v}


def clip_ranges(calibrated: bytes, values: dict[int, np.ndarray], percentile: float,
                min_shrink: float) -> tuple[bytes, list[Clipped]]:
    """``calibrated`` with the range of every tensor in ``values`` set to its ``100 - percentile`` ..
    ``percentile`` percentiles (widened to hold 0, as int8 ranges must) where that range is at most
    ``1 / min_shrink`` of the calibrated min/max range; the other tensors keep min/max. Returns the edited model
    (to quantize as the calibrated one) and the tensors clipped, in graph order."""
    from tensorflow.lite.tools import flatbuffer_utils

    if not 50.0 < percentile < 100.0:
        raise ValueError(f"`50 < percentile < 100` must hold, got percentile={percentile}")
    model = _model(calibrated)
    ranged = _ranged(model)
    tensors = model.subgraphs[0].tensors
    clipped = []
    for i, (low, high) in ranged.items():
        if i not in values or not len(values[i]):
            continue
        lo, hi = (float(v) for v in np.percentile(values[i], [100.0 - percentile, percentile]))
        lo, hi = min(lo, 0.0), max(hi, 0.0)
        if hi - lo <= 0.0 or (high - low) < min_shrink * (hi - lo):
            continue
        q = tensors[i].quantization
        q.min, q.max = np.array([lo], dtype=np.float32), np.array([hi], dtype=np.float32)
        name = tensors[i].name
        clipped.append(Clipped(name.decode() if isinstance(name, bytes) else str(name), (low, high), (lo, hi)))
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model)), clipped


__all__ = ["BATCH", "VALUES_PER_BATCH", "Clipped", "activation_values", "clip_ranges"]
