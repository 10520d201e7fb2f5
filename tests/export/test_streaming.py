"""The export stage reads a split from files (source ``npy``) batch by batch: the calibration samples, the Keras
reference, the interpreter's re-validation, the int8 recovery ladder and the sparsity fine-tune never read a
split whole (``np.asarray`` of a :class:`~automl.data.rows.Rows`), nor more rows at once than one batch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from automl.config import load_pipeline
from automl.data.rows import Rows
from automl.export.exporter import export
from automl.plan import Plan, make_plan
from automl.runtime import import_keras
from automl.testing import write_pipeline

BATCH = 16  # rows: the export's batches (validation, calibration chunks) and train.batch_size


def _images(folder: Path, n: int = 200) -> Path:
    """``x.npy`` (uint8 8x8x3 images: a bright square whose corner is the class) and ``y.npy``."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, n)
    x = rng.integers(0, 60, (n, 8, 8, 3))
    for i, c in enumerate(y):
        x[i, 2 * c:2 * c + 4, 2 * c:2 * c + 4] += 180
    folder.mkdir()
    np.save(folder / "x.npy", x.astype(np.uint8))
    np.save(folder / "y.npy", y)
    return folder


def _plan_with_model(tmp_path: Path, **export: Any) -> Plan:
    """A plan over the npy folder and a small CNN saved where a finished study leaves ``best.keras``."""
    keras = import_keras()
    from automl.builders.model import ModelSpec, build_model
    from automl.data.batches import fit_inputs

    pipeline = write_pipeline(tmp_path, name="stream", data={"source": "npy", "path": str(_images(tmp_path / "d"))},
                              space={"block": "cnn"}, train={"batch_size": BATCH},
                              export={"latency_runs": 3, "representative_samples": 40, **export})
    plan = make_plan(load_pipeline(pipeline))
    d = plan.data
    assert isinstance(d.x_test, Rows) and d.x_test.dtype == np.uint8
    keras.utils.set_random_seed(0)
    spec = ModelSpec.from_arrays(d.x_train, d.y_train, d.task, d.num_classes)
    model = build_model("cnn", {"conv_blocks": 1, "filters": 8, "kernel_size": 3, "activation": "relu",
                                "dropout": 0.0, "dense_units": 16, "optimizer": "adam", "lr": 1e-2}, spec)
    model.fit(**fit_inputs(d.x_train, d.y_train, BATCH, seed=0), epochs=6, verbose=0)
    plan.output_dir.mkdir(parents=True, exist_ok=True)
    model.save(plan.output_dir / "best.keras")
    return plan


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The number of rows of every read of a Rows from here on; reading one whole (``np.asarray``) fails."""
    import automl.tflite.convert
    import automl.tflite.validate

    seen: list[int] = []
    read = Rows.read

    def counted(self: Rows, rows: np.ndarray) -> np.ndarray:
        seen.append(len(rows))
        return read(self, rows)

    def whole(self: Rows, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise AssertionError(f"the export read {self!r} whole")

    monkeypatch.setattr(automl.tflite.validate, "VALIDATE_BATCH", BATCH)
    monkeypatch.setattr(automl.tflite.convert, "CALIBRATION_CHUNK_BYTES", 8 * 8 * 3 * BATCH)
    monkeypatch.setattr(Rows, "read", counted)
    monkeypatch.setattr(Rows, "__array__", whole)
    yield seen


def test_export_validates_and_calibrates_on_rows_read_by_batches(tmp_path: Path, reads: list[int]) -> None:
    plan = _plan_with_model(tmp_path, formats=["float32", "int8"], int8_recovery=False)
    reads.clear()  # what the export reads, not the plan's statistics nor the training

    result = export(plan.pipeline, plan=plan)

    assert [f.format for f in result.files] == ["float32", "int8"]
    test_rows = len(plan.data.x_test)
    for f in result.files:  # every row of the test split scored in the interpreter, against Keras's outputs
        assert f.validation.samples == test_rows and f.validation.agreement is not None
        assert f.validation.agreement >= 0.8
    assert reads and max(reads) <= BATCH
    assert sum(reads) >= 3 * test_rows + 40  # Keras's reference and two files on the test split; calibration


@pytest.mark.slow  # ~45 s on a quiet core: five int8 conversions, two short fine-tunes
def test_the_recovery_ladder_and_sparsity_train_and_score_on_rows_by_batches(
        tmp_path: Path, reads: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    from automl.export.recovery import Ladder, Recovery

    plan = _plan_with_model(tmp_path, formats=["int8"], int8_integer_only=True, qat_epochs=1, sparsity=0.5,
                            sparsity_epochs=1)
    monkeypatch.setattr(Recovery, "needed", property(lambda self: True))  # every rung runs, whatever the drops
    monkeypatch.setattr(Ladder, "met", lambda self, drop: False)
    reads.clear()

    result = export(plan.pipeline, plan=plan)

    steps = [s.name for s in result.files[0].recovery.steps]
    assert steps[0] == "calibration" and steps[-1] == "qat", steps
    assert all(s.val_drop is not None for s in result.files[0].recovery.steps if s.name in ("calibration", "qat"))
    assert result.sparse is not None and result.sparse["validation"]["samples"] == len(plan.data.x_val)
    assert [f.format for f in result.sparse_files] == ["int8"]
    assert reads and max(reads) <= BATCH
