"""CSV text columns as embedded codes: the encoding, the model's embedding layer, unseen categories."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from automl.builders.model import ModelSpec, build_model
from automl.config.models import DataConfig
from automl.data import load_dataset


def _csv(tmp_path: Path) -> Path:
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=120), "city": rng.choice([f"c{i}" for i in range(12)], 120)})
    frame["label"] = np.where(frame["city"].isin(["c1", "c2", "c3"]) | (frame["x"] > 1), "yes", "no")
    frame.to_csv(tmp_path / "d.csv", index=False)
    return tmp_path / "d.csv"


def test_embedded_columns_become_codes_that_the_model_embeds(tmp_path: Path) -> None:
    import keras

    data = load_dataset(DataConfig(source="csv", path=_csv(tmp_path), target="label", categorical="embedding"))
    assert data.feature_names == ["x", "city#code"] and data.embeddings == ((1, 13),)
    assert set(np.unique(data.x_train[:, 1])) <= set(range(1, 13))
    spec = ModelSpec.from_arrays(data.x_train, data.y_train, data.task, data.num_classes,
                                 embeddings=data.embeddings)
    assert spec.x_mean[1] == 0.0 and spec.x_var[1] == 1.0  # codes are not standardized
    model = build_model("mlp", {"layers": 1, "units": 8, "activation": "relu", "dropout": 0.0, "lr": 0.01}, spec)
    assert model.get_layer("embed_columns").output.shape == (None, 1 + 7)  # 7 = round(1.6 * 13 ** 0.56)
    model.fit(data.x_train, data.y_train, epochs=1, verbose=0)
    unseen = np.array([[0.5, 0.0], [0.5, 99.0]], dtype=np.float32)  # 0 and out of range: the "unseen" row
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(np.asarray(again(unseen)), np.asarray(model(unseen)), atol=1e-6)
