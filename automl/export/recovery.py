"""The int8 recovery ladder: when plain full-integer quantization loses more than ``export.max_drop`` on the
validation split, try fixes that keep int8 speed first, and ship the fastest file that meets it (see
docs/export.md).

Rungs, in order. The first four keep a plain int8 file (int8 weights and activations, the interpreter's fast
kernels); they are tried one by one until one meets the target:

1. ``calibration``: more calibration samples (``max(1000, 4 x representative_samples)``, at most the training
   split), stratified by class (regression: by target decile), so that no class's ranges are missed;
2. ``per_channel`` / ``per_tensor``: the other weight-scale granularity than ``export.per_channel``;
3. ``clipped_ranges``: activation ranges that clip outliers (:mod:`automl.tflite.ranges`): the model is
   calibrated once, every activation is gathered on the calibration samples, and a tensor whose min/max range is
   at least :data:`MIN_SHRINK` times its percentile range gets the percentile range instead; one step per
   percentile of :data:`PERCENTILES`, the mildest first;
4. ``qat``: quantization-aware fine-tuning of a clone (:mod:`automl.export.qat`): batch norms folded as the
   converter folds them, ``export.qat_epochs`` epochs of Adam from ``export.qat_lr`` (cosine decay, the training
   split at ``train.batch_size``) with every kernel the converter quantizes on its int8 grid (straight-through
   estimator), then the same full-integer conversion with the best settings so far (activation ranges
   calibrated, not learned). ``export.qat_epochs: 0`` turns it off.

Only when none of them meets the target, the slower fallbacks (:data:`SLOW`), both tried, the fastest that meets
the target shipping:

5. ``int16_activations``: 16-bit activations with int8 weights (TFLite's 16x8 op set; still integer-only, float
   I/O only; reference kernels, several times slower than plain int8);
6. ``float_layers``: for every activation tensor, the accuracy with that tensor kept float (its producer and its
   consumers not quantized) is measured; tensors are then kept float in that order, one more per step, until
   the target is met. A file with float layers is no longer integer-only, so ``export.int8_integer_only`` skips
   this rung.

Every candidate's latency is measured beside its drop (batch-1 ``invoke()`` in timed blocks, or
``export.measure.command``), as are plain int8's and float32's, side by side. The decision uses the validation
split only; the shipped file is reported on the test split like every other format. Each step (what was tried,
its validation drop, size, latency, whether it met the target) is recorded.

Selective quantization calibrates once (``_experimental_calibrate_only``) and quantizes the calibrated model
with ``denylisted_nodes``: the same path as ``tf.lite.experimental.QuantizationDebugger``; clipped ranges edit
that calibrated model's ranges before quantizing it. ai-edge-quantizer would apply such recipes to a float
.tflite, but it is not among automl's dependencies.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from automl._text import first_line
from automl.data.rows import take
from automl.stats import metric_drop, over_max_drop
from automl.tflite.convert import FORMATS, ConvertOptions, quiet
from automl.tflite.device import DeviceCommand, run_command
from automl.tflite.measure import MeasureRequest, tflite_latency
from automl.tflite.ranges import activation_values, clip_ranges
from automl.tflite.validate import keras_outputs, run_tflite, score

CALIBRATION_FLOOR = 1000  # rung 1 takes at least this many samples (when the training split has them)
MAX_CANDIDATES = 64  # float_layers: activation tensors measured one by one
MAX_FLOAT_STEPS = 6  # float_layers: at most this many tensors kept float, one more per step
#: clipped_ranges: the percentiles tried, one step each, the mildest first (two-sided: 99.9 clips to the 0.1th
#: .. 99.9th percentile); outliers are rare by definition, so the clipping stays in the tail
PERCENTILES = (99.99, 99.9, 99.5)
#: clipped_ranges: a tensor is clipped only where its min/max range is at least this many times its percentile
#: range (two bits of the eight wasted on outliers); the other tensors keep min/max
MIN_SHRINK = 4.0
#: the rungs whose files do not keep int8 activations, and what makes them slower: tried only when no plain-int8
#: rung meets max_drop, and shipped then with one line that says what the speed costs
SLOW = {"int16_activations": "16-bit activations (reference kernels)",
        "float_layers": "layers kept float"}


@dataclass
class Step:
    """One rung tried: what, its validation drop and file size, whether it met max_drop."""

    rung: int
    name: str  # calibration | per_channel | per_tensor | clipped_ranges | qat | int16_activations | float_layers
    what: str  # in words, for the CLI and the JSON
    val_drop: float | None  # None: the step could not be built (see error)
    size_bytes: int | None
    met: bool
    integer_only: bool
    seconds: float
    settings: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    latency_ms: float | None = None  # batch-1 latency of the step's file (None: not built)

    @property
    def slow(self) -> bool:
        """Whether the file gives up int8 activations somewhere (16-bit activations, float layers)."""
        return self.name in SLOW


@dataclass
class Recovery:
    """The ladder's outcome for one int8 export (JSON-ready with :meth:`to_dict`)."""

    max_drop: float
    val_samples: int
    keras_val_value: float
    plain_val_drop: float
    plain_size_bytes: int
    steps: list[Step] = field(default_factory=list)
    used: Step | None = None  # the step whose file ships: the first that met the target, else the best one
    met: bool = False
    per_layer: list[dict[str, Any]] = field(default_factory=list)  # float_layers: drop with one tensor float
    plain_file: str | None = None
    plain_test: dict[str, Any] = field(default_factory=dict)  # plain int8 on the test split
    cost: dict[str, Any] = field(default_factory=dict)  # shipped vs plain int8 on the test split
    content: bytes = b""
    #: batch-1 latency (ms) of plain int8 and of float32, measured beside every candidate's (``source``: how)
    latency: dict[str, Any] = field(default_factory=dict)

    @property
    def needed(self) -> bool:
        return over_max_drop(self.plain_val_drop, self.max_drop)

    @property
    def took(self) -> str:
        if not self.needed:
            return "none (plain int8 within max_drop)"
        if self.used is None:
            return "nothing (no rung improved on plain int8)"
        return f"rung {self.used.rung} {self.used.name}: {self.used.what}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "needed": self.needed, "met": self.met if self.needed else True, "took": self.took,
            "max_drop": self.max_drop, "decided_on": "validation", "val_samples": self.val_samples,
            "keras_val_value": self.keras_val_value, "plain_val_drop": self.plain_val_drop,
            "plain_size_bytes": self.plain_size_bytes,
            "val_drop": self.used.val_drop if self.used else self.plain_val_drop,
            "steps": [{k: v for k, v in asdict(s).items() if k != "error" or v} for s in self.steps],
            "per_layer": self.per_layer[:10], "plain_file": self.plain_file, "plain_test": self.plain_test,
            "cost": self.cost, "latency": self.latency_record(),
        }

    def latency_record(self) -> dict[str, Any]:
        """Plain int8's, float32's and the shipped file's batch-1 latency on validation, side by side, with the
        shipped file's ratios to the first two (empty when the ladder did not run)."""
        if not self.latency:
            return {}
        record = dict(self.latency)
        shipped = self.used.latency_ms if self.used is not None else self.latency.get("plain_int8_ms")
        if shipped is not None:
            record["shipped_ms"] = shipped
            for key, ref in (("vs_plain_int8", "plain_int8_ms"), ("vs_float32", "float32_ms")):
                if self.latency.get(ref):
                    record[key] = round(shipped / self.latency[ref], 4)
        record["speed"] = (f"slower fallback: {SLOW[self.used.name]}" if self.used is not None and self.used.slow
                           else "plain int8 (int8 activations)")
        return record

    def speed_note(self) -> str:
        """``; latency 21.3x plain int8's, 18.0x float32's`` for the CLI line ('' when not measured)."""
        record = self.latency_record()
        if "vs_plain_int8" not in record:
            return ""
        also = f", {record['vs_float32']:.2f}x float32's" if "vs_float32" in record else ""
        return f"; latency {record['vs_plain_int8']:.2f}x plain int8's{also}"

    def summary(self, metric: str = "accuracy") -> str:
        """One line for the CLI: what it took and whether the target was met, or how far it got."""
        def pts(d: float | None) -> str:
            if d is None:
                return "-"
            return f"{d * 100:.2f} pt" if metric == "accuracy" else f"{d * 100:.2f} %"

        if not self.needed:
            return f"int8 recovery: not needed (validation drop {pts(self.plain_val_drop)} <= max_drop)"
        cost = ""
        if self.cost:
            cost = (f"; size {self.cost['size_ratio']:.2f}x, latency {self.cost['latency_ratio']:.2f}x of plain "
                    f"int8 ({self.plain_file} kept)")
        tried = _tried(self.steps, pts)
        speed = self.speed_note()
        if self.met and self.used is not None and self.used.slow:
            fast = _tried([s for s in self.steps if not s.slow], pts)
            return (f"int8 recovery: max_drop met only by a slower file, {self.took} ({SLOW[self.used.name]}); "
                    f"validation drop {pts(self.plain_val_drop)} -> {pts(self.used.val_drop)}{speed} (no plain-int8 "
                    f"rung met it: {fast})")
        if self.met and self.used is not None:
            return (f"int8 recovery: max_drop met by {self.took}; validation drop {pts(self.plain_val_drop)} -> "
                    f"{pts(self.used.val_drop)}{speed}{cost}")
        best = (f"best {self.took}, validation drop {pts(self.plain_val_drop)} -> {pts(self.used.val_drop)}"
                if self.used is not None else f"validation drop stays {pts(self.plain_val_drop)}")
        return (f"int8 recovery: max_drop {pts(self.max_drop)} NOT met after every rung ({tried}); {best}"
                f"{speed}{cost}")


def _tried(steps: list[Step], pts: Callable[[float | None], str]) -> str:
    """The rungs tried, each named once with its steps' drops: ``1:calibration 4.10 pt, 3:float_layers 3.90 pt /
    2.80 pt / 2.10 pt`` (float_layers keeps one more tensor float per step)."""
    grouped: list[tuple[int, str, list[str]]] = []
    for step in steps:
        if grouped and grouped[-1][:2] == (step.rung, step.name):
            grouped[-1][2].append(pts(step.val_drop))
        else:
            grouped.append((step.rung, step.name, [pts(step.val_drop)]))
    return ", ".join(f"{rung}:{name} {' / '.join(drops)}" for rung, name, drops in grouped)


def stratified(x: Any, y: np.ndarray, n: int, task: str, seed: int = 0) -> Any:
    """``n`` rows of ``x`` taken round-robin over classes (regression: target deciles), so every stratum is
    present even when it is rare; lazy rows when ``x`` is read from files (the converter reads them while it
    calibrates), else the rows as they are."""
    rng = np.random.default_rng(seed)
    if task == "classification":
        groups = np.asarray(y).astype(np.int64).reshape(len(y))
    else:
        edges = np.quantile(np.asarray(y, dtype=np.float64), np.linspace(0, 1, 11)[1:-1])
        groups = np.digitize(np.asarray(y, dtype=np.float64), edges)
    buckets = [list(rng.permutation(np.flatnonzero(groups == g))) for g in np.unique(groups)]
    picked: list[int] = []
    n = min(n, len(x))
    while len(picked) < n:
        for bucket in buckets:
            if bucket and len(picked) < n:
                picked.append(int(bucket.pop()))
    return take(x, np.sort(np.asarray(picked, dtype=np.int64)))


def integer_only(content: bytes) -> bool:
    """Whether every op but the float I/O's QUANTIZE / DEQUANTIZE computes on integer tensors."""
    interp = _graph(content)
    for op in interp._get_ops_details():
        if op["op_name"] in ("QUANTIZE", "DEQUANTIZE"):
            continue
        for t in [*op["inputs"], *op["outputs"]]:
            if t >= 0 and np.dtype(interp._get_tensor_details(t, 0)["dtype"]).kind == "f":
                return False
    return True


def _graph(content: bytes) -> Any:
    """An interpreter to read the graph from: no delegate (XNNPACK would fold ops into DELEGATE nodes)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    with quiet():
        interp = Interpreter(model_content=content,
                             experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        interp.allocate_tensors()
    return interp


@dataclass
class QatOptions:
    """Rung 4's fine-tune: ``epochs`` (0: the rung is off), Adam's ``lr``, the training ``batch_size`` (the
    exporter passes ``export.qat_epochs``, ``export.qat_lr`` and ``train.batch_size``: no defaults of its own)."""

    epochs: int
    lr: float
    batch_size: int


class Ladder:
    """Tries the rungs for one prepared Keras model; ``run`` returns the :class:`Recovery`.

    ``int8_integer_only``: skip the steps whose file would not be integer-only (``float_layers``); ``qat``: rung 4;
    ``device``: times every candidate (``export.measure.command``; None: the interpreter)."""

    def __init__(self, prepared: Any, options: ConvertOptions, *, x_train: Any, y_train: np.ndarray,
                 x_val: Any, y_val: np.ndarray, task: str, max_drop: float, configured_samples: int,
                 seed: int = 0, convert: Callable[[Any, str, ConvertOptions], bytes] | None = None,
                 qat: QatOptions, int8_integer_only: bool = False, device: DeviceCommand | None = None) -> None:
        from automl.tflite.convert import convert as default_convert

        self.prepared, self.options, self.task, self.max_drop = prepared, options, task, max_drop
        self.x_train, self.y_train = x_train, y_train
        self.x_val, self.y_val = x_val, np.asarray(y_val)  # arrays or rows read from files, run batch by batch
        self.configured_samples, self.seed = configured_samples, seed
        self.int8_integer_only, self.qat, self.device = int8_integer_only, qat, device
        self.convert = convert or default_convert
        ref = keras_outputs(prepared, self.x_val)
        self.ref_shape = ref.shape
        self.keras_val = score(ref, self.y_val, task)

    def val_drop(self, content: bytes) -> float:
        outputs = run_tflite(content, self.x_val).reshape(self.ref_shape)
        value = score(outputs, self.y_val, self.task)
        return metric_drop(self.keras_val, value, self.task)

    def met(self, drop: float | None) -> bool:
        return drop is not None and not over_max_drop(drop, self.max_drop)

    def latency_ms(self, content: bytes) -> float:
        """Batch-1 latency of ``content``: the median of timed blocks in the interpreter (one validation row), or
        the device command's figure."""
        if self.device is not None:
            return run_command(self.device, content).ms
        return round(tflite_latency(content, self.x_val[0], MeasureRequest()).median_ms, 6)

    def run(self, plain: bytes) -> Recovery:
        out = Recovery(max_drop=self.max_drop, val_samples=len(self.x_val), keras_val_value=self.keras_val,
                       plain_val_drop=self.val_drop(plain), plain_size_bytes=len(plain), content=plain)
        if not out.needed:
            return out
        out.latency = {"plain_int8_ms": self.latency_ms(plain),
                       "float32_ms": self.latency_ms(self.convert(self.prepared, "float32", ConvertOptions())),
                       "source": "interpreter: median of timed blocks, batch 1, 1 thread" if self.device is None
                       else "export.measure.command"}
        built: list[tuple[Step, bytes]] = []
        best_drop = out.plain_val_drop

        def take(rung: Callable[[], tuple[Step, bytes | None, ConvertOptions | None]]) -> Step:
            nonlocal best_drop
            step, content, options = rung()
            out.steps.append(step)
            if step.val_drop is None or content is None:
                return step
            step.latency_ms = self.latency_ms(content)
            built.append((step, content))
            if step.val_drop < best_drop - 1e-9:
                best_drop = step.val_drop
                if options is not None:
                    self.options = options  # later rungs build on the best settings so far
            return step

        for rung in self._fast_rungs():  # plain int8 files: the first that meets the target ends the ladder
            if take(rung).met:
                break
        else:
            for slow in self._slow_rungs(out):  # each fallback until one of its steps meets the target
                for rung in slow:
                    if take(rung).met:
                        break
        met = [(step, content) for step, content in built if step.met]
        if met:  # the fastest file that meets the target
            out.used, out.content = min(met, key=lambda sc: sc[0].latency_ms or float("inf"))
            out.met = True
        elif built:  # none: the file that loses least, when it beats plain int8
            step, content = min(built, key=lambda sc: sc[0].val_drop or 0.0)
            if step.val_drop is not None and step.val_drop < out.plain_val_drop - 1e-9:
                out.used, out.content = step, content
        return out

    def _fast_rungs(self) -> Iterator[Callable[[], tuple[Step, bytes | None, ConvertOptions | None]]]:
        yield self._calibration
        yield self._granularity
        yield from self._clipped()
        if self.qat.epochs > 0:
            yield self._qat

    def _slow_rungs(self, out: Recovery
                    ) -> Iterator[Iterator[Callable[[], tuple[Step, bytes | None, ConvertOptions | None]]]]:
        yield iter([self._int16])
        if self.int8_integer_only:
            yield iter([lambda: (Step(6, "float_layers", "keep layers float", None, None, False, False, 0.0, {},
                                      error="skipped: export.int8_integer_only (a file with float layers is not "
                                            "integer-only)"), None, None)])
        else:
            yield self._float_layers(out)

    def _timed(self, rung: int, name: str, what: str, settings: dict[str, Any],
               build: Callable[[], bytes]) -> tuple[Step, bytes | None]:
        start = time.perf_counter()
        try:
            content = build()
            drop = self.val_drop(content)
        except Exception as exc:  # a rung that cannot be built is recorded, the ladder goes on
            return Step(rung, name, what, None, None, False, False, time.perf_counter() - start, settings,
                        error=first_line(exc, 300, typed=True)), None
        return Step(rung, name, what, round(drop, 6), len(content), self.met(drop), integer_only(content),
                    round(time.perf_counter() - start, 3), settings), content

    def _calibration(self) -> tuple[Step, bytes | None, ConvertOptions | None]:
        n = min(len(self.x_train), max(CALIBRATION_FLOOR, 4 * self.configured_samples))
        options = ConvertOptions(representative=stratified(self.x_train, self.y_train, n, self.task, self.seed),
                                 io=self.options.io, per_channel=self.options.per_channel)
        what = f"{n} stratified calibration samples (was {self.configured_samples})"
        step, content = self._timed(1, "calibration", what, {"samples": n, "stratified": True},
                                    lambda: self.convert(self.prepared, "int8", options))
        return step, content, options

    def _granularity(self) -> tuple[Step, bytes | None, ConvertOptions | None]:
        per_channel = not self.options.per_channel
        options = ConvertOptions(representative=self.options.representative, io=self.options.io,
                                 per_channel=per_channel)
        name = "per_channel" if per_channel else "per_tensor"
        what = f"{name.replace('_', '-')} weight scales (export.per_channel was {str(not per_channel).lower()})"
        step, content = self._timed(2, name, what, {"per_channel": per_channel},
                                    lambda: self.convert(self.prepared, "int8", options))
        return step, content, options

    def _clipped(self) -> Iterator[Callable[[], tuple[Step, bytes | None, ConvertOptions | None]]]:
        """Rung 3: one step per percentile of :data:`PERCENTILES`; a percentile that clips the same tensors to
        the same ranges as the step before is not tried again."""
        start = time.perf_counter()
        try:
            calibrated = self._calibrated()
            samples = self.options.representative
            values = activation_values(calibrated, samples if samples is not None else self.x_train[:200],
                                       self.seed)
        except Exception as exc:
            error = first_line(exc, 300, typed=True)
            yield lambda: (Step(3, "clipped_ranges", "clip outlying activation ranges", None, None, False, False,
                                time.perf_counter() - start, {}, error=error), None, None)
            return
        gather = round(time.perf_counter() - start, 3)
        seen: list[Any] = []
        if not any(clip_ranges(calibrated, values, p, MIN_SHRINK)[1] for p in PERCENTILES[-1:]):
            error = (f"skipped: no activation's min/max range is {MIN_SHRINK:g}x its {PERCENTILES[-1]:g} percentile "
                     "range (no outliers to clip)")
            yield lambda: (Step(3, "clipped_ranges", "clip outlying activation ranges", None, None, False, True,
                                round(time.perf_counter() - start, 3), {}, error=error), None, None)
            return
        for k, percentile in enumerate(PERCENTILES):
            edited, clipped = clip_ranges(calibrated, values, percentile, MIN_SHRINK)
            if not clipped or [c.range for c in clipped] in seen:
                continue
            seen.append([c.range for c in clipped])
            layers = layer_names(self.prepared, [c.tensor for c in clipped])
            what = (f"activation ranges clipped to the {100 - percentile:g}..{percentile:g} percentiles in "
                    f"{len(clipped)} tensor(s): {', '.join(layers)}")
            settings = {"percentile": percentile, "min_shrink": MIN_SHRINK, "clipped_layers": layers,
                        "clipped": [c.to_dict() for c in clipped],
                        "samples": len(samples) if samples is not None else 200,
                        "gather_seconds": gather if k == 0 else 0.0}
            yield self._clip_step(edited, what, settings)

    def _clip_step(self, edited: bytes, what: str, settings: dict[str, Any]
                   ) -> Callable[[], tuple[Step, bytes | None, ConvertOptions | None]]:
        def step() -> tuple[Step, bytes | None, ConvertOptions | None]:
            done, content = self._timed(3, "clipped_ranges", what, settings, lambda: self._quantize(edited, []))
            return done, content, None

        return step

    def _qat(self) -> tuple[Step, bytes | None, ConvertOptions | None]:
        from automl.export.qat import finetune, fold_batchnorm

        q = self.qat
        what = f"quantization-aware fine-tune, {q.epochs} epoch(s) at lr {q.lr:g}"
        settings: dict[str, Any] = {"epochs": q.epochs, "lr": q.lr, "batch_size": q.batch_size,
                                    "per_channel": self.options.per_channel}

        def build() -> bytes:
            model, folded = fold_batchnorm(self.prepared)  # a clone: the prepared model stays as it is
            record = finetune(model, self.x_train, self.y_train, task=self.task, epochs=q.epochs, lr=q.lr,
                              batch_size=q.batch_size, per_channel=self.options.per_channel, seed=self.seed)
            settings.update({**record.to_dict(), "folded_batchnorm": folded,
                             "calibration_samples": len(self.options.representative)
                             if self.options.representative is not None else 0})
            return self.convert(model, "int8", self.options)

        step, content = self._timed(4, "qat", what, settings, build)
        return step, content, None

    def _converter(self, options: ConvertOptions) -> Any:
        import tensorflow as tf

        converter = tf.lite.TFLiteConverter.from_keras_model(self.prepared)
        FORMATS.factory("int8")(converter, options)
        return converter

    def _int16(self) -> tuple[Step, bytes | None, ConvertOptions | None]:
        import tensorflow as tf

        what = "16-bit activations, int8 weights (16x8)"
        if self.options.io != "float32":
            return (Step(5, "int16_activations", what, None, None, False, True, 0.0, {},
                         error=f"skipped: io {self.options.io} (16x8 files take float32 or int16 inputs)"),
                    None, None)

        def build() -> bytes:
            converter = self._converter(self.options)
            converter.target_spec.supported_ops = [
                tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
            with quiet():
                return bytes(converter.convert())

        step, content = self._timed(5, "int16_activations", what, {"activations": "int16", "weights": "int8"},
                                    build)
        return step, content, None

    def _calibrated(self) -> bytes:
        converter = self._converter(self.options)
        converter.experimental_mlir_quantizer = True
        converter._experimental_calibrate_only = True
        with quiet():
            return bytes(converter.convert())

    def _quantize(self, calibrated: bytes, nodes: list[str]) -> bytes:
        import tensorflow as tf
        from tensorflow.lite.python import convert as tf_convert

        io = {"float32": tf.float32, "int8": tf.int8, "uint8": tf.uint8}[self.options.io]
        with quiet():
            return bytes(tf_convert.mlir_quantize(
                calibrated, disable_per_channel=not self.options.per_channel, fully_quantize=False,
                input_data_type=io, output_data_type=io, denylisted_nodes=nodes or None))

    def _float_layers(self, out: Recovery
                      ) -> Iterator[Callable[[], tuple[Step, bytes | None, ConvertOptions | None]]]:
        start = time.perf_counter()
        try:
            calibrated = self._calibrated()
            groups = tensor_groups(calibrated)
        except Exception as exc:
            error = first_line(exc, 300, typed=True)
            yield lambda: (Step(6, "float_layers", "keep layers float", None, None, False, False,
                                time.perf_counter() - start, {}, error=error), None, None)
            return
        measured = []
        for tensor, nodes in groups[:MAX_CANDIDATES]:
            try:
                drop = self.val_drop(self._quantize(calibrated, nodes))
            except Exception:  # noqa: S112 - a denylist the quantizer refuses is not a candidate
                continue
            measured.append((drop, tensor, nodes))
        measured.sort(key=lambda m: m[0])
        out.per_layer = [{"tensor": t, "layers": layer_names(self.prepared, n), "val_drop": round(d, 6)}
                         for d, t, n in measured]
        seconds = time.perf_counter() - start
        kept: list[str] = []
        tensors: list[str] = []
        for k, (_, tensor, nodes) in enumerate(measured[:MAX_FLOAT_STEPS]):
            kept = list(dict.fromkeys([*kept, *nodes]))
            tensors.append(tensor)
            layers = layer_names(self.prepared, kept)
            what = f"{len(layers)} layer(s) kept float: {', '.join(layers)}"
            settings = {"float_layers": layers, "float_tensors": list(tensors), "denylisted_nodes": list(kept),
                        "measured_tensors": len(measured), "candidate_tensors": len(groups),
                        "measure_seconds": round(seconds, 3) if k == 0 else 0.0}
            yield self._float_step(calibrated, what, settings, list(kept))

    def _float_step(self, calibrated: bytes, what: str, settings: dict[str, Any], nodes: list[str]
                    ) -> Callable[[], tuple[Step, bytes | None, ConvertOptions | None]]:
        def step() -> tuple[Step, bytes | None, ConvertOptions | None]:
            done, content = self._timed(6, "float_layers", what, settings, lambda: self._quantize(calibrated, nodes))
            return done, content, None

        return step


def tensor_groups(calibrated: bytes) -> list[tuple[str, list[str]]]:
    """For every activation tensor of a calibrated (float) model: its name and the output tensor names of the
    ops that must stay float for it to stay float (its producer and its consumers), in graph order."""
    interp = _graph(calibrated)
    ops = interp._get_ops_details()

    def name(t: int) -> str:
        return str(interp._get_tensor_details(t, 0)["name"])

    producer = {t: op for op in ops for t in op["outputs"]}
    consumers: dict[int, list[Any]] = {}
    for op in ops:
        for t in op["inputs"]:
            consumers.setdefault(t, []).append(op)
    inputs = [d["index"] for d in interp.get_input_details()]
    groups = []
    for t in [*inputs, *[t for op in ops for t in op["outputs"]]]:
        if t not in consumers or np.dtype(interp._get_tensor_details(t, 0)["dtype"]).kind != "f":
            continue
        members = ([producer[t]] if t in producer else []) + consumers[t]
        nodes = list(dict.fromkeys(name(o) for op in members for o in op["outputs"]))
        groups.append((name(t), nodes))
    return groups


def layer_names(model: Any, nodes: list[str]) -> list[str]:
    """The Keras layers behind TFLite tensor names (``model/hidden_1/MatMul;...`` -> ``hidden``).

    The deepest layer a name passes through: inside a user's nested model (``tiny/functional/dense_3/MatMul``)
    that is ``dense_3``, never the container ``functional``, which says nothing of which layer stayed float."""
    import re

    from automl.tflite.prepare import all_layers

    layers = all_layers(model)
    containers = {layer.name for layer in layers if hasattr(layer, "layers")} | {model.name}
    names = sorted({layer.name for layer in layers}, key=len, reverse=True)
    found: list[str] = []
    for node in nodes:
        inner = outer = None
        for part in re.split(r"[/;:]", node):
            layer = next((n for n in names if part == n or re.fullmatch(re.escape(n) + r"_\d+", part)), None)
            if layer is None:
                continue
            if layer in containers:
                outer = outer or layer
            else:
                inner = layer  # the last one on the path: the deepest
        found.append(inner or (outer if outer != model.name else None) or node)
    return list(dict.fromkeys(found))


def recover_int8(prepared: Any, plain: bytes, options: ConvertOptions, *, data: Any, max_drop: float,
                 configured_samples: int, seed: int, folder: Any, label: str, ref: Any, x_test: Any,
                 latency_runs: int, qat: QatOptions, stem: str | None = None,
                 int8_integer_only: bool = False, device: DeviceCommand | None = None) -> Recovery:
    """Run the ladder for the plain int8 file ``plain``; when another file ships, keep the plain one beside it
    as ``<stem>_plain.tflite`` (+ .json, validated on the test split); ``stem``: the shipped file's name without
    ``.tflite`` (default ``<label>_int8``). ``qat`` and ``int8_integer_only``: see :class:`Ladder`; ``device``: the
    :class:`~automl.tflite.device.DeviceCommand` that times the plain file (``export.measure.command``; None: the
    interpreter), so that the shipped file's latency cost is measured on one device."""
    stem = stem or f"{label}_int8"
    from automl.store.folder import write_bytes, write_json
    from automl.tflite.validate import validate

    ladder = Ladder(prepared, options, x_train=data.x_train, y_train=data.y_train,
                    x_val=data.x_val, y_val=data.y_val, task=data.task, max_drop=max_drop,
                    configured_samples=configured_samples, seed=seed, qat=qat,
                    int8_integer_only=int8_integer_only, device=device)
    result = ladder.run(plain)
    if result.content is plain:  # plain int8 ships: a plain file of an earlier export is stale
        for suffix in (".tflite", ".json"):
            (folder / f"{stem}_plain{suffix}").unlink(missing_ok=True)
    else:
        path = folder / f"{stem}_plain.tflite"
        write_bytes(path, plain)
        check = validate(plain, "int8", ref, x_test, data.y_test, task=data.task, max_drop=max_drop,
                         latency_runs=latency_runs, file=path, io=options.io, device=device)
        result.plain_file = str(path)
        result.plain_test = {k: check.to_dict()[k] for k in (
            "tflite_value", "drop", "size_bytes", "latency_ms_median", "latency_ms_p90")}
        write_json(folder / f"{stem}_plain.json", {
            **check.to_dict(), "integer_only": integer_only(plain),
            "note": f"plain int8, kept beside the recovered {stem}.tflite"})
    return result


def finish(result: Recovery | None, check: Any, content: bytes) -> dict[str, Any]:
    """What the int8 JSON adds once the shipped file is validated on the test split: ``integer_only`` and the
    ``recovery`` record (with the size and latency it costs against plain int8)."""
    if result is None:
        return {"integer_only": integer_only(content), "recovery": {"enabled": False}}
    if result.plain_test:
        result.cost = {
            "size_ratio": round(check.size_bytes / max(1, result.plain_test["size_bytes"]), 4),
            "latency_ratio": round(check.latency_ms_median / max(1e-9, result.plain_test["latency_ms_median"]), 4),
            "test_drop": check.drop, "plain_test_drop": result.plain_test["drop"]}
    return {"integer_only": integer_only(content), "recovery": {"enabled": True, **result.to_dict()}}


def mlflow_fields(result: Recovery | None, integer: bool) -> tuple[dict[str, float], dict[str, Any]]:
    """Metrics and tags for the export's run: the plain and recovered validation drops, one metric pair per
    step (``int8_recovery_step<i>_val_drop`` / ``_size_kib``), and tags naming what it took."""
    tags: dict[str, Any] = {"automl.int8.integer_only": integer}
    if result is None:
        return {}, {**tags, "automl.int8.recovery": "off"}
    metrics: dict[str, float] = {"int8_recovery_plain_val_drop": result.plain_val_drop,
                                 "int8_recovery_met": float(result.met or not result.needed),
                                 "int8_recovery_steps": float(len(result.steps))}
    if result.used is not None and result.used.val_drop is not None:
        metrics["int8_recovery_val_drop"] = result.used.val_drop
    for i, step in enumerate(result.steps, 1):
        if step.val_drop is not None:
            metrics[f"int8_recovery_step{i}_val_drop"] = step.val_drop
        if step.size_bytes is not None:
            metrics[f"int8_recovery_step{i}_size_kib"] = step.size_bytes / 1024
        if step.latency_ms is not None:
            metrics[f"int8_recovery_step{i}_latency_ms"] = step.latency_ms
        tags[f"automl.int8.recovery.step{i}"] = f"rung {step.rung} {step.name}: {step.what}; met={step.met}"[:500]
    for key in ("size_ratio", "latency_ratio"):
        if key in result.cost:
            metrics[f"int8_recovery_{key}"] = result.cost[key]
    speed = result.latency_record()
    for key in ("plain_int8_ms", "float32_ms", "shipped_ms", "vs_plain_int8", "vs_float32"):
        if key in speed:
            metrics[f"int8_recovery_latency_{key}"] = speed[key]
    if "speed" in speed:
        tags["automl.int8.recovery.speed"] = speed["speed"]
    state = "not needed" if not result.needed else ("met" if result.met else "not met")
    tags["automl.int8.recovery"] = f"{state}: {result.took}"[:500]
    return metrics, tags
