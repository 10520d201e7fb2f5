"""Regenerate examples/shapes/: 3 classes x 12 tiny RGB PNGs (16x16) of circles, squares and triangles.

    python examples/make_shapes.py

Shapes vary in position, size and colour, on a noisy background, so the task is easy but not trivial.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SIZE = 16
PER_CLASS = 12


def draw(kind: str, rng: np.random.Generator) -> Image.Image:
    background = rng.integers(0, 60, size=(SIZE, SIZE, 3), dtype=np.uint8)
    image = Image.fromarray(background, "RGB")
    pen = ImageDraw.Draw(image)
    r = int(rng.integers(4, 7))
    cx, cy = (int(v) for v in rng.integers(r, SIZE - r, size=2))
    colour = tuple(int(c) for c in rng.integers(120, 256, size=3))
    if kind == "circle":
        pen.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    elif kind == "square":
        pen.rectangle([cx - r, cy - r, cx + r, cy + r], fill=colour)
    else:
        pen.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=colour)
    return image


def main(root: Path = Path(__file__).parent / "shapes") -> None:
    rng = np.random.default_rng(0)
    for kind in ("circle", "square", "triangle"):
        folder = root / kind
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(PER_CLASS):
            draw(kind, rng).save(folder / f"{kind}_{i:02d}.png", optimize=True)


if __name__ == "__main__":
    main()
