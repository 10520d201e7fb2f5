"""Rows of .npy files: lazy selection, array-like reads, chunked statistics, nothing mapped into the process."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np

from automl.data import rows as rows_module
from automl.data.rows import Rows, concat, moments, take, update_digest


def _rows(tmp_path: Path, n: int = 50) -> tuple[Rows, np.ndarray, np.ndarray]:
    a = np.arange(n * 6, dtype=np.float32).reshape(n, 3, 2)
    b = -np.arange(20 * 6, dtype=np.float32).reshape(20, 3, 2)
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    return Rows([tmp_path / "a.npy", tmp_path / "b.npy"]), a, b


def test_rows_read_as_the_concatenated_array_would(tmp_path: Path) -> None:
    x, a, b = _rows(tmp_path)
    whole = np.concatenate([a, b])
    assert x.shape == whole.shape and x.dtype == whole.dtype and x.ndim == 3 and x.nbytes == whole.nbytes
    for key in (3, slice(5, 60), np.array([65, 2, 49, 50]), (slice(None, 4), 1)):
        assert np.array_equal(x[key], whole[key])
    assert np.array_equal(np.asarray(x), whole)


def test_selection_stays_lazy_and_pickles_without_its_mapping(tmp_path: Path) -> None:
    x, a, b = _rows(tmp_path)
    whole = np.concatenate([a, b])
    picked = take(x, np.array([60, 1, 7]))
    joined = concat([picked, take(x, np.array([0]))])
    assert isinstance(joined, Rows) and np.array_equal(np.asarray(joined), whole[[60, 1, 7, 0]])
    joined[0]  # opens its mappings
    again = pickle.loads(pickle.dumps(joined))
    assert again._files is None and np.array_equal(np.asarray(again), np.asarray(joined))


def test_moments_and_digest_match_the_array_in_memory(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(rows_module, "CHUNK_BYTES", 100)  # several chunks
    x, a, b = _rows(tmp_path)
    whole = np.concatenate([a, b])
    mean, var = moments(x, (0, 1))
    assert np.allclose(mean, whole.astype(np.float64).mean(axis=(0, 1)))
    assert np.allclose(var, whole.astype(np.float64).var(axis=(0, 1)))
    one, two = hashlib.sha1(), hashlib.sha1()
    update_digest(one, x)
    two.update(f"{whole.dtype}{whole.shape}".encode())
    two.update(whole.tobytes())
    assert one.hexdigest() == two.hexdigest()


def _rss_file_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssFile:"):
            return int(line.split()[1]) / 1024
    return 0.0


def test_a_walk_in_random_batches_maps_nothing_into_the_process(tmp_path: Path) -> None:
    """Through np.load(mmap_mode="r") this walk grew the process's file pages by the whole file (94 MiB)."""
    np.save(tmp_path / "big.npy", np.ones((24_000, 4096), np.uint8))  # 94 MiB, rows of one page
    x = Rows([tmp_path / "big.npy"])
    before = _rss_file_mib()
    order = np.random.default_rng(0).permutation(len(x))
    for i in range(0, len(x), 256):
        assert x.read(order[i:i + 256]).sum() == min(256, len(x) - i) * 4096
    assert _rss_file_mib() - before < 8
