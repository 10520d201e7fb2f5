"""Rows of ``.npy`` files, read only when asked (a split that never sits in memory whole).

A :class:`Rows` is a list of row numbers over one or more ``.npy`` files of the same sample shape (read as one
concatenation). It behaves like a read-only array where the code needs one (``len``, ``shape``, ``dtype``,
``ndim``, ``x[i:j]``, ``x[rows]``, ``np.asarray(x)``), but choosing rows (:func:`take`, :func:`concat`) stays
lazy: a random split of a 100 GB file is an index array, and a batch reads its own rows.

Rows are read with plain file reads into the batch's own buffer, not through a memory map: the pages a mapping
has touched count in the process's resident size (``/proc/PID/statm``, which ``train.max_memory_mib`` watches)
until the kernel wants them back, and one fault can map a whole large folio of the page cache (measured: 490 MB
read through ``np.load(mmap_mode="r")`` in random batches of 256 rows grew ``RssFile`` by 250 MB; a file just
written, by its whole size even with ``madvise(MADV_DONTNEED)`` every 32 MB). The page cache still keeps hot rows
in memory, outside the process's count.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

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
        self._files: list[Any] | None = None  # opened on the first read (a pickled Rows reopens them)
        heads = [_header(p) for p in self.paths]
        self.offsets = [offset for _, _, offset in heads]  # where each file's rows start
        self.ends = np.cumsum([shape[0] for shape, _, _ in heads])
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
        return {**self.__dict__, "_files": None}

    # -- reading --------------------------------------------------------------------------------------------
    def read(self, rows: np.ndarray) -> np.ndarray:
        """The rows numbered ``rows`` (global row numbers, any order) as one array: one file read per run of
        consecutive rows, straight into the result."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), *self.row_shape), dtype=self.dtype)
        if not len(rows):
            return out
        row_bytes = out.itemsize * int(np.prod(self.row_shape, dtype=np.int64))
        order = np.argsort(rows, kind="stable")  # ascending: the files are read forwards
        ordered = rows[order]
        buffer = np.empty_like(out) if not np.array_equal(order, np.arange(len(rows))) else out
        view = buffer.reshape(-1).view(np.uint8).data  # the bytes the reads fill
        # runs of consecutive rows inside one file: [first, last) positions in ``ordered``
        part = np.searchsorted(self.ends, ordered, side="right")
        breaks = np.flatnonzero((np.diff(ordered) != 1) | (np.diff(part) != 0)) + 1
        starts = np.concatenate([[0], self.ends[:-1]])
        with _LOCK:
            files = self._open()
            for first, last in zip(np.concatenate([[0], breaks]), np.concatenate([breaks, [len(rows)]]), strict=True):
                p = int(part[first])
                f = files[p]
                f.seek(self.offsets[p] + int(ordered[first] - starts[p]) * row_bytes)
                want = (last - first) * row_bytes
                if f.readinto(view[first * row_bytes:first * row_bytes + want]) != want:
                    raise OSError(f"{self.paths[p]} ended before row {int(ordered[last - 1] - starts[p])}")
        if buffer is not out:
            out[order] = buffer
        return out

    def statistics_rows(self) -> Rows:
        """The rows the model's normalization statistics are computed on (:func:`moments`): all of them."""
        return self

    def digest_into(self, digest: Any) -> None:
        """Feed these rows' dtype, shape and values to ``digest`` (hashlib), chunk by chunk."""
        digest.update(f"{np.dtype(self.dtype)}{tuple(self.shape)}".encode())
        for _, chunk in chunks(self):
            digest.update(np.ascontiguousarray(chunk).data)

    def _open(self) -> list[Any]:
        if self._files is None:
            self._files = [open(p, "rb", buffering=0) for p in self.paths]  # noqa: SIM115 (kept open: one per read)
        return self._files


#: a split's features: an array (in memory or memory-mapped) or lazy rows of .npy files
Split = np.ndarray | Rows

_LOCK = threading.Lock()  # a file's position is shared: one read at a time (Keras may read from its own thread)


def _header(path: str) -> tuple[tuple[int, ...], np.dtype[Any], int]:
    """The shape and dtype a ``.npy`` file declares and where its data starts (the data is not read)."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        shape, fortran, dtype = (np.lib.format.read_array_header_1_0(f) if version == (1, 0)
                                 else np.lib.format.read_array_header_2_0(f))
        offset = f.tell()
    if fortran and len(shape) > 1:
        raise ValueError(f"{os.path.basename(path)} is stored in Fortran order: save it in C order "
                         "(np.save(path, np.ascontiguousarray(x)))")
    if np.dtype(dtype).hasobject:
        raise ValueError(f"{os.path.basename(path)} holds Python objects, not numbers")
    return tuple(int(d) for d in shape), np.dtype(dtype), offset


# -- lazy selection ---------------------------------------------------------------------------------------
def is_lazy(x: Any) -> bool:
    return isinstance(x, Rows)


def take(x: Any, rows: np.ndarray) -> Any:
    """``x[rows]``: a lazy :class:`Rows` when ``x`` is one, else the array's rows."""
    if isinstance(x, Rows):
        out = type(x).__new__(type(x))  # rows of another kind of file (automl.data.images) stay of their kind
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
    if isinstance(x, Rows):
        x = x.statistics_rows()
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
    ``digest.update(np.ascontiguousarray(x).tobytes())`` after its dtype and shape (rows of images decoded when
    read give their files' listing instead: :meth:`Rows.digest_into`)."""
    if isinstance(x, Rows):
        x.digest_into(digest)
        return
    digest.update(f"{np.dtype(x.dtype)}{tuple(x.shape)}".encode())
    for _, chunk in chunks(x):
        digest.update(np.ascontiguousarray(chunk).data)


__all__ = ["CHUNK_BYTES", "Rows", "Split", "all_finite", "chunks", "concat", "is_lazy",
           "moments", "take", "update_digest"]
