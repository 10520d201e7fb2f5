"""The mlp block: dense layers of equal width for tabular data."""

from __future__ import annotations

from typing import Any

from automl.builders.blocks.base import BLOCKS, Block, BuildContext, dense_stack, layer_hyperparameters
from automl.space.params import Param, choice, float_range, int_range


@BLOCKS.register("mlp")
class MLPBlock(Block):
    name = "mlp"
    ranks = (2,)
    description = "Dense layers of equal width (tabular data)."

    def hyperparameters(self, rank: int | None = None) -> dict[str, Param]:
        return {
            "layers": int_range(1, 3),
            "units": int_range(16, 256, log=True),
            **layer_hyperparameters(activation=choice("relu", "tanh")),
            "dropout": float_range(0.0, 0.5, step=0.1),
        }

    def build(self, x: Any, hp: dict[str, Any], ctx: BuildContext) -> Any:
        return dense_stack(x, hp, layers=int(hp["layers"]), units=int(hp["units"]), prefix="mlp")
