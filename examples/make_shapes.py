"""Regenerate examples/shapes/: 3 classes x 12 tiny RGB PNGs (16x16) of circles, squares and triangles.

    python examples/make_shapes.py

Shapes vary in position, size and colour, on a noisy background, so the task is easy but not trivial.
"""

from __future__ import annotations

from pathlib import Path

import make_images  # beside this script
import numpy as np
from PIL import Image

SIZE = 16
PER_CLASS = 12


def draw(kind: str, rng: np.random.Generator) -> Image.Image:
    return make_images.draw(kind, SIZE, rng, background=60, radius=(4, 7))


def main(root: Path = Path(__file__).parent / "shapes") -> None:
    rng = np.random.default_rng(0)
    for kind in ("circle", "square", "triangle"):
        folder = root / kind
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(PER_CLASS):
            draw(kind, rng).save(folder / f"{kind}_{i:02d}.png", optimize=True)


if __name__ == "__main__":
    main()
