"""transformer: a pre-norm encoder over time steps (sequences) or over patches (images)."""

from __future__ import annotations

from typing import Any

from automl.builders.activations import activation
from automl.builders.blocks.base import BLOCKS, Block, BuildContext, head, kernel_args
from automl.builders.normalizations import normalize
from automl.space.params import Param, choice, fixed, float_range, int_range

POSITIONAL = ("learned", "sine", "none")


@BLOCKS.register("transformer")
class TransformerBlock(Block):
    name = "transformer"
    ranks = (3, 4)
    description = ("Tokens (time steps, or `patch_size` patches of an image) embedded to `embed_dim`, plus a "
                   "positional embedding, through `layers` encoder layers (multi-head attention and a "
                   "feed-forward layer, each with a residual and normalization first), then average pooling.")

    def hyperparameters(self, rank: int | None = None) -> dict[str, Param]:
        hps: dict[str, Param] = {
            "layers": int_range(1, 3),
            "embed_dim": choice(32, 64),
            "heads": choice(2, 4),
            "key_dim": choice(16, 32),
            "ff_dim": int_range(32, 256, log=True),
            "patch_size": choice(2, 4),
            "positional": fixed("learned"),
            "activation": fixed("gelu"),
            "leaky_alpha": fixed(0.01).conditioned({"activation": ["leaky_relu"]}),
            "normalization": fixed("layer"),
            "initializer": fixed("glorot_uniform"),
            "dropout": float_range(0.0, 0.3, step=0.1),
            "dense_units": fixed(0),
        }
        if rank not in (None, 4):
            del hps["patch_size"]  # sequences are tokenized per time step
        return hps

    def build(self, x: Any, hp: dict[str, Any], ctx: BuildContext) -> Any:
        import keras

        from automl.builders.custom import PositionEmbedding, SinePositionEmbedding

        dim = int(hp["embed_dim"])
        if ctx.rank == 4:
            patch = max(1, min(int(hp.get("patch_size", 2)), ctx.input_shape[0], ctx.input_shape[1]))
            x = keras.layers.Conv2D(dim, patch, strides=patch, padding="valid", name="transformer_patches",
                                    **kernel_args(hp))(x)
            x = keras.layers.Reshape((-1, dim), name="transformer_tokens")(x)
        else:
            x = keras.layers.Dense(dim, name="transformer_embed", **kernel_args(hp))(x)
        positional = str(hp.get("positional", "learned"))
        if positional == "learned":
            x = PositionEmbedding(name="transformer_position")(x)
        elif positional == "sine":
            x = SinePositionEmbedding(name="transformer_position")(x)
        elif positional != "none":
            from automl._text import one_of
            from automl.errors import ConfigError

            raise ConfigError(one_of(positional, POSITIONAL, "positional embedding"))
        rate = float(hp.get("dropout") or 0.0)
        for i in range(int(hp["layers"])):
            name = f"transformer{i}"
            h = normalize(x, hp, f"{name}_attention_norm")
            h = keras.layers.MultiHeadAttention(int(hp["heads"]), int(hp["key_dim"]), dropout=rate,
                                                name=f"{name}_attention", **kernel_args(hp))(h, h)
            x = keras.layers.Add(name=f"{name}_attention_add")([x, h])
            h = normalize(x, hp, f"{name}_ff_norm")
            h = keras.layers.Dense(int(hp["ff_dim"]), name=f"{name}_ff1", **kernel_args(hp))(h)
            h = activation(hp, f"{name}_ff_act")(h)
            if rate > 0:
                h = keras.layers.Dropout(rate, name=f"{name}_ff_dropout")(h)
            h = keras.layers.Dense(dim, name=f"{name}_ff2", **kernel_args(hp))(h)
            x = keras.layers.Add(name=f"{name}_ff_add")([x, h])
        x = normalize(x, hp, "transformer_out_norm")
        x = keras.layers.GlobalAveragePooling1D(name="transformer_gap")(x)
        return head(x, hp, "transformer")
