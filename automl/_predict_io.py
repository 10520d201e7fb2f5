"""Predict's files: the rows read only once their header fits the model, arrays held to real numbers, and the
predictions written spreadsheet-safe, in chunks that a Ctrl-C can stop, atomically.

Every check here runs before the model sees a row: a file that cannot be what the model reads is one line of
error in seconds, never a traceback from pandas or Keras, nor a prediction made from a value nobody meant.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from automl._text import clip, first_line, show
from automl.errors import DataError

#: the most bytes of a CSV's first line read before the file is known to fit the model (a 3-million-column
#: line took pandas over 11 minutes)
HEADER_BYTES = 1 << 20
#: columns a CSV may hold beyond those the model reads (ids, the target, notes: ignored)
EXTRA_COLUMNS = 1000
#: the largest magnitude a float32 holds: the model computes in float32, so a larger number becomes inf
FLOAT32_MAX = float(np.finfo(np.float32).max)
#: rows written between two safe points (a Ctrl-C stops the writing there)
WRITE_ROWS = 65536
#: what a spreadsheet reads as the start of a formula (OWASP "CSV injection")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def names(columns: Sequence[str], shown: int = 10) -> str:
    """``a, b, c`` for a message: the first ``shown`` names, then how many more."""
    head = ", ".join(str(c) for c in columns[:shown])
    return clip(head + (f", ... ({len(columns) - shown} more)" if len(columns) > shown else ""))


def csv_header(path: Path) -> tuple[list[str], str]:
    """The raw column names of a CSV's first line and its delimiter (``,``, else one that ``csv.Sniffer`` finds
    among ``; \\t |``), reading at most :data:`HEADER_BYTES`; a name twice is an error (pandas would rename the
    second ``x.1`` and use the first alone)."""
    with open(path, "rb") as f:
        head = f.read(HEADER_BYTES + 1)
    end = head.find(b"\n")
    if end < 0 and len(head) > HEADER_BYTES:
        raise DataError(f"the first line is longer than {HEADER_BYTES >> 20} MiB: not the header of rows a model "
                        "reads (predict reads a header line of column names, then one row per line)", file=str(path))
    line = head[: end if end >= 0 else len(head)].decode("utf-8-sig", errors="replace").rstrip("\r")
    if not line.strip():
        raise DataError("no header line: the file is empty or starts with a blank line", file=str(path))
    delimiter = ","
    fields = next(csv.reader([line]))
    if len(fields) == 1:
        try:
            delimiter = csv.Sniffer().sniff(line, delimiters=";\t|").delimiter
            fields = next(csv.reader([line], delimiter=delimiter))
        except csv.Error:
            pass  # one column
    seen: dict[str, int] = {}
    for i, field in enumerate(fields):
        if field in seen and field:  # empty names are pandas' "Unnamed: i", each its own
            raise DataError(f"column {show(field)} appears twice in the header (columns {seen[field] + 1} and "
                            f"{i + 1}): rename one", file=str(path))
        seen[field] = i
    return fields, delimiter


def read_csv(path: Path, delimiter: str) -> Any:
    """The rows of a CSV whose header :func:`csv_header` read; no rows is an error."""
    import pandas as pd

    try:
        frame = pd.read_csv(path, sep=delimiter)
    except Exception as exc:  # pandas raises many types for a bad file
        first = first_line(exc)
        raise DataError(f"cannot read as CSV: {first}", file=str(path)) from None
    if not len(frame):
        raise DataError("no rows: the file holds a header line alone", file=str(path))
    return frame


def numeric_array(data: Any, file: str) -> np.ndarray:
    """``data`` as an array of real numbers, one sample per index of its first axis, in its own precision
    (nothing rounded to float32 before :func:`check_range`); text, complex numbers, a single value or no rows
    are errors."""
    x = np.asarray(data)
    if x.dtype.kind == "c":
        raise DataError(f"holds complex numbers ({x.dtype}): the model takes real numbers", file=file)
    if x.dtype.kind not in "biuf":
        try:
            x = x.astype(np.float64)
        except (TypeError, ValueError):
            raise DataError(f"holds {'text' if x.dtype.kind in 'US' else 'objects'} ({x.dtype}), not numbers: "
                            "the model takes numbers", file=file) from None
    if x.ndim == 0:
        raise DataError(f"holds a single value ({show(x.item())}), not rows of features", file=file)
    if not len(x):
        raise DataError(f"no rows: the array has shape {list(x.shape)}", file=file)
    return x


def check_range(values: np.ndarray, columns: Sequence[str] | None, file: str, hint: str = "") -> None:
    """Refuse a number the model would see as inf: inf itself, or a finite number beyond float32's range
    (``-1e308``). ``values``: numbers, one row per sample; ``columns`` names its columns (None: an array's
    features, named by their index); ``hint`` ends the message (what to do instead)."""
    if values.dtype.kind != "f":
        return  # integers and booleans: none is beyond float32's range
    rows = values.reshape(len(values), -1)
    with np.errstate(invalid="ignore"):
        bad = np.abs(rows) > FLOAT32_MAX  # inf too; NaN is missing, not out of range
    if not bad.any():
        return
    row, col = (int(i) for i in np.argwhere(bad)[0])
    where = (f"column {show(columns[col])}" if columns is not None else
             f"feature {[int(i) for i in np.unravel_index(col, values.shape[1:])]}")
    more = int(bad.sum()) - 1
    raise DataError(f"{where}, row {row + 1}: {rows[row, col]:g} is beyond what the model computes with (float32: "
                    f"|x| <= {FLOAT32_MAX:.3g}){f'; {more} more such value(s)' if more else ''}{hint}", file=file)


def spreadsheet_safe(value: Any) -> Any:
    """A text value a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab, carriage return at its
    start) with ``'`` before it, as OWASP advises; numbers, and text that is one (``-1.5``), stay as they are."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


#: decimals of a written probability (the returned DataFrame keeps full precision)
PROBABILITY_DECIMALS = 4


def _safe_frame(frame: Any) -> Any:
    from pandas.api import types

    probabilities = [c for c in frame.columns if isinstance(c, str) and c.startswith("probability_")]
    if probabilities:  # 0.7713, as docs/predict.md shows, not float32's 0.7712212204933167
        frame = frame.assign(**{c: frame[c].round(PROBABILITY_DECIMALS) for c in probabilities})

    text = [c for c in frame.columns if types.is_object_dtype(frame[c]) or types.is_string_dtype(frame[c])]
    if not text and not any(isinstance(c, str) and spreadsheet_safe(c) != c for c in frame.columns):
        return frame
    frame = frame.copy()
    for column in text:
        frame[column] = frame[column].map(spreadsheet_safe)
    return frame.rename(columns=spreadsheet_safe)


def write_csv(frame: Any, stream: TextIO) -> None:
    """``frame`` as CSV on ``stream``, spreadsheet-safe (:func:`spreadsheet_safe`), in chunks of
    :data:`WRITE_ROWS` rows with a safe point (:func:`automl.signals.check`) before each."""
    from automl import signals

    for start in range(0, max(len(frame), 1), WRITE_ROWS):
        signals.check()
        _safe_frame(frame.iloc[start:start + WRITE_ROWS]).to_csv(stream, index=False, header=start == 0,
                                                                   lineterminator="\n")


def write_csv_file(frame: Any, path: Path) -> None:
    """``frame`` written to ``path`` by :func:`write_csv`, atomically: a stop or an error while writing leaves
    no half-written file, and an earlier one as it was."""
    from automl import signals
    from automl.store.folder import atomic_path

    try:
        with atomic_path(path) as tmp:
            with open(tmp, "w", newline="") as stream:
                write_csv(frame, stream)
            signals.check()  # stopped while the last rows were written: keep the earlier file
    except OSError as exc:
        raise DataError(f"cannot write predictions: {exc.strerror or exc}", file=str(path)) from None


__all__ = ["EXTRA_COLUMNS", "HEADER_BYTES", "check_range", "csv_header", "names", "numeric_array", "read_csv",
           "spreadsheet_safe", "write_csv", "write_csv_file"]
