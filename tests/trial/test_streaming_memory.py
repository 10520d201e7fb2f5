"""A trial process's memory does not grow with the data: a .npy pair bigger than ``train.max_memory_mib`` tunes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import automl
from automl.testing import write_pipeline
from automl.trial import process

LIMIT_MIB = 1100  # above a trial process's own ~800-980 MiB (TensorFlow, measured), below the data


@pytest.mark.slow
def test_data_bigger_than_max_memory_mib_tunes_in_a_trial_process(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from numpy.lib.format import open_memmap

    n, width = 76_000, 16_384  # 1.16 GiB of uint8
    (tmp_path / "d").mkdir()
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, n)
    x = open_memmap(tmp_path / "d" / "x.npy", mode="w+", dtype=np.uint8, shape=(n, width))
    for start in range(0, n, 5000):
        x[start:start + 5000] = rng.integers(0, 100, (len(y[start:start + 5000]), width)) \
            + y[start:start + 5000, None] * 60
    x.flush()
    del x
    np.save(tmp_path / "d" / "y.npy", y)
    assert (tmp_path / "d" / "x.npy").stat().st_size > LIMIT_MIB * 2**20
    peaks: list[float] = []
    measure = process.rss_mib

    def watched(pid: int) -> float:
        peaks.append(measure(pid))
        return peaks[-1]

    monkeypatch.setattr(process, "rss_mib", watched)
    result = automl.run(write_pipeline(tmp_path, data={"source": "npy", "path": "d"}, study={"trials": 1},
                                       train={"epochs": 1, "batch_size": 256, "isolation": "process",
                                              "max_memory_mib": LIMIT_MIB}))
    assert [t.state for t in result.trials] == ["COMPLETE"], [t.attrs.get("fail_reason") for t in result.trials]
    assert max(peaks) < LIMIT_MIB
    print(f"trial process peak {max(peaks):.0f} MiB on {n * width / 2**20:.0f} MiB of data")
