"""Re-validate an exported file in the ai-edge-litert interpreter against the Keras model it came from.

On the test split: accuracy (classification) or MAE (regression) of the file and of Keras, the drop
between them, how often the two agree, the file size, and the median / p90 latency of a batch-1 call.
The input/output spec (shape, dtype, quantization scale and zero point) is recorded so that a mobile
developer can call the file without reading this code.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from automl.stats import Interval, metric_drop, over_max_drop
from automl.tflite.device import DeviceCommand, run_command


@dataclass
class TensorSpec:
    name: str
    shape: list[int]  # -1: dynamic (the batch)
    dtype: str
    scale: float = 0.0  # real = scale * (q - zero_point); 0.0: not quantized
    zero_point: int = 0


@dataclass
class Validation:
    """One exported file checked on the test split (JSON-ready with :meth:`to_dict`)."""

    format: str
    file: str
    task: str
    metric: str  # accuracy | mae
    size_bytes: int
    keras_value: float
    tflite_value: float
    drop: float  # worse-is-positive: accuracy lost, or relative MAE increase
    max_drop: float
    agreement: float | None  # classification: share of test samples with the same class as Keras
    mean_abs_diff: float  # between the file's and Keras' outputs (probabilities or predictions)
    max_abs_diff: float
    latency_ms_median: float
    latency_ms_p90: float
    keras_latency_ms_median: float
    samples: int
    input: TensorSpec
    output: TensorSpec
    io: str = "float32"
    size_ratio: float | None = None  # to the float32 file, when it was exported too
    usage: dict[str, Any] = field(default_factory=dict)  # how to call the file, beyond the specs
    #: the drop's paired bootstrap interval over the test rows (automl.stats); None: not computed
    drop_interval: Interval | None = None
    #: where latency_ms_median came from: interpreter (timed here) | command (export.measure.command: one figure,
    #: so latency_ms_p90 repeats it)
    latency_source: str = "interpreter"
    latency_output: str | None = None  # the command's last line of output (clipped)

    @property
    def flagged(self) -> bool:
        return over_max_drop(self.drop, self.max_drop)

    @property
    def size_kib(self) -> float:
        return self.size_bytes / 1024

    @property
    def drop_text(self) -> str:
        """``drop +0.5 pt [95% CI -0.3, +1.4]`` (accuracy points, or the relative MAE increase in %)."""
        if self.drop_interval is None:
            return f"drop {self.drop * 100:+.2f} {'pt' if self.metric == 'accuracy' else '%'}"
        text = self.drop_interval.text("drop", percent=True)
        return text if self.metric == "accuracy" else text.replace(" pt [", " % [")

    @property
    def size_warning(self) -> str | None:
        """One line when the test split is too small to tell a 1-point drop (automl.stats's rule)."""
        if self.drop_interval is None:
            return None
        if self.metric == "accuracy":
            return self.drop_interval.size_warning("accuracy", binary=True)
        return self.drop_interval.size_warning("MAE", shown="1%")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["flagged"] = self.flagged
        out["size_kib"] = round(self.size_kib, 2)
        out["drop_interval"] = None if self.drop_interval is None else {
            **self.drop_interval.to_dict(), "size_warning": self.size_warning}
        return out


def _spec(detail: dict[str, Any]) -> TensorSpec:
    scale, zero = detail.get("quantization", (0.0, 0))
    return TensorSpec(name=str(detail["name"]), shape=[int(d) for d in detail["shape_signature"]],
                      dtype=np.dtype(detail["dtype"]).name, scale=float(scale), zero_point=int(zero))


def _interpreter(content: bytes, batch: int | None, threads: int = 1) -> Any:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from automl.tflite.convert import quiet

    with quiet():  # the runtime announces its CPU delegate on stderr
        for resolver in (OpResolverType.AUTO, OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES):
            interp = Interpreter(model_content=content, num_threads=threads, experimental_op_resolver_type=resolver)
            if batch is not None:
                inp = interp.get_input_details()[0]
                if int(inp["shape_signature"][0]) == -1:
                    interp.resize_tensor_input(inp["index"], [batch, *[int(d) for d in inp["shape"][1:]]])
            try:
                interp.allocate_tensors()
                break
            except RuntimeError as exc:  # XNNPACK refuses some int8 requantization scales: builtin kernels run it
                if resolver != OpResolverType.AUTO or "XNNPACK" not in str(exc):
                    raise
    return interp


def quantize(x: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """Raw float inputs -> what a file with integer I/O takes (float files: unchanged)."""
    if spec.dtype in ("float32", "float16") or spec.scale == 0.0:
        return x.astype(spec.dtype)
    info = np.iinfo(spec.dtype)
    return np.clip(np.round(x / spec.scale + spec.zero_point), info.min, info.max).astype(spec.dtype)


def dequantize(y: np.ndarray, spec: TensorSpec) -> np.ndarray:
    if spec.dtype in ("float32", "float16") or spec.scale == 0.0:
        return y.astype(np.float32)
    return (y.astype(np.float32) - spec.zero_point) * spec.scale


#: the interpreter and Keras see a split this many rows at a time (fewer for large samples: :func:`batch_rows`)
VALIDATE_BATCH = 256


def batch_rows(x: Any, batch_size: int | None = None) -> int:
    """Rows per batch when ``x`` is run through a model: ``batch_size`` (default :data:`VALIDATE_BATCH`), fewer
    for large samples (at most :data:`~automl.builders.metrics.SCORE_VALUES` input values, as the trials'
    scoring), at least 1.

    >>> batch_rows(np.zeros((5, 64))), batch_rows(np.zeros((5, 96, 96, 3)))
    (256, 75)
    """
    from automl.builders.metrics import score_batch

    batch_size = batch_size or VALIDATE_BATCH
    return max(1, min(batch_size, score_batch(x, batch_size)))


def float_batches(x: Any, batch_size: int | None = None) -> Iterator[np.ndarray]:
    """``x``'s rows as float32, :func:`batch_rows` at a time: a split of rows read from files
    (:class:`~automl.data.rows.Rows`) is read batch by batch, and never more than a batch is float32 at once."""
    step = batch_rows(x, batch_size)
    for start in range(0, len(x), step):
        yield np.asarray(x[start:start + step], dtype=np.float32)


def run_tflite(content: bytes, x: Any, batch_size: int | None = None) -> np.ndarray:
    """Outputs of the file for every row of raw inputs ``x`` (an array or rows read from files), read and run
    :func:`batch_rows` rows at a time with one interpreter (the last batch padded), or row by row for a file
    with a fixed batch size: the interpreter's tensors and the float32 inputs stay one batch large."""
    step = max(1, min(batch_rows(x, batch_size), len(x)))  # a small split: one call of its own size
    interp = _interpreter(content, step)
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    ispec, ospec = _spec(inp), _spec(out)
    fixed = int(inp["shape"][0])
    parts = []
    for rows in float_batches(x, step):
        if fixed == step:  # the batch the interpreter was sized for; the last one padded with zeros
            padded = rows if len(rows) == step else np.concatenate(
                [rows, np.zeros((step - len(rows), *rows.shape[1:]), dtype=rows.dtype)])
            interp.set_tensor(inp["index"], quantize(padded, ispec))
            interp.invoke()
            parts.append(dequantize(interp.get_tensor(out["index"]), ospec)[:len(rows)])
            continue
        for row in rows:  # a file with a fixed batch size
            interp.set_tensor(inp["index"], quantize(row[None], ispec))
            interp.invoke()
            parts.append(dequantize(interp.get_tensor(out["index"]), ospec))
    if not parts:
        return np.zeros((0,), dtype=np.float32)
    return np.concatenate(parts)


def keras_outputs(model: Any, x: Any, batch_size: int | None = None) -> np.ndarray:
    """The Keras model's outputs for every row of ``x``, :func:`float_batches` at a time (a split read from
    files is never read whole, nor cast to float32 whole)."""
    parts = [np.asarray(model.predict_on_batch(rows), dtype=np.float32) for rows in float_batches(x, batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0,), dtype=np.float32)


class TFLiteModel:
    """A shipped ``.tflite`` file with the surface :class:`automl.predict.LoadedModel` calls on a Keras model:
    ``inputs[0].shape`` and ``predict(x)``, run in the ai-edge-litert interpreter. Inputs of an int8 file are
    quantized with the file's own scale and zero point, its outputs dequantized, so the file takes raw values as
    the Keras model does. No Keras or TensorFlow import."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.content = self.path.read_bytes()
        detail = _interpreter(self.content, None).get_input_details()[0]
        self.input_spec = _spec(detail)
        shape = (None, *(int(d) for d in detail["shape"][1:]))
        self.inputs = [SimpleNamespace(shape=shape)]  # what LoadedModel reads of a Keras model's input

    def predict(self, x: np.ndarray, batch_size: int = 256, **_: Any) -> np.ndarray:
        """Outputs for every row of ``x``, ``batch_size`` rows per interpreter call; a safe point for Ctrl-C and
        SIGTERM after each batch (:func:`automl.signals.check`)."""
        from automl import faults, signals

        parts = []
        for start in range(0, len(x), batch_size):
            parts.append(run_tflite(self.content, np.asarray(x[start:start + batch_size], dtype=np.float32)))
            faults.point("predict_batch")
            signals.check()
        return np.concatenate(parts) if parts else np.empty((0,), dtype=np.float32)


def _latency_ms(call: Any, runs: int, warmup: int = 5) -> tuple[float, float]:
    for _ in range(warmup):
        call()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return float(np.median(times)), float(np.percentile(times, 90))


def tflite_latency_ms(content: bytes, sample: np.ndarray, runs: int) -> tuple[float, float]:
    """Median and p90 milliseconds of one batch-1 ``invoke`` (one thread, input already set)."""
    interp = _interpreter(content, 1)
    inp = interp.get_input_details()[0]
    interp.set_tensor(inp["index"], quantize(sample[None], _spec(inp)))
    return _latency_ms(interp.invoke, runs)


def keras_latency_ms(model: Any, sample: np.ndarray, runs: int) -> float:
    """Median milliseconds of one batch-1 eager call of the Keras model (the baseline a user would have)."""
    x = sample[None].astype(np.float32)
    return _latency_ms(lambda: model(x, training=False), max(5, min(runs, 30)))[0]


@dataclass
class KerasReference:
    """The Keras model's outputs and score on the test split, computed once for every format."""

    outputs: np.ndarray
    value: float
    latency_ms: float


def keras_reference(model: Any, x: Any, y: np.ndarray, task: str, runs: int) -> KerasReference:
    """The Keras model's outputs and score on ``x``, ``y`` (the test split, read batch by batch)."""
    outputs = keras_outputs(model, x)
    return KerasReference(outputs=outputs, value=score(outputs, y, task),
                          latency_ms=keras_latency_ms(model, np.asarray(x[0]), runs))


def score(outputs: np.ndarray, y: np.ndarray, task: str) -> float:
    """Accuracy of class scores (probabilities or logits) or MAE of predictions."""
    if task == "classification":
        return float(np.mean(np.argmax(outputs.reshape(len(y), -1), axis=-1) == y))
    return float(np.mean(np.abs(outputs.reshape(len(y)) - y)))


def validate(content: bytes, fmt: str, ref: KerasReference, x: Any, y: np.ndarray, *, task: str,
             max_drop: float, latency_runs: int, file: str | Path = "", io: str = "float32",
             device: DeviceCommand | None = None) -> Validation:
    """Check the exported ``content`` against the Keras reference on ``x``, ``y`` (the test split); its latency
    timed in the interpreter, or by ``device`` (``export.measure.command``; MeasureError when it fails). ``x`` may be
    rows read from files: the file runs on it batch by batch (:func:`run_tflite`)."""
    outputs = run_tflite(content, x).reshape(ref.outputs.shape)
    value = score(outputs, y, task)
    if task == "classification":
        metric = "accuracy"
        agreement: float | None = float(np.mean(np.argmax(outputs, -1) == np.argmax(ref.outputs, -1)))
    else:
        metric = "mae"
        agreement = None
    drop = metric_drop(ref.value, value, task)
    interval = drop_interval(outputs, ref.outputs, y, task)
    diff = np.abs(outputs - ref.outputs)
    output = None
    if device is None:
        median, p90 = tflite_latency_ms(content, np.asarray(x[0]), latency_runs)
    else:
        timed = run_command(device, content)
        median = p90 = timed.ms
        output = timed.line
    interp = _interpreter(content, None)
    return Validation(
        format=fmt, file=str(file), task=task, metric=metric, size_bytes=len(content), keras_value=ref.value,
        tflite_value=value, drop=float(drop), max_drop=max_drop, agreement=agreement,
        mean_abs_diff=float(diff.mean()), max_abs_diff=float(diff.max()), latency_ms_median=median,
        latency_ms_p90=p90, keras_latency_ms_median=ref.latency_ms, samples=len(x),
        input=_spec(interp.get_input_details()[0]), output=_spec(interp.get_output_details()[0]), io=io,
        drop_interval=interval, latency_source="interpreter" if device is None else "command",
        latency_output=output)


def drop_interval(outputs: np.ndarray, reference: np.ndarray, y: np.ndarray, task: str) -> Interval:
    """The paired bootstrap interval of the drop (:func:`validate`'s): accuracy points Keras's outputs score
    above the file's, or the relative increase of the file's MAE over Keras's, resampling the test rows."""
    from automl.stats import paired_bootstrap, relative_increase, row_values

    metric = "accuracy" if task == "classification" else "mae"
    mine, _ = row_values(outputs, y, task, metric)
    theirs, _ = row_values(reference, y, task, metric)
    return paired_bootstrap(theirs, mine) if task == "classification" else relative_increase(mine, theirs)
