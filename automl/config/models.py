"""Pydantic models of a pipeline file. Defaults live here and nowhere else.

The models check what can be checked from the file alone; :mod:`automl.config.loader` adds the checks
that need the space file or the data (metric vs task, block vs data rank).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from automl._text import did_you_mean, one_of, show
from automl._types import Int
from automl.builders.metrics import direction_of
from automl.config.constraints import parse_constraint
from automl.config.errors import _problems
from automl.engines import ENGINE_PRUNERS, missing_extra
from automl.engines import ENGINE_SAMPLERS as ENGINES
from automl.engines.options import CROSSOVERS, Options, options_model, population_for
from automl.space.params import CategoricalParam, FixedParam, Param, Scalar, as_param_input, float_range
from automl.tflite.device import DeviceCommand

Fraction = Annotated[float, Field(gt=0.0, lt=1.0)]
# Upper bounds far above any sane value, so that a typo (1e20) is an error naming its key instead of a study
# whose every trial fails or runs out of memory.
MAX_EPOCHS = 100_000
MAX_TRIALS = 1_000_000
MAX_SAMPLES = 1_000_000
MAX_FEATURES = 100_000
MAX_VALUES = 100_000_000  # synthetic data: samples x values per sample (400 MB of float32)
MAX_SEED = 2**31 - 1  # numpy takes < 2**32; engines add offsets per worker and session
Epochs = Annotated[Int, Field(gt=0, le=MAX_EPOCHS)]
Trials = Annotated[Int, Field(gt=0, le=MAX_TRIALS)]
Samples = Annotated[Int, Field(gt=0, le=MAX_SAMPLES)]
Features = Annotated[Int, Field(gt=0, le=MAX_FEATURES)]
Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]

PRUNERS = tuple(dict.fromkeys(p for pruners in ENGINE_PRUNERS.values() for p in pruners))
MAX_ENQUEUED = 1000
DATA_SOURCES: dict[str, tuple[str, ...]] = {
    # source -> the keys that apply to it besides `source` and the split fractions
    "digits": (),
    "breast_cancer": (),
    "wine": (),
    "iris": (),
    "synthetic": ("samples", "features", "classes", "shape", "noise"),
    "csv": ("path", "target", "categorical", "split_column", "validation_path", "test_path"),
    "npz": ("path",),
    "npy": ("path",),
    "image_folder": ("path", "image_size", "color_mode", "cache"),
}
_SPLITS = ("validation_split", "test_split", "stratify")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class DataConfig(_Model):
    """Where the data comes from and how it is split."""

    source: str = Field(description="digits | breast_cancer | wine | iris | synthetic | csv | npz | npy | "
                        "image_folder")
    path: Path | None = Field(None, description="csv / npz: the file; npy: the folder holding x.npy and y.npy (or "
                              "x_train.npy, y_train.npy and optionally x_val.npy, y_val.npy, x_test.npy, y_test.npy), "
                              "read a batch of rows at a time, never whole; image_folder: the folder with one "
                              "sub-folder of images per class (relative to the pipeline file).")
    target: str | None = Field(None, description="csv: the target column.")
    split_column: str | None = Field(
        None, description="csv: a column whose value in each row is train, val (or validation) or test: the "
        "user's own split, used as given (the column is not a feature).")
    validation_path: Path | None = Field(
        None, description="csv: a second file with the same columns holding the validation rows (`path` then "
        "holds the training rows).")
    test_path: Path | None = Field(
        None, description="csv: a file with the same columns holding the test rows; the parent run's test "
        "metrics are computed on exactly these rows.")
    categorical: Literal["onehot", "embedding"] = Field(
        "onehot", description="csv: a text column becomes one-hot columns, or one integer code column that the "
        "model embeds (a learned vector per category: better for many categories).")
    validation_split: Fraction = Field(0.2, description="Fraction of the data used for validation (with a fixed "
                                       "split that has no validation rows: this fraction of the training rows).")
    test_split: Fraction = Field(0.2, description="Fraction of the data held out for the final test (with a fixed "
                                 "split that has no test rows: this fraction of the training rows).")
    stratify: bool = Field(True, description="Stratified splits for classification.")
    samples: Samples = Field(600, description="synthetic: number of samples.")
    features: Features = Field(20, description="synthetic: number of features (tabular shape).")
    classes: Annotated[Int, Field(ge=0, le=1000)] = Field(
        3, description="synthetic: number of classes (0 for a regression target)."
    )
    shape: Annotated[list[Features], Field(min_length=1, max_length=3)] | None = Field(
        None, description="synthetic: per-sample shape, e.g. [16, 3] (sequence) or [8, 8, 1] (image)."
    )
    noise: Annotated[float, Field(ge=0.0, le=1.0)] = Field(0.1, description="synthetic: label noise / target noise.")
    image_size: Annotated[list[Annotated[Int, Field(gt=0, le=8192)]], Field(min_length=2, max_length=2)] = Field(
        default_factory=lambda: [32, 32], description="image_folder: [height, width] every image is resized to.")
    color_mode: Literal["grayscale", "rgb", "rgba"] = Field(
        "rgb", description="image_folder: grayscale (1 channel) | rgb (3) | rgba (4).")
    cache: Literal["auto", "memory", "disk", "none"] = Field(
        "auto", description="image_folder: the images are decoded once, resized, into a uint8 file under "
        "mlruns/.cache/images/ (reused by later trials, sessions and studies while the folder's listing, sizes and "
        "times hold); memory: loaded whole (fastest, for data that fits), disk: read by batches from that file "
        "(memory independent of the number of images); auto: memory up to 256 MiB of pixels, else disk; none: "
        "nothing written, each batch decoded when the trial reads it (every epoch: slowest, no disk).")

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        if value not in DATA_SOURCES:
            raise ValueError(one_of(value, DATA_SOURCES, "data source"))
        return value

    @model_validator(mode="after")
    def _keys_apply(self) -> DataConfig:
        allowed = set(DATA_SOURCES[self.source]) | set(_SPLITS) | {"source"}
        for key in sorted(self.model_fields_set - allowed):
            raise ValueError(f"[{key}] does not apply to source '{self.source}'")
        if self.source in ("csv", "npz", "npy", "image_folder") and self.path is None:
            raise ValueError(f"[path] source '{self.source}' needs a `path`")
        if self.source == "csv" and not self.target:
            raise ValueError("[target] source 'csv' needs a `target` column")
        if self.split_column and (self.validation_path or self.test_path):
            raise ValueError("[split_column] give the split as a column or as separate files "
                             "(validation_path, test_path), not both")
        per_sample = math.prod(self.shape) if self.shape else self.features
        if self.source == "synthetic" and self.samples * per_sample > MAX_VALUES:
            raise ValueError(f"[samples] `samples x values per sample <= {MAX_VALUES}` must hold, got "
                             f"{self.samples} x {per_sample}")
        if self.validation_split + self.test_split >= 0.9:
            raise ValueError(
                "validation_split + test_split < 0.9 must hold, "
                f"got {self.validation_split:g} + {self.test_split:g}"
            )
        return self


#: objective metrics measured on the model instead of scored on the validation split (each minimized): the
#: parameter count, and the size and median batch-1 latency of the model converted to TFLite
#: (``study.measure``)
MEASURED = ("params_count", "tflite_kib", "tflite_latency_ms")
TFLITE_METRICS = ("tflite_kib", "tflite_latency_ms")
#: samplers of the optuna engine that optimize one objective only
SINGLE_OBJECTIVE_SAMPLERS = ("cmaes",)


class ObjectiveConfig(_Model):
    """One objective of a multi-objective study: ``{metric: val_accuracy, direction: maximize}``, or the
    shorthand ``{val_accuracy: maximize}``."""

    model_config = ConfigDict(json_schema_extra=lambda s: _objective_forms(s))

    metric: str = Field(description="val_<metric> of the task, or params_count | tflite_kib | tflite_latency_ms "
                        "(measured; minimized).")
    direction: Literal["maximize", "minimize"] | None = Field(
        None, description="Inferred from the metric when omitted; a contradiction is an error.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"metric": data}
        if isinstance(data, dict) and len(data) == 1 and not {"metric", "direction"} & set(data):
            (metric, direction), = data.items()
            return {"metric": metric, "direction": direction}
        return data

    @field_validator("metric")
    @classmethod
    def _metric(cls, value: str) -> str:
        if value in MEASURED or (value.startswith("val_") and len(value) > 4):
            return value
        raise ValueError(f"expected val_<metric> or one of {', '.join(MEASURED)}, got {show(value)}"
                         f"{did_you_mean(value, MEASURED)}")

    @model_validator(mode="after")
    def _direction(self) -> ObjectiveConfig:
        implied = "minimize" if self.metric in MEASURED else direction_of(self.metric)
        if self.direction is None:
            self.direction = "minimize" if implied == "minimize" else "maximize" if implied else None
        elif implied is not None and implied != self.direction:
            raise ValueError(f"[direction] {self.metric} must be {implied}d, got direction={self.direction}")
        return self


def _objective_forms(schema: dict[str, Any]) -> None:
    """JSON Schema of an objective: the mapping, the shorthand ``{val_accuracy: maximize}`` or a metric's name."""
    full = {k: schema.pop(k) for k in ("type", "properties", "required", "additionalProperties") if k in schema}
    schema["anyOf"] = [full, {"type": "object", "minProperties": 1, "maxProperties": 1,
                              "additionalProperties": {"enum": ["maximize", "minimize"]}}, {"type": "string"}]


def command_with_placeholder(value: str | None) -> str | None:
    """A latency command must name the file it times: ``{tflite}`` in it (``study.measure.command``,
    ``export.measure.command``)."""
    if value is None:
        return None
    if not value.strip():
        raise ValueError("expected a shell command containing {tflite}, got an empty string")
    if "{tflite}" not in value:
        raise ValueError(f"expected a shell command containing {{tflite}} (the path of the .tflite file to time), "
                         f"got {show(value)}")
    return value


class CommandConfig(_Model):
    """Latency measured where the model runs, by a command (``study.measure`` and ``export.measure`` share these
    keys); without one the interpreter times it (export: ``export.latency_runs`` calls)."""

    command: str | None = Field(
        None, description="Time each model where it runs instead of in the interpreter: a shell command in which "
        "`{tflite}` is replaced by the quoted path of the .tflite file; it prints the latency in ms as the last "
        "number of its last line (e.g. adb and LiteRT's benchmark_model on a phone; docs/engines.md, \"Latency on "
        "the device\"). Its figure is the latency (no CV): study.measure: tflite_latency_ms; export.measure: each "
        "file's latency_ms_median (and p90) and the int8 recovery ladder's. null: the interpreter times it.")
    command_timeout: Annotated[float, Field(gt=0.0, le=86_400.0)] = Field(
        300.0, description="command: seconds it may take per model; longer fails the trial (study.measure) or the "
        "export (export.measure).")

    @field_validator("command")
    @classmethod
    def _command(cls, value: str | None) -> str | None:
        return command_with_placeholder(value)

    def device(self, key: str) -> DeviceCommand | None:
        """The :class:`~automl.tflite.device.DeviceCommand` for ``command`` (None when unset); ``key`` names the
        setting in its errors (``study.measure.command``, ``export.measure.command``)."""
        return None if self.command is None else DeviceCommand(self.command, self.command_timeout, key)


class MeasureConfig(CommandConfig):
    """How ``tflite_kib`` and ``tflite_latency_ms`` are measured: on each trial's built, untrained model
    (size and latency do not depend on the weights), converted to TFLite and timed in the ai-edge-litert
    interpreter, one trial at a time. Only when an objective or a constraint names them."""

    format: Literal["int8", "float32", "float16", "dynamic"] = Field(
        "int8", description="The TFLite format measured: int8 (full integer, calibrated on training samples) | "
        "float32 | float16 | dynamic.")
    threads: Annotated[Int, Field(gt=0, le=64)] = Field(1, description="Interpreter threads.")
    representative_samples: Annotated[Int, Field(gt=0, le=10_000)] = Field(
        100, description="int8: training samples that calibrate the quantization ranges.")
    warmup_runs: Annotated[Int, Field(ge=0, le=100_000)] = Field(
        20, description="Batch-1 invocations before timing.")
    block_runs: Annotated[Int, Field(gt=0, le=100_000)] = Field(
        20, description="Invocations per timed block; a block's time / block_runs is one sample of the latency.")
    min_blocks: Annotated[Int, Field(ge=3, le=10_000)] = Field(
        7, description="Timed blocks at least.")
    max_blocks: Annotated[Int, Field(ge=3, le=10_000)] = Field(
        60, description="Timed blocks at most (when the median is still moving).")
    tolerance: Annotated[float, Field(gt=0.0, lt=1.0)] = Field(
        0.02, description="The median is stable when one more block moves it by less than this fraction.")

    @model_validator(mode="after")
    def _blocks(self) -> MeasureConfig:
        if self.min_blocks > self.max_blocks:
            raise ValueError(f"[min_blocks] `min_blocks <= max_blocks` must hold, got min_blocks={self.min_blocks}, "
                             f"max_blocks={self.max_blocks}")
        return self


class StudyConfig(_Model):
    """How the search runs."""

    engine: str = Field("optuna", description="The tuning engine: optuna | keras_tuner.")
    sampler: str = Field("tpe", description="optuna: tpe | random | grid | qmc | cmaes | gp | nsga2 | nsga3; "
                         "keras_tuner: random | bayesian | hyperband | grid (grid: every float needs a step). Or a "
                         "mapping with its options, e.g. `{name: tpe, n_startup_trials: 5}` (optuna; "
                         "docs/engines.md).", json_schema_extra=lambda s: _name_or_options(s))
    pruner: str = Field("median", description="none | median | percentile | successive_halving | hyperband | "
                        "patient | threshold (keras_tuner: none | median), fed by per-epoch reports; a "
                        "multi-objective study: none (its default) | dominated. Or a mapping with its options, "
                        "e.g. `{name: percentile, percentile: 25, warmup_epochs: 2}`.",
                        json_schema_extra=lambda s: _name_or_options(s))
    trials: Trials = Field(20, description="Trials to add in this session (a resumed study keeps its own).")
    budget: Annotated[Int, Field(gt=0, le=1_000_000)] | None = Field(
        None, description="The study's total trials over every session, host and worker (optuna engine): complete "
        "+ pruned + failed and not retried, running trials included as reserved. Each trial is reserved in the "
        "shared storage before it starts, so concurrent workers never overshoot it; `automl worker` runs until it "
        "is met (`--budget N`; docs/scale.md). null: no total, only `trials` per session.")
    metric: str | None = Field(
        None, description="val_<metric> to optimize; default val_accuracy (classification) / val_loss."
    )
    direction: Literal["maximize", "minimize"] | None = Field(
        None, description="Inferred from the metric when omitted; a contradiction is an error."
    )
    objectives: Annotated[list[ObjectiveConfig], Field(min_length=1, max_length=8)] | None = Field(
        None, description="Replaces `metric` and `direction`: the study optimizes every one of them (optuna engine; "
        "two or more make a multi-objective study with a Pareto front), e.g. `[{metric: val_accuracy, direction: "
        "maximize}, {metric: tflite_latency_ms, direction: minimize}]` or `[val_accuracy: maximize, "
        "tflite_latency_ms: minimize]`. Metrics: val_<metric> of the task, params_count, tflite_kib, "
        "tflite_latency_ms (`measure`). A multi-objective study prunes only with `pruner: dominated` "
        "(docs/engines.md).")
    constraints: Annotated[list[str], Field(max_length=32)] = Field(
        default_factory=list, description="Budgets every kept model must meet, e.g. `[\"tflite_latency_ms <= 1.0\", "
        "\"tflite_kib <= 64\"]` (METRIC <= | < | >= | > NUMBER; metrics params_count, tflite_kib, "
        "tflite_latency_ms). Measured before training: a configuration that breaks one is PRUNED as infeasible "
        "without training; the sampler learns it (tpe, nsga2, nsga3, gp) and the best model is a feasible one "
        "(optuna engine).")
    measure: MeasureConfig = Field(default_factory=MeasureConfig)  # type: ignore[arg-type]
    timeout: Seconds | None = Field(None, description="Seconds; stop adding trials after.")
    trial_timeout: Seconds | None = Field(None, description="Seconds one trial may take; a trial past it is "
                                          "stopped and FAILs (\"exceeded trial_timeout 600 s\"); null: no limit.")
    storage: str | None = Field(None, description="Optuna storage URL; default: the environment's AUTOML_STORAGE, "
                                "else sqlite:///mlruns/optuna.db. PostgreSQL: postgresql+psycopg2://USER:PASSWORD@"
                                "HOST:PORT/DATABASE (`pip install \"automl[postgres]\"`, docs/scale.md); automl "
                                "shows and logs the URL with its password masked (`***`).")
    heartbeat_interval: Annotated[Int, Field(gt=0, le=86400)] | None = Field(
        60, description="optuna engine: seconds between a running trial's heartbeats in the storage. A trial "
        "whose heartbeat stops for `grace_period` seconds (its process or its host died) is failed by the next "
        "study process that opens the study, on any host; null: no heartbeat (then only processes of the same "
        "host are judged, by their pid).")
    grace_period: Annotated[Int, Field(gt=0, le=864000)] | None = Field(
        None, description="Seconds without a heartbeat after which a running trial counts as dead; default twice "
        "`heartbeat_interval`.")
    cv_folds: Annotated[Int, Field(ge=2, le=100)] | None = Field(
        None, description="k-fold cross-validation over train + validation (stratified for classification): "
        "a trial trains k times and its value is the mean over the folds; null: one validation split.")
    workers: Annotated[Int, Field(gt=0, le=1024)] = Field(
        1, description="Trials run at once, each worker a child process with its own share of `trials`, all "
        "asking one Optuna storage (optuna engine only). With GPUs, worker i sees only GPU i mod #GPUs (one trial "
        "per GPU); on a CPU the workers share the cores. Results no longer depend only on the seed.")
    enqueue: Annotated[list[dict[str, Scalar]], Field(max_length=MAX_ENQUEUED)] = Field(
        default_factory=list, description="Configurations evaluated first, e.g. `[{lr: 0.01, layers: 2}]` "
        "(parameters left out are sampled); each is enqueued once: a resumed study skips those it has tried "
        "(optuna engine).")
    from_study: str | None = Field(
        None, description="Another study in the same storage that seeds this one when it is created: its "
        "completed trials when the space is the same, else its 5 best configurations, enqueued (optuna engine; "
        "`automl run --from-study NAME`).")

    _sampler_options: dict[str, Any] = PrivateAttr(default_factory=dict)
    _pruner_options: dict[str, Any] = PrivateAttr(default_factory=dict)

    @property
    def sampler_options(self) -> dict[str, Any]:
        """The sampler's options, defaults filled (None: settled when the study opens)."""
        return dict(self._sampler_options)

    @property
    def pruner_options(self) -> dict[str, Any]:
        """The pruner's options, defaults filled (None: settled when the study opens)."""
        return dict(self._pruner_options)

    def engine_options(self) -> dict[str, Any]:
        """What :class:`~automl.engines.base.StudySettings` takes besides the sampler's and pruner's names:
        ``StudySettings(..., **cfg.study.engine_options())``."""
        return {"sampler_options": self.sampler_options, "pruner_options": self.pruner_options,
                "enqueue": [dict(c) for c in self.enqueue], "from_study": self.from_study}

    @field_validator("from_study")
    @classmethod
    def _from_study(cls, value: str | None) -> str | None:
        if value is not None and (not _NAME.match(value) or len(value) > MAX_NAME):
            raise ValueError(f"expected a study name (letters, digits, '_', '.', '-'), got {show(value)}")
        return value

    @field_validator("engine")
    @classmethod
    def _engine(cls, value: str) -> str:
        if value not in ENGINES:
            raise ValueError(one_of(value, ENGINES, "engine"))
        return value

    @field_validator("pruner")
    @classmethod
    def _pruner(cls, value: str) -> str:
        if value not in PRUNERS:
            raise ValueError(one_of(value, PRUNERS, "pruner"))
        return value

    @model_validator(mode="after")
    def _sampler_and_direction(self) -> StudyConfig:
        samplers = ENGINES[self.engine]
        if self.sampler not in samplers:
            raise ValueError(f"[sampler] {one_of(self.sampler, samplers, f'{self.engine} sampler')}")
        if self.workers > 1 and self.engine != "optuna":
            raise ValueError(f"[workers] {self.workers} workers need engine optuna (one shared storage), got "
                             f"engine {self.engine}")
        if self.budget is not None and self.engine != "optuna":
            raise ValueError(f"[budget] a study budget needs engine optuna (one shared storage), got engine "
                             f"{self.engine}")
        if self.budget is not None and self.heartbeat_interval is None:
            raise ValueError("[heartbeat_interval] a study budget needs heartbeats (a dead worker's trial is found "
                             "by them and retried), got null")
        pruners = ENGINE_PRUNERS.get(self.engine, PRUNERS)
        if self.pruner not in pruners:
            raise ValueError(f"[pruner] {one_of(self.pruner, pruners, f'{self.engine} pruner')}")
        problem = missing_extra(self.sampler)
        if problem:
            raise ValueError(f"[sampler] {problem}")
        for key in ("enqueue", "from_study"):
            if key in self.model_fields_set and getattr(self, key) and self.engine != "optuna":
                raise ValueError(f"[{key}] warm starts need engine optuna, got engine {self.engine}")
        for i, config in enumerate(self.enqueue):
            if not config:
                raise ValueError(f"[enqueue.{i}] expected a mapping of parameter -> value, got {{}}")
        self._objectives_and_constraints()
        if self.metric is not None and self.direction is not None:
            implied = direction_of(self.metric)
            if implied is not None and implied != self.direction:
                raise ValueError(
                    f"[direction] {self.metric} must be {implied}d, got direction={self.direction}"
                )
        return self

    @property
    def multi_objective(self) -> bool:
        """Two or more objectives: a Pareto front rather than one best value."""
        return self.objectives is not None and len(self.objectives) > 1

    def _objectives_and_constraints(self) -> None:
        if self.objectives is not None:
            for key in ("metric", "direction"):
                if getattr(self, key) is not None:
                    raise ValueError(f"[{key}] `objectives` replaces `metric` and `direction`: set one or the "
                                     f"other, got {key}={getattr(self, key)} beside objectives")
            seen: set[str] = set()
            for i, objective in enumerate(self.objectives):
                if objective.metric in seen:
                    raise ValueError(f"[objectives.{i}.metric] each metric may be one objective once, got "
                                     f"{objective.metric} twice")
                seen.add(objective.metric)
        if self.multi_objective:
            if self.engine != "optuna":
                raise ValueError(f"[objectives] a multi-objective study needs engine optuna, got engine "
                                 f"{self.engine} (it optimizes one metric)")
            if self.sampler in SINGLE_OBJECTIVE_SAMPLERS:
                raise ValueError(f"[sampler] sampler {self.sampler} optimizes one objective, got "
                                 f"{len(self.objectives or [])} objectives: use tpe, nsga2, nsga3, gp, random, "
                                 "qmc or grid")
            if "pruner" in self.model_fields_set and self.pruner not in ("none", "dominated"):
                raise ValueError(f"[pruner] a multi-objective study prunes with `dominated` or not at all (Optuna "
                                 f"prunes single-objective studies only), got pruner {self.pruner}: set `pruner: "
                                 "dominated`, `pruner: none` or leave it out (none)")
            if "pruner" not in self.model_fields_set:
                self.pruner = "none"
        elif self.pruner == "dominated":
            raise ValueError("[pruner] pruner dominated compares the objectives of a multi-objective study, and "
                             "this study has one objective: list two or more in `objectives`, or use median, "
                             "percentile, ...")
        if self.constraints and self.engine != "optuna":
            raise ValueError(f"[constraints] constraints need engine optuna, got engine {self.engine}")
        for i, text in enumerate(self.constraints):
            try:
                constraint = parse_constraint(text)
            except ValueError as exc:
                raise ValueError(f"[constraints.{i}] {exc}") from None
            if constraint.metric not in MEASURED:
                raise ValueError(f"[constraints.{i}] {one_of(constraint.metric, MEASURED, 'constraint metric')}")

    @property
    def measured(self) -> tuple[str, ...]:
        """The tflite_* metrics an objective or a constraint names (measured on every trial's model)."""
        names = [o.metric for o in self.objectives or []] + [parse_constraint(c).metric for c in self.constraints]
        return tuple(m for m in TFLITE_METRICS if m in names)

    @model_validator(mode="wrap")
    @classmethod
    def _option_forms(cls, data: Any, handler: ModelWrapValidatorHandler[StudyConfig]) -> StudyConfig:
        # `sampler: {name: tpe, n_startup_trials: 5}`: `sampler` is the name (what every reader compares), the
        # rest are its options. Defined last, it wraps the other validators: the names are good when it reads them
        written: dict[str, dict[str, Any]] = {}
        if isinstance(data, dict):
            data = dict(data)
            for kind in ("sampler", "pruner"):
                value = data.get(kind)
                if isinstance(value, dict):
                    if "name" not in value:
                        raise ValueError(f"[{kind}.name] required key is missing (the {kind}'s name)")
                    data[kind] = value["name"]
                    written[kind] = {str(k): v for k, v in value.items() if k != "name"}
        config = handler(data)
        if not isinstance(data, dict):  # an instance: validated already
            return config
        config._sampler_options = _options(config, "sampler", written.get("sampler", {}))
        config._pruner_options = _options(config, "pruner", written.get("pruner", {}))
        return config


def _name_or_options(schema: dict[str, Any]) -> None:
    """JSON Schema of `study.sampler` / `study.pruner`: a name, or a mapping of the name and options."""
    schema.pop("type", None)
    schema["anyOf"] = [{"type": "string"}, {"type": "object", "required": ["name"],
                                            "properties": {"name": {"type": "string"}}}]


def _options(config: StudyConfig, kind: Literal["sampler", "pruner"], written: dict[str, Any]) -> dict[str, Any]:
    """The options of ``config``'s sampler or pruner, validated and completed; errors name
    ``<kind>.<option>``."""
    name = getattr(config, kind)
    model = options_model(kind, config.engine, name)
    if written and not model.model_fields:
        key = next(iter(written))
        if config.engine != "optuna":
            raise ValueError(f"[{kind}.{key}] {config.engine} {kind}s take no options, got {key}: write "
                             f"`{kind}: {name}`")
        raise ValueError(f"[{kind}.{key}] {kind} '{name}' takes no options, got {key}")
    try:
        options: Options = model.model_validate(written)
    except ValidationError as exc:
        err = exc.errors()[0]
        if err["type"] == "extra_forbidden":
            key = str(err["loc"][-1])
            raise ValueError(f"[{kind}.{key}] {one_of(key, model.model_fields, f'{name} {kind} option')}") from None
        loc, msg = _problems(exc, model)[0]
        raise ValueError(f"[{'.'.join([kind, *map(str, loc)])}] {msg}") from None
    if getattr(options, "population_size", "") is None:  # nsga2, nsga3: sized to the session's trials
        size = max(CROSSOVERS[getattr(options, "crossover", "uniform")], population_for(config.trials))
        options = options.model_copy(update={"population_size": size})
    return options.model_dump()


#: trials per trial process before it is replaced (docs/benchmarks.md, "Trial processes")
RECYCLE_AFTER = 25


class TrainConfig(_Model):
    """How each trial trains."""

    epochs: Epochs = Field(10, description="Epochs per trial (the best epoch gives the trial's value).")
    batch_size: Annotated[Int, Field(gt=0, le=65536)] = Field(64, description="Mini-batch size.")
    refit: bool = Field(
        False, description="Retrain the best configuration on train + validation for its best epoch count "
        "before the test evaluation; the refit model becomes best.keras.")
    precision: Literal["float32", "mixed_float16", "mixed_bfloat16", "auto"] = Field(
        "float32", description="Keras dtype policy of the trials' models. `mixed_float16` computes the blocks in "
        "float16 on a GPU's tensor cores (variables, inputs and heads stay float32; the loss is scaled); "
        "`mixed_bfloat16` for TPUs and recent CPUs; `auto`: `mixed_float16` when a GPU is visible, else "
        "float32. The saved best model, its student and its exports are float32 either way.")
    epoch_metrics: list[str] | Literal["all"] = Field(
        default_factory=list, description="Metrics computed on every batch and logged every epoch besides the "
        "cheap ones (accuracy; mae, mse, rmse) and the study's metric, e.g. `[f1, auc]`, or `all`. The others "
        "are scored once per trial on the best epoch's weights, and on the test split for the best model.")
    isolation: Literal["process", "inline"] = Field(
        "process", description="`process`: trials train in a child process of their own, reused for "
        "`recycle_after` trials (memory stays flat; a trial that crashes, is killed or runs out of memory FAILs "
        "with its reason and the study goes on). `inline`: in the study's own process (tiny studies, debugging).")
    recycle_after: Annotated[Int, Field(gt=0, le=100000)] = Field(
        RECYCLE_AFTER, description="Trials a trial process runs before a fresh one replaces it (`isolation: "
        "process`): each start costs the Keras import (~5 s), each trial leaves ~8 MiB behind.")
    max_memory_mib: Annotated[Int, Field(gt=0, le=16 * 1024 * 1024)] | None = Field(
        None, description="A trial whose process grows past this resident size (MiB) is stopped and FAILs "
        "(`isolation: process`); null: no limit.")


EXPORT_FORMATS = ("float32", "float16", "dynamic", "int8")
EXPORT_IO = ("float32", "int8", "uint8")
EXPORT_MODELS = ("auto", "best", "student")


def _param(value: Any, *, low: float, high: float, low_open: bool = False) -> Param:
    """A distill hyperparameter: a fixed value or a space parameter, inside [low, high]."""
    from pydantic import TypeAdapter, ValidationError

    try:
        raw = value if isinstance(value, BaseModel) else as_param_input(value)
        param: Param = TypeAdapter(Param).validate_python(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = [str(p) for p in err["loc"] if p not in ("int", "float", "categorical", "fixed")]
        msg = err["msg"].removeprefix("Value error, ")
        msg = "required key is missing" if err["type"] == "missing" else msg
        raise ValueError(f"[{'.'.join(loc)}] {msg}" if loc else msg) from None
    values = param.grid() if isinstance(param, FixedParam | CategoricalParam) else [param.low, param.high]
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | float) or not (
                (low < v if low_open else low <= v) and v <= high):
            bound = f"{low:g} {'<' if low_open else '<='} value"
            bound += f" <= {high:g}" if high < float("inf") else ""
            raise ValueError(f"`{bound}` must hold, got {show(v)}")
    return param


class DistillConfig(_Model):
    """Teacher (the study's best model) -> a smaller student trained with the distillation loss.

    ``alpha``, ``temperature``, ``lr``, ``size``, ``depth`` and ``mixup`` take a fixed value or a space parameter
    (``{type: float, low: ..., high: ...}``); the student study searches the ranges.
    """

    student: str | dict[str, Any] | None = Field(
        None, description="A space file (relative to this file) or inline space for the student; default: "
        "the teacher's block at `size` times its parameter count.")
    size: Param = Field(default_factory=lambda: FixedParam(value=0.25),
                        description="Default student: its parameters as a fraction of the teacher's (0, 1]. A range "
                        "is searched, but the study scores accuracy alone, so it mostly finds that larger is better.")
    depth: Param = Field(
        default_factory=lambda: FixedParam(value=1.0), description="Default student: its depth (layers, "
        "conv_blocks, ...) as a fraction of the teacher's (0, 1]; a shallower student spends its parameters on width "
        "(up to 16x the teacher's). A space parameter searches it, e.g. `{type: categorical, choices: [0.5, 1.0]}`.")
    alpha: Param = Field(default_factory=lambda: float_range(0.1, 0.9, step=0.1),
                         description="Weight of the hard-label loss; 1 - alpha weighs the teacher's [0, 1].")
    temperature: Param = Field(default_factory=lambda: float_range(1.0, 8.0, log=True),
                               description="Softmax temperature of the teacher/student logits (> 0).")
    lr: Param = Field(default_factory=lambda: float_range(1e-4, 1e-2, log=True),
                      description="The student's learning rate (> 0); its optimizer is the teacher's.")
    mixup: Param = Field(
        default_factory=lambda: FixedParam(value=0.0), description="Mixup of the transfer batches: each batch is "
        "mixed with itself reversed by a weight drawn from Beta(mixup, mixup); the teacher sees the mixed inputs and "
        "the hard-label term uses the mixed labels [0, 100]; 0: off. Needs float inputs.")
    epochs: Epochs | None = Field(None, description="Epochs per student (the scratch student's too); default "
                                  "2 x train.epochs: a small student keeps learning from the teacher after the "
                                  "teacher's own epochs.")
    trials: Trials = Field(8, description="Trials of the student study (a fresh study on every run).")

    @field_validator("size", "depth", mode="before")
    @classmethod
    def _fraction(cls, value: Any) -> Param:
        return _param(value, low=0.0, high=1.0, low_open=True)

    @field_validator("mixup", mode="before")
    @classmethod
    def _mixup(cls, value: Any) -> Param:
        return _param(value, low=0.0, high=100.0)

    @field_validator("alpha", mode="before")
    @classmethod
    def _alpha(cls, value: Any) -> Param:
        return _param(value, low=0.0, high=1.0)

    @field_validator("temperature", "lr", mode="before")
    @classmethod
    def _positive(cls, value: Any) -> Param:
        return _param(value, low=0.0, high=float("inf"), low_open=True)


class ExportConfig(_Model):
    """TFLite export of the student (or the best model) and its re-validation in the interpreter."""

    formats: list[str] = Field(default_factory=lambda: list(EXPORT_FORMATS),
                               description="float32 | float16 | dynamic (int8 weights) | int8 (full int).")
    model: str = Field("auto", description="auto (the student of the current best model, distilled or from "
                                           "scratch, whichever scored better on validation; else best) | best | "
                                           "student.")
    io: str = Field("float32", description="Input/output type of the int8 format: float32 | int8 | uint8.")
    representative_samples: Samples = Field(
        200, description="int8: training samples used to calibrate the quantization ranges.")
    max_drop: Annotated[float, Field(ge=0.0)] = Field(
        0.01, description="Flag a file whose accuracy drops more than this vs Keras (0.01 = 1 pt); "
        "regression: relative MAE increase.")
    latency_runs: Annotated[Int, Field(gt=0, le=100_000)] = Field(
        100, description="Batch-1 interpreter calls timed per file.")
    measure: CommandConfig = Field(default_factory=CommandConfig)  # type: ignore[arg-type]
    per_channel: bool = Field(True, description="int8/dynamic: one scale per output channel (more accurate; "
                              "false: one per tensor, ~12 bytes less per channel).")
    int8_recovery: bool = Field(
        True, description="int8: when the drop on the validation split exceeds max_drop, try the fixes that keep "
        "int8 activations (more and stratified calibration samples, the other per_channel setting, activation "
        "ranges that clip outliers, a quantization-aware fine-tune), and only when none meets max_drop the slower "
        "ones (16-bit activations, float layers); the fastest file that meets it ships as <model>_int8.tflite "
        "(plain int8 kept as <model>_int8_plain.tflite).")
    int8_integer_only: bool = Field(
        False, description="int8 recovery: try only steps whose file stays integer-only (no float layers), for "
        "NPUs and integer-only accelerators.")
    qat_epochs: Annotated[Int, Field(ge=0, le=MAX_EPOCHS)] = Field(
        5, description="int8 recovery, rung 4: epochs of quantization-aware fine-tuning on the training split "
        "(int8 weights in the forward pass, float weights updated); 0: the rung is off.")
    qat_lr: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        1e-3, description="int8 recovery: the quantization-aware fine-tune's learning rate (Adam, cosine decay "
        "to 0); a weight moves about this much per step, so it must be near the int8 grid's step to move weights "
        "across it.")
    sparsity: Annotated[float, Field(gt=0.0, lt=1.0)] | None = Field(
        None, description="Also export a pruned copy: a short fine-tune zeroes this share of every Dense/Conv "
        "kernel (smallest magnitudes, per layer), then every format is written as <model>_sparse_<format>.tflite "
        "beside the dense files; null: off.")
    sparsity_epochs: Epochs = Field(
        4, description="sparsity: fine-tune epochs on the training split (the sparsity ramps from 0 to the target "
        "over the first two thirds of the steps).")
    sparsity_lr: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        1e-3, description="sparsity: the fine-tune's learning rate (Adam).")
    sparse_encoding: bool = Field(
        False, description="sparsity: write the sparse float32/float16 files with TFLite sparse tensors "
        "(smaller files, densified when loaded; dynamic and int8 files stay dense-encoded).")

    @field_validator("formats", mode="before")
    @classmethod
    def _formats(cls, value: Any) -> Any:
        items = [value] if isinstance(value, str) else value
        if isinstance(items, list):
            if not items:
                raise ValueError(f"expected at least one of {', '.join(EXPORT_FORMATS)}, got []")
            for item in items:
                if item not in EXPORT_FORMATS:
                    raise ValueError(one_of(str(item), EXPORT_FORMATS, "format"))
            return list(dict.fromkeys(items))
        return value

    @field_validator("io")
    @classmethod
    def _io(cls, value: str) -> str:
        if value not in EXPORT_IO:
            raise ValueError(one_of(value, EXPORT_IO, "io type"))
        return value

    @field_validator("model")
    @classmethod
    def _model(cls, value: str) -> str:
        if value not in EXPORT_MODELS:
            raise ValueError(one_of(value, EXPORT_MODELS, "export model"))
        return value


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
MAX_NAME = 100


class PipelineConfig(_Model):
    """A whole pipeline file."""

    name: str = Field(description="Study name and MLflow experiment name (letters, digits, _ . -).")
    seed: Annotated[Int, Field(ge=0, le=MAX_SEED)] | None = Field(
        0, description="Seeds the sampler, numpy, Python and Keras; null: unseeded.")
    data: DataConfig
    task: Literal["classification", "regression"] | None = Field(
        None, description="Inferred from the target when omitted."
    )
    space: str | dict[str, Any] = Field(
        description="A space file (relative to this file) or an inline space mapping."
    )
    study: StudyConfig = Field(default_factory=StudyConfig)  # type: ignore[arg-type]
    train: TrainConfig = Field(default_factory=TrainConfig)  # type: ignore[arg-type]
    distill: DistillConfig | None = Field(None, description="Distill the best model into a student "
                                          "(run by `automl run` when present).")
    export: ExportConfig | None = Field(None, description="Export to TFLite and re-validate "
                                        "(run by `automl run` when present).")

    @model_validator(mode="before")
    @classmethod
    def _empty_sections(cls, data: Any) -> Any:
        # `distill:` / `export:` written with nothing under them mean "run it with the defaults"
        if isinstance(data, dict):
            return {**data, **{k: {} for k in ("distill", "export") if k in data and data[k] is None}}
        return data

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"expected letters, digits, '_', '.', '-' (no spaces or slashes), got {show(value)}")
        if len(value) > MAX_NAME:  # it names a folder, an MLflow experiment and a registered model
            raise ValueError(f"expected at most {MAX_NAME} characters, got {len(value)}")
        return value
