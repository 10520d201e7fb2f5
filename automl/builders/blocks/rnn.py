"""rnn: stacked SimpleRNN / LSTM / GRU layers over a sequence, optionally bidirectional."""

from __future__ import annotations

from typing import Any

from automl.builders.blocks.base import BLOCKS, Block, BuildContext, head, kernel_args
from automl.builders.normalizations import normalize
from automl.builders.registry import Registry
from automl.space.params import Param, choice, fixed, float_range, int_range

CELLS: Registry[Any] = Registry("rnn cell")


@CELLS.register("simple")
def _simple(units: int, **kwargs: Any) -> Any:
    import keras

    return keras.layers.SimpleRNN(units, **kwargs)


@CELLS.register("lstm")
def _lstm(units: int, **kwargs: Any) -> Any:
    import keras

    return keras.layers.LSTM(units, **kwargs)


@CELLS.register("gru")
def _gru(units: int, **kwargs: Any) -> Any:
    import keras

    return keras.layers.GRU(units, **kwargs)


@BLOCKS.register("rnn")
class RNNBlock(Block):
    name = "rnn"
    ranks = (3,)
    description = "`layers` recurrent layers of `units` (the last returns its final state), then a dense head."

    def hyperparameters(self, rank: int | None = None) -> dict[str, Param]:
        return {
            "cell": choice("lstm", "gru"),
            "layers": int_range(1, 2),
            "units": int_range(16, 128, log=True),
            "bidirectional": choice(False, True),
            "recurrent_dropout": fixed(0.0),
            "normalization": fixed("none"),
            "initializer": fixed("glorot_uniform"),
            "dropout": float_range(0.0, 0.5, step=0.1),
            "dense_units": fixed(0),
        }

    def build(self, x: Any, hp: dict[str, Any], ctx: BuildContext) -> Any:
        import keras

        layers = int(hp["layers"])
        for i in range(layers):
            last = i == layers - 1
            layer = CELLS.get(str(hp["cell"]), units=int(hp["units"]), return_sequences=not last,
                              recurrent_dropout=float(hp.get("recurrent_dropout") or 0.0), name=f"rnn{i}",
                              **kernel_args(hp))
            if hp.get("bidirectional"):
                layer = keras.layers.Bidirectional(layer, name=f"rnn{i}_bidirectional")
            x = layer(x)
            x = normalize(x, hp, f"rnn{i}_norm")
            if not last and hp.get("dropout", 0.0) > 0:
                x = keras.layers.Dropout(hp["dropout"], name=f"rnn{i}_dropout")(x)
        return head(x, hp, "rnn")
