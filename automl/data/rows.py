"""Rows of memory-mapped ``.npy`` files, read only when asked (a split that never sits in memory whole).

A :class:`Rows` is a list of row numbers over one or more ``.npy`` files of the same sample shape (read as one
concatenation), opened with ``mmap_mode="r"``. It behaves like a read-only array where the code needs one
(``len``, ``shape``, ``dtype``, ``ndim``, ``x[i:j]``, ``x[rows]``, ``np.asarray(x)``), but choosing rows
(:func:`take`, :func:`concat`) stays lazy: a random split of a 100 GB file is an index array, and a batch
reads its own rows.

The pages a mapping has read count in the process's resident size (``/proc/PID/statm``, which
``train.max_memory_mib`` watches) until the kernel needs them back: a reader that walks a whole file grows by
the file's size (measured: 490 MB read in random batches of 256 rows grew ``RssFile`` by 250 MB). So a
:class:`Rows` drops its mapped pages (``madvise(MADV_DONTNEED)``; they stay in the page cache, so reading them
again costs no disk) each time it may have mapped :data:`RELEASE_BYTES`: its resident share stays below that,
whatever the number of rows.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

#: bytes a Rows reads through its mappings before it drops their pages from the process's resident set
RELEASE_BYTES = 32 * 2**20
#: what one page fault may map (Linux's default ``fault_around_bytes``)
FAULT_AROUND_BYTES = 64 * 2**10
#: rows per chunk when a whole split is walked (statistics, digests, checks): about this many bytes
CHUNK_BYTES = 32 * 2**20


class Rows:
    """Rows ``index`` of the concatenation of the ``.npy`` files ``paths`` (every row when ``index`` is None).

    >>> import numpy as np, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "x.npy"); np.save(path, np.arange(12).reshape(6, 2))
    >>> x = Rows([path]); odd = take(x, np.array([1, 3, 5]))
    >>> len(odd), odd.shape, odd[1:].tolist()
    (3, (3, 2), [[6, 7], [10, 11]])
    """

    def __init__(self, paths: Sequence[str | Path], index: np.ndarray | None = None) -> None:
        self.paths = tuple(os.path.abspath(p) for p in paths)  # the same files from any working directory
        self._bases: list[np.ndarray] | None = None
        self._read = 0  # bytes read through the mappings since their pages were last dropped
        heads = [_header(p) for p in self.paths]
        self.ends = np.cumsum([shape[0] for shape, _ in heads])
        self.row_shape: tuple[int, ...] = tuple(heads[0][0][1:])
        self.dtype: np.dtype[Any] = heads[0][1]
        total = int(self.ends[-1]) if len(self.ends) else 0
        self.index = np.arange(total, dtype=np.int64) if index is None else np.asarray(index, dtype=np.int64)

    # -- array-like ---------------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.index), *self.row_shape)

    @property
    def ndim(self) -> int:
        return 1 + len(self.row_shape)

    @property
    def nbytes(self) -> int:
        return len(self.index) * int(np.prod(self.row_shape, dtype=np.int64)) * self.dtype.itemsize

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, key: Any) -> Any:
        """Rows read now, as NumPy would index an array (``x[3]``, ``x[:64]``, ``x[[5, 1]]``)."""
        if isinstance(key, tuple):
            rows = self[key[0]]
            return rows[key[1:]] if np.isscalar(key[0]) else rows[(slice(None),) + tuple(key[1:])]
        if isinstance(key, int | np.integer):
            return self.read(self.index[np.asarray([key])])[0]
        return self.read(self.index[key])

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        """Every row in memory: what ``np.asarray(rows)`` costs (the whole split); chunks drop their pages."""
        out = np.empty(self.shape, dtype=self.dtype)
        for start, chunk in chunks(self):
            out[start:start + len(chunk)] = chunk
        return out if dtype is None else out.astype(dtype, copy=False)

    def __repr__(self) -> str:
        return f"Rows({len(self)} of {', '.join(Path(p).name for p in self.paths)}, {self.row_shape}, {self.dtype})"

    def __getstate__(self) -> dict[str, Any]:  # a pickled Rows reopens its files where it lands
        return {**self.__dict__, "_bases": None, "_read": 0}

    # -- reading --------------------------------------------------------------------------------------------
    def read(self, rows: np.ndarray) -> np.ndarray:
        """The rows numbered ``rows`` (global row numbers, any order) as one array."""
        rows = np.asarray(rows, dtype=np.int64)
        if self._bases is None:
            self._bases = [np.load(p, mmap_mode="r", allow_pickle=False) for p in self.paths]
        out = np.empty((len(rows), *self.row_shape), dtype=self.dtype)
        part = np.searchsorted(self.ends, rows, side="right")
        starts = np.concatenate([[0], self.ends[:-1]])
        for i in np.unique(part):
            where = np.flatnonzero(part == i)
            local = rows[where] - starts[i]
            order = np.argsort(local, kind="stable")  # ascending offsets: the file is read forwards
            out[where[order]] = self._bases[i][local[order]]
        # a page fault maps its neighbours too (Linux's fault-around, 64 KiB): a scattered read maps more than
        # it reads
        self._read += out.nbytes + len(rows) * FAULT_AROUND_BYTES
        if self._read >= RELEASE_BYTES:
            self.release()
        return out

    def release(self) -> None:
        """Drop the mapped pages from this process's resident set (the page cache keeps them)."""
        self._read = 0
        for base in self._bases or []:
            mapping = _mapping(base)
            if mapping is not None and hasattr(mmap, "MADV_DONTNEED"):
                mapping.madvise(mmap.MADV_DONTNEED)


#: a split's features: an array (in memory or memory-mapped) or lazy rows of memory-mapped files
Split = np.ndarray | Rows


def _header(path: str) -> tuple[tuple[int, ...], np.dtype[Any]]:
    """The shape and dtype a ``.npy`` file declares (its data is not read)."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        shape, _, dtype = (np.lib.format.read_array_header_1_0(f) if version == (1, 0)
                           else np.lib.format.read_array_header_2_0(f))
    return tuple(int(d) for d in shape), np.dtype(dtype)


def _mapping(array: np.ndarray) -> mmap.mmap | None:
    """The ``mmap`` behind a memory-mapped array (``np.load(..., mmap_mode="r")`` builds the array on it)."""
    base: Any = array
    while base is not None and not isinstance(base, mmap.mmap):
        base = getattr(base, "base", None)
    return base


# -- lazy selection ---------------------------------------------------------------------------------------
def is_lazy(x: Any) -> bool:
    return isinstance(x, Rows)


def take(x: Any, rows: np.ndarray) -> Any:
    """``x[rows]``: a lazy :class:`Rows` when ``x`` is one, else the array's rows."""
    if isinstance(x, Rows):
        out = Rows.__new__(Rows)
        out.__dict__.update(x.__getstate__())
        out.index = x.index[np.asarray(rows)]
        return out
    return x[rows]


def concat(parts: Sequence[Any]) -> Any:
    """The rows of ``parts`` one after the other: lazy when every part is a Rows of the same files."""
    if parts and all(isinstance(p, Rows) and p.paths == parts[0].paths for p in parts):
        first: Rows = parts[0]
        out = take(first, np.arange(0))
        out.index = np.concatenate([p.index for p in parts])
        return out
    return np.concatenate([np.asarray(p) for p in parts])


def chunks(x: Any, max_bytes: int = CHUNK_BYTES) -> Iterator[tuple[int, np.ndarray]]:
    """``(first row, rows)`` of ``x`` in pieces of about ``max_bytes`` (one piece for an array in memory)."""
    if not isinstance(x, Rows):
        yield 0, np.asarray(x)
        return
    row_bytes = max(1, x.nbytes // max(1, len(x)))
    step = max(1, max_bytes // row_bytes)
    for start in range(0, len(x), step):
        yield start, x.read(x.index[start:start + step])


def all_finite(x: Any) -> bool:
    """No NaN or infinity in ``x`` (integers always), read chunk by chunk."""
    if not np.issubdtype(x.dtype, np.floating):
        return True
    return all(bool(np.isfinite(c).all()) for _, c in chunks(x))


def moments(x: Any, axes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (population) variance of ``x`` over ``axes`` (which include the rows), in float64, chunk by
    chunk (Chan et al.'s pairwise update): equal to ``x.mean(axes)``, ``x.var(axes)`` for an array in memory."""
    count, mean, m2 = 0, None, None
    for _, chunk in chunks(x):
        c64 = chunk.astype(np.float64)
        n = int(np.prod([c64.shape[a] for a in axes]))
        c_mean, c_var = c64.mean(axis=axes), c64.var(axis=axes)
        if mean is None or m2 is None:
            count, mean, m2 = n, c_mean, c_var * n
            continue
        delta = c_mean - mean
        total = count + n
        mean = mean + delta * n / total
        m2 = m2 + c_var * n + delta**2 * count * n / total
        count = total
    assert mean is not None and m2 is not None, "moments of no rows"
    return mean, m2 / count


def update_digest(digest: Any, x: Any) -> None:
    """Feed ``x``'s dtype, shape and values to ``digest`` (hashlib), chunk by chunk: the same digest as
    ``digest.update(np.ascontiguousarray(x).tobytes())`` after its dtype and shape."""
    digest.update(f"{np.dtype(x.dtype)}{tuple(x.shape)}".encode())
    for _, chunk in chunks(x):
        digest.update(np.ascontiguousarray(chunk).data)


__all__ = ["CHUNK_BYTES", "RELEASE_BYTES", "Rows", "Split", "all_finite", "chunks", "concat", "is_lazy",
           "moments", "take", "update_digest"]
