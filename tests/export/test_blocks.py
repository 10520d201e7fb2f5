"""Every block of automl's registry exports in float32 and int8 and agrees with Keras.

Blocks are built as a trial would build them (the block's own default hyperparameters, low end of every
range), so a block added to the registry is covered without touching this file.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from automl.builders.blocks import BLOCKS
from automl.builders.model import ModelSpec, build_model
from automl.export import ConvertOptions, convert, inference_model
from automl.space.space import SpaceFile, resolve_space
from automl.testing.fakes import FirstChoiceSuggester
from automl.tflite.validate import run_tflite
from tests.export.conftest import CLASSES, SHAPES, make_data

# The recurrent and attention blocks run by default (they need the exporter's rewrites); the others are
# plain convolutions and dense layers, covered fast by test_formats.py, and run with -m slow.
DEFAULT = {"rnn", "transformer"}
# pretrained (ImageNet weights by default, a whole application): tests/builders/test_pretrained.py exports it
CASES = [(name, BLOCKS.get(name).ranks[0], {}) for name in BLOCKS.names() if name != "pretrained"] + [
    ("rnn", 3, {"bidirectional": True, "cell": "gru", "layers": 2}),
    ("transformer", 4, {}),  # image patches
]
PARAMS = [pytest.param(block, rank, force, id=f"{block}-rank{rank}" + "".join(f"-{k}={v}" for k, v in force.items()),
                       marks=() if block in DEFAULT and not force and rank == 3 else pytest.mark.slow)
          for block, rank, force in CASES]


def _build(block: str, rank: int, force: dict[str, Any]) -> tuple[Any, np.ndarray, np.ndarray]:
    import keras

    keras.utils.set_random_seed(0)
    x, y = make_data(SHAPES[rank], n=160)
    if rank == 4 and block in ("mobilenet", "resnet", "transformer"):
        x, y = make_data((16, 16, 3), n=160)
    space = resolve_space(SpaceFile(block=block), rank)
    block_name, hp = space.decode(space.sample(FirstChoiceSuggester(force)))
    spec = ModelSpec.from_arrays(x[:128], y[:128], "classification", CLASSES)
    model = build_model(block_name, {**hp, "lr": 1e-2}, spec, batch_size=32, epochs=3)
    model.fit(x[:128], y[:128], epochs=3, batch_size=32, verbose=0)
    return model, x[:128], x[128:]


@pytest.mark.parametrize(("block", "rank", "force"), PARAMS)
def test_block_exports_in_float32_and_int8(block: str, rank: int, force: dict[str, Any]) -> None:
    model, x_train, x_test = _build(block, rank, force)
    prepared = inference_model(model)
    expected = model.predict(x_test, verbose=0)
    f32 = run_tflite(convert(prepared, "float32"), x_test)
    assert np.abs(f32 - expected).max() < 1e-4
    int8 = run_tflite(convert(prepared, "int8", ConvertOptions(representative=x_train[:64])), x_test)
    agreement = np.mean(int8.argmax(-1) == expected.argmax(-1))
    assert agreement >= 0.8, f"{block}: int8 agrees with Keras on {agreement:.2f} of the test samples"
