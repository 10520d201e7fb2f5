"""Your own Keras model in a search space: `block: ../examples/my_models.py:build` (docs/spaces.md).

automl calls ``build(hp, data)`` once per trial: ``hp`` holds the trial's values (the space's ``params``, sampled
or fixed, and the training hyperparameters such as ``lr``), ``data`` the input shape (no batch axis), the number
of classes (None for a regression) and the task. The model takes the raw inputs and ends in the task's output:
a softmax over ``data.num_classes``, or one unit. automl compiles it with the space's optimizer, schedule and
loss (anything compiled here is replaced).
"""

import keras


@keras.saving.register_keras_serializable(package="my_models")
class Residual(keras.layers.Layer):
    """A dense layer added to its input (a custom layer: registered, so a saved model reloads)."""

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.dense = keras.layers.Dense(units, activation="relu")

    def build(self, input_shape):
        self.dense.build(input_shape)

    def call(self, x):
        return x + self.dense(x)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def build(hp, data):
    inputs = keras.Input(shape=data.input_shape)
    x = data.normalization()(inputs)  # the training split's mean and variance (optional)
    if len(data.input_shape) > 1:  # images or sequences: flatten to one vector
        x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(hp["units"], activation="relu")(x)
    for _ in range(hp["blocks"]):
        x = Residual(hp["units"])(x)
    x = keras.layers.Dropout(hp["dropout"])(x)
    if data.task == "classification":
        outputs = keras.layers.Dense(data.num_classes, activation="softmax")(x)
    else:  # one unit, in the target's units (the training split's mean and spread)
        outputs = keras.layers.Rescaling(data.y_std, offset=data.y_mean)(keras.layers.Dense(1)(x))
    return keras.Model(inputs, outputs, name="residual_mlp")
