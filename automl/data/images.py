"""Images decoded when their rows are read (``data.cache: none``): an image folder's split with nothing written.

:class:`ImageFiles` is a :class:`~automl.data.rows.Rows` whose rows are image files: reading a batch decodes and
resizes those images (as the disk cache decodes them, so the pixels are the same uint8 values), and the batches
that feed Keras (:mod:`automl.data.batches`) read it like any other rows. Nothing is written; every epoch decodes
its images again, in the process that reads them (the trial process).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from automl.data.rows import Rows

#: channels of each ``data.color_mode``
CHANNELS = {"grayscale": 1, "rgb": 3, "rgba": 4}
#: the normalization statistics of a split of images read from files are taken on at most this many images,
#: evenly spaced (a pass over every image would decode the whole folder in the study's process)
STATISTICS_IMAGES = 2048


def decoder(size: Sequence[int], color_mode: str) -> Any:
    """TensorFlow's function from a file path to its uint8 pixels resized to ``size`` (bilinear, as Keras's
    ``image_dataset_from_directory``, then rounded): what the disk cache stores and :class:`ImageFiles` reads."""
    from automl.runtime import import_keras

    import_keras()
    import tensorflow as tf

    channels, size = CHANNELS[color_mode], [int(s) for s in size]

    def load(path: Any) -> Any:
        image = tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
        image = tf.image.resize(tf.cast(image, tf.float32), size, method="bilinear")
        return tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)

    return load


class ImageFiles(Rows):
    """Rows ``index`` of the images ``paths``, decoded and resized to ``size`` in ``color_mode`` when read.

    >>> import numpy as np, tempfile, os
    >>> from PIL import Image  # doctest: +SKIP
    >>> folder = tempfile.mkdtemp(); paths = [os.path.join(folder, f"{i}.png") for i in range(3)]  # doctest: +SKIP
    >>> for i, p in enumerate(paths): Image.fromarray(np.full((4, 4, 3), 80 * i, np.uint8)).save(p)  # doctest: +SKIP
    >>> x = ImageFiles(paths, (2, 2), "rgb"); x.shape, x[2].max()  # doctest: +SKIP
    ((3, 2, 2, 3), 160)
    """

    def __init__(self, paths: Sequence[str | os.PathLike[str]], size: Sequence[int], color_mode: str,
                 index: np.ndarray | None = None) -> None:
        self.paths = tuple(os.path.abspath(p) for p in paths)
        self.size, self.color_mode = tuple(int(s) for s in size), color_mode
        self._files = None
        self._load: Any = None  # the decoder, made on the first read (a pickled ImageFiles makes its own)
        self.offsets = [0]
        self.ends = np.asarray([len(self.paths)])
        self.row_shape = (*self.size, CHANNELS[color_mode])
        self.dtype = np.dtype(np.uint8)
        self.index = (np.arange(len(self.paths), dtype=np.int64) if index is None
                      else np.asarray(index, dtype=np.int64))

    def __repr__(self) -> str:
        return f"ImageFiles({len(self)} of {len(self.paths)} images, {self.row_shape}, decoded when read)"

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_files": None, "_load": None}

    def read(self, rows: np.ndarray) -> np.ndarray:
        """The images numbered ``rows`` (numbers into ``paths``), decoded and resized, as one uint8 array."""
        if self._load is None:
            self._load = decoder(self.size, self.color_mode)
        out = np.empty((len(rows), *self.row_shape), dtype=np.uint8)
        for i, row in enumerate(np.asarray(rows, dtype=np.int64)):
            out[i] = self._load(self.paths[int(row)]).numpy()
        return out

    def statistics_rows(self) -> Rows:
        """At most :data:`STATISTICS_IMAGES` of these rows, evenly spaced: what the normalization is fitted on."""
        if len(self) <= STATISTICS_IMAGES:
            return self
        picked = np.linspace(0, len(self) - 1, STATISTICS_IMAGES).round().astype(np.int64)
        out = ImageFiles(self.paths, self.size, self.color_mode, self.index[picked])
        return out

    def digest_into(self, digest: Any) -> None:
        """The split's identity without decoding it: the size, the color mode, and each row's file path, size and
        modification time (a changed image changes it, as it would change the disk cache's fingerprint)."""
        digest.update(f"images {self.size} {self.color_mode} {len(self)}".encode())
        listing = hashlib.sha256()
        for row in self.index:
            path = self.paths[int(row)]
            stat = os.stat(path)
            listing.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        digest.update(listing.digest())

    def describe(self) -> dict[str, Any]:
        """What :meth:`described` needs to make these rows again in another process (the row numbers apart)."""
        return {"paths": list(self.paths), "size": list(self.size), "color_mode": self.color_mode}

    @classmethod
    def described(cls, description: dict[str, Any], index: np.ndarray) -> ImageFiles:
        return cls(description["paths"], description["size"], description["color_mode"], index)


__all__ = ["CHANNELS", "STATISTICS_IMAGES", "ImageFiles", "decoder"]
