"""Write docs/spaces.md (every space key, its default and its condition) from the registries.

``python -m automl.builders.docs > docs/spaces.md`` regenerates it; a test checks it is current and that
every hyperparameter has a description here.
"""

from __future__ import annotations

from typing import Any

from automl.space.params import CategoricalParam, FixedParam, FloatParam, IntParam

DESCRIPTIONS: dict[str, str] = {
    # layers (most blocks)
    "activation": "Activation of the block's layers (see Activations below).",
    "leaky_alpha": "Negative slope of leaky_relu.",
    "normalization": "none | batch | layer, after each conv / dense layer (before the activation).",
    "initializer": "Kernel initializer of every conv / dense layer.",
    "dropout": "Dropout rate before the head (mlp: after every layer; rnn: also between layers).",
    "spatial_dropout": "Rate of SpatialDropout (whole feature maps) after each conv stage; 0: off.",
    "dense_units": "Width of a dense layer between the pooled features and the head; 0: none.",
    # block-specific
    "layers": "Number of layers (dense layers, recurrent layers or encoder layers).",
    "units": "Width of each dense / recurrent layer.",
    "conv_blocks": "Number of conv-pool stages; filters double at each.",
    "filters": "Filters of the first stage (doubling per stage).",
    "kernel_size": "Convolution kernel size.",
    "pooling": "Global pooling over time: avg | max.",
    "stem_stride": "mobilenet: stride of the 3x3 stem conv: auto (2 when the images' short side is >= 32 px, else 1) "
                   "| 1 (full resolution: slow at 96 px and up) | 2 (halves the resolution, as MobileNet's stem).",
    "stages": "Number of stages; each new stage halves the resolution (stride 2).",
    "blocks": "Residual / inverted-residual blocks per stage.",
    "width_multiplier": "Scales every channel count (MobileNet's alpha), rounded to multiples of 8.",
    "expansion": "Expansion factor of the inverted residual's 1x1 conv.",
    "squeeze_excite": "Squeeze-and-excitation after the depthwise conv.",
    "cell": "Recurrent cell: simple (SimpleRNN) | lstm | gru.",
    "bidirectional": "Wrap each recurrent layer in Bidirectional.",
    "recurrent_dropout": "Dropout on the recurrent state (slow: disables the fused kernels).",
    "embed_dim": "Token width (model dimension).",
    "heads": "Attention heads.",
    "key_dim": "Width of each attention head's queries and keys.",
    "ff_dim": "Width of the feed-forward layer of each encoder layer.",
    "patch_size": "Images: side of the square patches that become tokens (clipped to the image).",
    "positional": "Positional embedding: learned | sine | none.",
    "backbone": "pretrained: the keras.applications backbone: mobilenet_v2 | mobilenet_v3_small | mobilenet_v3_large "
                "| efficientnet_v2_b0.",
    "alpha": "pretrained: the backbone's width (ImageNet weights exist for MobileNetV2 0.35..1.4, V3 0.75 / 1.0).",
    "resolution": "pretrained: side the images are resized to inside the model; null: the data's (at least 32).",
    "weights": "pretrained: imagenet (Keras's cache) | none (from scratch) | FILE (.weights.h5 / .h5) | DIR (a "
               "mirror with Keras's file names); relative to the space file.",
    "frozen_epochs": "pretrained: phase one, epochs of the head on the frozen backbone; then phase two.",
    "unfreeze": "pretrained: fraction of the backbone's layers, from the top, trained in phase two (BatchNorm "
                "stays frozen).",
    "finetune_lr_factor": "pretrained: phase two's learning rate over phase one's.",
    # optimizer
    "optimizer": "sgd | adam | adamw | nadam | rmsprop | adagrad.",
    "lr": "(Peak) learning rate.",
    "momentum": "Momentum of sgd and rmsprop.",
    "nesterov": "Nesterov momentum (sgd).",
    "weight_decay": "Decoupled weight decay (adamw).",
    "clipnorm": "Clip each gradient to this norm; null: off.",
    "clipvalue": "Clip each gradient value to [-v, v]; null: off.",
    # schedule
    "schedule": "Learning-rate schedule (see Schedules below), counted in epochs, applied per step.",
    "decay_rate": "exponential / step: the rate is multiplied by this every `decay_epochs`.",
    "decay_epochs": "exponential / step: epochs per decay.",
    "power": "polynomial: the power of the decay to `min_lr_fraction`.",
    "restart_epochs": "cosine_restarts: length of the first cosine cycle (each next one is twice as long).",
    "min_lr_fraction": "polynomial / cosine / cosine_restarts: the final rate as a fraction of `lr`.",
    "warmup_epochs": "Linear warmup from ~0 to `lr` over these epochs before the schedule; 0: none.",
    "plateau": "Reduce the rate when the study metric stops improving (composes with any schedule).",
    "plateau_factor": "Multiply the rate by this on a plateau.",
    "plateau_patience": "Epochs without improvement before a reduction.",
    # regularization
    "regularizer": "Kernel regularizer of every conv / dense layer: none | l1 | l2 | l1_l2.",
    "l1": "L1 strength.",
    "l2": "L2 strength.",
    "label_smoothing": "Classification: label smoothing of the cross-entropy; 0: off.",
    # fit
    "batch_size": "Mini-batch size; null: `train.batch_size`.",
    "epochs": "Epochs; null: `train.epochs`, which also caps a searched value.",
    "early_stopping": "Stop a trial when the study metric stops improving.",
    "patience": "Early stopping: epochs without improvement.",
    "min_delta": "Early stopping: the smallest change that counts as an improvement.",
    "class_weight": "Classification: none | balanced (w_i = N / (C n_i)) | a mapping class -> weight "
                    "(classes by name or index; others weigh 1).",
    # augmentation
    "flip": "Images: random flips: none | horizontal | vertical | horizontal_and_vertical.",
    "rotation": "Images: random rotation, as a fraction of a full turn; 0: off.",
    "zoom": "Images: random zoom, as a fraction of the size; 0: off.",
    "translation": "Images: random shift, as a fraction of the size; 0: off.",
    "contrast": "Images: random contrast factor; 0: off.",
}

_INTRO = """# Search spaces

Generated from the registries in `automl/builders/` by `python -m automl.builders.docs > docs/spaces.md`.

A space file names the model **block** (or a categorical choice of blocks) and the **params** to search or
fix. Every hyperparameter not named keeps its default below: a default range is searched, a default value
is fixed. `automl schema --space` prints the JSON Schema; `automl validate FILE` checks a space file.

```yaml
description: free text
block: {type: categorical, choices: [cnn, resnet]}   # or one name: `block: cnn`
params:
  filters: {type: int, low: 8, high: 64, log: true}            # int: low, high, step or log
  dropout: {type: float, low: 0.0, high: 0.5, step: 0.1}       # float: low, high, step or log
  optimizer: {type: categorical, choices: [sgd, adam]}         # categorical: choices
  momentum: {type: float, low: 0.8, high: 0.99, when: {optimizer: sgd}}   # conditional
  lr: {type: float, low: 1.0e-4, high: 1.0e-1, log: true}
  schedule: cosine                                              # a plain value is fixed
  class_weight: {value: {0: 1.0, 1: 3.0}}                       # a fixed value that is a mapping
```

## Rules

- **Conditions.** `when: {parent: value}` or `when: {parent: [v1, v2]}`: the parameter is drawn only
  when every parent holds one of the values; an inactive parameter is never drawn, so it appears neither
  in the Optuna trial's params nor in the MLflow run's params. Parents are drawn first whatever the file
  order; a cycle, an unknown parent or a value the parent can never take is an error.
- **Built-in conditions stay.** A parameter that has a condition by default (the Condition column)
  keeps it when the space gives it a value or range without a `when` of its own: `momentum: {type:
  float, ...}` is still drawn for sgd / rmsprop only.
- **Data decides the blocks.** Rank 2 `(N, F)` is tabular, rank 3 `(N, T, C)` a sequence, rank 4
  `(N, H, W, C)` an image. A single block that does not fit the data is an error
  (`'cnn' needs image (N, H, W, C) data, got tabular (N, F) data`); a choice of blocks keeps those that fit,
  and parameters only dropped blocks use are ignored.
- **Several blocks.** Every block's own hyperparameters are conditioned on `block`. A default that two
  blocks share is drawn separately per block, named `<block>.<name>` (`cnn.dropout`, `resnet.dropout`);
  a name the space gives (`dropout: {...}`) is one parameter shared by every block that has it.
- **Values are checked** before any training: names against their registry, numbers against their
  bounds (`params.dropout: expected a value in [0, 1), got 1.5`).
- **Training hyperparameters** (optimizer, schedule, regularizers, batch size, ...) apply to every block
  and are set the same way; `batch_size` and `epochs` default to the pipeline's `train` section.
"""

_CUSTOM = """## Change the space and keep going

A study holds one search space. Run it again with a changed space and automl says exactly what changed,
and how to go on:

```bash
automl run pipelines/quickstart.yaml --trials 2 --set train.epochs=1
automl run pipelines/quickstart.yaml --trials 2 --set train.epochs=1 --set space.params.filters.high=128 --continue
```

Without `--continue`, the second command stops (exit 2) and says what changed:

```text
study 'quickstart' exists with a different search space (filters: int 16..64 log -> int 16..128 log): run with
--continue to go on with its trials under the new space, or use --name NEW_NAME for a study of its own (or
another `name` in the pipeline), or --new to start 'quickstart' afresh (its trials are deleted)
```

With `--continue` (`automl.run(..., continue_=True)`) the study goes on: its
earlier trials stay its history (the best value can only stay or improve), the new trials sample the new space,
and the change is recorded where a later reader looks: one note in the run's output, the session's MLflow run
(tag `automl.space_changes`, param `space_fingerprint` on every session), the Optuna study's user attribute
`automl.spaces` (each space's fingerprint, the first trial under it and its changes) and `spaces` in
`mlruns/<name>/terms.json`.

A study goes on through changed ranges, steps, log scales and conditions, and through parameters added or
removed (a value of an earlier trial outside the new range stays in that trial; Optuna's samplers use it as
history). It cannot go on through another block, other choices of a categorical parameter, a parameter of
another kind (`int` to `float`) or an edited builder file: Optuna refuses the first three for a parameter it
has seen ("CategoricalDistribution does not support dynamic value space"), and the trials would be of other
models. Those keep the one-line refusal, naming the change, with `--name` or `--new` as the ways out. A
keras-tuner study cannot go on under another space (its oracle keeps the one it was made with).

## Your own model

A space's `block` may name a Keras model builder of your own instead of a block: `FILE.py:FUNCTION` (a path
relative to the space file, or to the pipeline file when the space is inline in it; given as `--set
space.block=...`, relative to the working directory) or `package.module:FUNCTION` (importable on the Python
path). `examples/my_models.py` is a complete one, `search_spaces/custom.yaml` its space
and `pipelines/custom.yaml` a pipeline that tunes it, distills it and exports it to TFLite:

```yaml
block: ../examples/my_models.py:build        # search_spaces/custom.yaml
params:
  units: {type: int, low: 16, high: 128, log: true}     # read by build() as hp["units"]
  blocks: {type: int, low: 1, high: 3}
  dropout: {type: float, low: 0.0, high: 0.4, step: 0.1}
  lr: {type: float, low: 1.0e-3, high: 3.0e-2, log: true}   # training hyperparameters as for any block
```

```python
import keras


def build(hp, data):                  # examples/my_models.py, shortened
    inputs = keras.Input(shape=data.input_shape)
    x = data.normalization()(inputs)  # optional: the training split's mean and variance
    x = keras.layers.Dense(hp["units"], activation="relu")(x)
    x = keras.layers.Dropout(hp["dropout"])(x)
    if data.task == "classification":
        outputs = keras.layers.Dense(data.num_classes, activation="softmax")(x)
    else:                             # one unit, in the target's units
        outputs = keras.layers.Rescaling(data.y_std, offset=data.y_mean)(keras.layers.Dense(1)(x))
    return keras.Model(inputs, outputs)
```

```bash
automl validate search_spaces/custom.yaml     # imports the builder: a typo stops here, before any trial
automl run pipelines/custom.yaml --trials 4   # trials, then a distilled student and TFLite files
cat mlruns/custom/builder.json                # the builder file's path and SHA-256
```

**A pipeline or space file runs the Python it names.** `validate`, `run`, `distill`, `export` and `predict`
import the builder's file or module, which runs its top-level code with your permissions, as `python FILE`
would: run only pipelines and spaces you trust, as you would run only scripts you trust. `automl validate`
names every file it imported (`note: imported /abs/path/my_models.py (block ...): its code ran; ...`). A
module of Python's standard library (`os:system`, `subprocess:getoutput`) is refused before anything is
imported (exit 2): a builder is a file of yours or a module of your own package.

The contract, which automl keeps:

- **`build(hp, data)`** is called once per trial (and again for a refit, a rebuild or a student). `hp` is a
  dict of the trial's values: every param the space declares, sampled or fixed, and every training
  hyperparameter below with its value (`lr`, `optimizer`, `batch_size`, `epochs`, ...). `data` has
  `input_shape` (a tuple without the batch axis), `num_classes` (None for a regression) and `task`
  (`classification` or `regression`), and the training split's statistics: `data.normalization()` is the
  `Normalization` layer automl's own blocks start with; `x_mean`, `x_var`, and a regression target's `y_mean`
  and `y_std`.
- **It returns a `keras.Model`** that takes the raw inputs (shape `data.input_shape`) and ends in the task's
  output: probabilities over `data.num_classes` (a softmax) for a classification, one unit in the target's
  units for a regression. automl puts its own output layers after it (a classifier's `logits`, the logarithm of
  your probabilities, then `probs`; a regression's `prediction` of shape (N,)), so distillation, metrics and
  export treat it as they treat a model of automl's blocks.
- **automl compiles it**: the space's optimizer (`optimizer`, `lr`, `momentum`, `clipnorm`, ...) and
  learning-rate schedule (`schedule`, `warmup_epochs`, `plateau`), the task's loss (with `label_smoothing`)
  and the study's metrics, as for a built-in block. A model the builder compiled is compiled again the same
  way (what the builder compiled is not used), so every trial of a study trains on the same terms.
  `batch_size`, `epochs`, `early_stopping` and `class_weight` apply as for any block; the layer
  hyperparameters of the built-in blocks (`regularizer`, `l1`, `l2`, the image augmentation) are in `hp` for
  the builder to use, and do nothing otherwise.
- **Params are the builder's.** A param that is not a training hyperparameter goes to the builder as the space
  gives it, unchecked (`activation: mish` means what your builder makes of it); training hyperparameters are
  checked as always. In a choice of blocks (`choices: [mlp, ../examples/my_models.py:build]`) a param that only
  your builder reads is conditioned on `block`, as a block's own hyperparameters are.
- **Checked before any trial.** The file must exist and import, and have the function; otherwise one line and
  exit code 2, naming the space file and `block` (`search_spaces/custom.yaml: block: '../examples/my_models.py'
  has no function 'buidl'; did you mean 'build'?`; an inline space: `pipelines/x.yaml: space.block: ...`).
- **A builder that fails fails its trial.** A builder that raises, returns something that is not a
  `keras.Model`, or a model whose input or output has another shape FAILs that trial with the reason (Optuna
  user attribute `fail_reason`, MLflow run `FAILED` with tag `automl.fail_reason`, e.g. `BuilderFailed: builder
  my_models.py:build raised ValueError: ...`), and the study goes on.
- **Every engine, every isolation.** The builder runs under the optuna and keras_tuner engines, inline and in
  the trial process (`train.isolation: process`), which imports it by its absolute path (the file's folder is
  on `sys.path` while it is imported, so it may import its neighbours), and in workers.
- **Recorded with the study.** The builder's path and SHA-256 are in `mlruns/<name>/builder.json` and
  `best.json`, on the session's MLflow run (params `builder`, `builder.path`, `builder.sha256`; tag
  `automl.builder_sha256`) and in the study's storage. The file's SHA-256 is part of the space: a builder file
  changed since the study started stops a resume as a changed space does (`study 'custom' exists with a
  different search space (builder ../examples/my_models.py:build changed since the study started: sha256 ... ->
  ...): use --name NEW_NAME ... or --new`).
- **Custom layers must be registered** (`@keras.saving.register_keras_serializable(package="my_models")`, as
  `Residual` in `examples/my_models.py`) so that a saved `.keras` file reloads. automl's own loads (distill,
  export, report, a resumed study) first import the builder that `builder.json` beside the model names; a script
  of yours does the same with `automl.builders.user.import_recorded("mlruns/custom/best.keras")` before
  `keras.models.load_model` (or imports your module and `automl.builders.custom` itself).
- **Distillation.** The default student is the teacher's builder called with the teacher's hyperparameters
  scaled down to `distill.size` of its parameters: widths named `units`, `filters`, `dense_units`,
  `hidden_units`, `embed_dim`, `key_dim`, `ff_dim`, `dim` or `width` shrink, then depths named `layers`,
  `blocks`, `num_blocks`, `stages` or `depth`. Name your builder's so and the student is a narrower copy (a
  builder with none of them gives a student as large as the teacher). `distill.student` may instead name a
  space of its own, whose `block` may be a builder too.
- Under `train.precision: mixed_float16` the builder is called under that dtype policy; end it in a float32
  layer (`dtype="float32"`) as automl's heads do.
"""

_PRETRAINED = """## Pretrained backbones

`block: pretrained` trains a `keras.applications` backbone (`backbone`, `alpha`) on raw 0-255 pixels: the model
resizes them to `resolution` and applies the application's own preprocessing, so its .tflite takes the data's
images as they are. automl never downloads weights. `weights: imagenet` reads Keras's cache,
`$KERAS_HOME/models` (default `~/.keras/models`): on a machine with network, one
`keras.applications.MobileNetV3Small(include_top=False)` (or the backbone you use) fills it; without network,
`automl validate` stops (exit 2) with one line naming the file Keras wants, its URL and the folder to put it in.
`weights: DIR` reads the same file names from a folder of yours (a mirror); `weights: FILE` reads one file: Keras's
own download, or a `.weights.h5` saved with `save_weights` from the same application built with
`include_top=False` (and the same `alpha`); `weights: none` trains from scratch. A relative path is read from the
space file's folder. Training runs in two phases: `frozen_epochs` epochs of the head on the frozen backbone, then
the top `unfreeze` fraction of the backbone's layers (BatchNormalization stays frozen, in inference mode), compiled
again at `lr` x `finetune_lr_factor`, for the remaining epochs. Every epoch's MLflow metrics carry `phase` (1 or
2), `trainable_params` and `lr`; pruning, the trial's timeout and reporting see one run of epochs (early stopping
and plateau reductions start afresh in phase two).
"""


def render_default(spec: Any) -> str:
    if isinstance(spec, FixedParam):
        return "`null`" if spec.value is None else f"`{_yaml(spec.value)}`"
    if isinstance(spec, IntParam | FloatParam):
        kind = "int" if isinstance(spec, IntParam) else "float"
        extra = ", log" if spec.log else (f", step {spec.step:g}" if spec.step not in (None, 1) else "")
        return f"{kind} {spec.low:g}..{spec.high:g}{extra}"
    if isinstance(spec, CategoricalParam):
        return "one of " + ", ".join(f"`{_yaml(c)}`" for c in spec.choices)
    return str(spec)


def _yaml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _condition(spec: Any) -> str:
    return "; ".join(f"{k} in {', '.join(_yaml(v) for v in vs)}" for k, vs in spec.when.items())


def _table(hps: dict[str, Any]) -> list[str]:
    lines = ["| key | default | condition | meaning |", "| --- | --- | --- | --- |"]
    for name, spec in hps.items():
        meaning = DESCRIPTIONS.get(name, "").replace("|", "\\|")
        lines.append(f"| `{name}` | {render_default(spec)} | {_condition(spec)} | {meaning} |")
    return lines


def render() -> str:
    from automl.builders.activations import ACTIVATIONS
    from automl.builders.augmentation import augmentation_hyperparameters
    from automl.builders.blocks import BLOCKS, RANK_NAMES
    from automl.builders.initializers import INITIALIZERS
    from automl.builders.metrics import CLASSIFICATION_METRICS, REGRESSION_METRICS
    from automl.builders.optimizers import OPTIMIZERS, optimizer_hyperparameters
    from automl.builders.regularizers import regularizer_hyperparameters
    from automl.builders.schedules import SCHEDULES, schedule_hyperparameters
    from automl.builders.training import fit_hyperparameters

    out = [_INTRO, _CUSTOM, _PRETRAINED, "## Blocks", ""]
    for name in BLOCKS:
        block = BLOCKS.get(name)
        ranks = ", ".join(RANK_NAMES[r] for r in block.ranks)
        out += [f"### `{name}`", "", f"{block.description} Data: {ranks}.", "", *_table(block.hyperparameters()), ""]
    out += ["## Training hyperparameters", "", "Every space has these, whatever its block.", ""]
    groups = [("Optimizer", optimizer_hyperparameters()), ("Learning-rate schedule", schedule_hyperparameters()),
              ("Regularization", regularizer_hyperparameters()), ("Fitting", fit_hyperparameters()),
              ("Image augmentation (rank-4 data only; active in training only)", augmentation_hyperparameters())]
    for title, hps in groups:
        out += [f"### {title}", "", *_table(hps), ""]
    out += [
        "## Registries", "",
        f"- Activations: {', '.join(f'`{n}`' for n in ACTIVATIONS)}.",
        f"- Initializers: {', '.join(f'`{n}`' for n in INITIALIZERS)}.",
        f"- Optimizers: {', '.join(f'`{n}`' for n in OPTIMIZERS)}.",
        f"- Schedules: {', '.join(f'`{n}`' for n in SCHEDULES)}. `exponential` decays smoothly, `step` in "
        "stairs; `polynomial` and `cosine` decay over all epochs (after the warmup); `cosine_restarts` restarts "
        "with cycles twice as long each time. `warmup_epochs` and `plateau` wrap any of them into one "
        "registered Keras schedule that is saved with the model (load it with `automl` imported, or "
        "`import automl.builders.custom`).",
        f"- Metrics (log names; `val_<name>` can be `study.metric`): classification "
        f"{', '.join(f'`{m}`' for m in CLASSIFICATION_METRICS)} (precision, recall and F1 are macro averages "
        f"over classes, AUC is one-vs-rest ROC AUC averaged over classes); regression "
        f"{', '.join(f'`{m}`' for m in REGRESSION_METRICS)}. Accuracy, the regression metrics and the study's "
        "metric are computed every epoch; the others once per trial, on the best epoch's weights (and on the "
        "test split); `train.epoch_metrics` adds some or `all` of them to every epoch.",
        "",
    ]
    return "\n".join(out)


if __name__ == "__main__":
    print(render(), end="")
