"""Write a small image folder to try automl on images: data/my_images/<class>/*.png (docs/images.md).

    python examples/make_images.py                 # 3 classes x 30 RGB PNGs of 32x32 (circles, squares, triangles)
    python examples/make_images.py --per-class 500 --size 96
    python examples/make_images.py --weights       # also data/weights/mobilenet_v3_small.weights.h5

``--weights`` saves a MobileNetV3Small built with ``include_top=False`` at the images' size, with *random*
weights: the file has the layout of a real weights file, so ``weights: FILE`` can be tried without network. Its
numbers are not ImageNet's (see docs/images.md for those).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

CLASSES = ("circle", "square", "triangle")


def draw(kind: str, size: int, rng: np.random.Generator, *, background: int = 70,
         radius: tuple[int, int] | None = None) -> Image.Image:
    """One shape of a random colour, place and size (a radius in ``radius``, default size/5 to size/3) on a noisy
    background (pixel values below ``background``)."""
    image = Image.fromarray(rng.integers(0, background, size=(size, size, 3), dtype=np.uint8), "RGB")
    pen = ImageDraw.Draw(image)
    low, high = radius or (size // 5, size // 3)
    r = int(rng.integers(low, high))
    cx, cy = (int(v) for v in rng.integers(r, size - r, size=2))
    colour = tuple(int(c) for c in rng.integers(120, 256, size=3))
    if kind == "circle":
        pen.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    elif kind == "square":
        pen.rectangle([cx - r, cy - r, cx + r, cy + r], fill=colour)
    else:
        pen.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=colour)
    return image


def write_folder(root: Path, per_class: int, size: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for kind in CLASSES:
        (root / kind).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            draw(kind, size, rng).save(root / kind / f"{kind}_{i:04d}.png")


def write_weights(path: Path, size: int) -> None:
    """MobileNetV3Small without its top, at ``size``, random weights, as ``save_weights`` writes them."""
    import os

    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    model = keras.applications.MobileNetV3Small(input_shape=(size, size, 3), include_top=False, weights=None,
                                                include_preprocessing=True, pooling="avg")
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save_weights(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("data/my_images"))
    parser.add_argument("--per-class", type=int, default=30)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--weights", action="store_true",
                        help="also save data/weights/mobilenet_v3_small.weights.h5 (random, not ImageNet's)")
    args = parser.parse_args()
    write_folder(args.out, args.per_class, args.size)
    print(f"{args.out}: {len(CLASSES)} classes x {args.per_class} images of {args.size}x{args.size}")
    if args.weights:
        path = Path("data/weights/mobilenet_v3_small.weights.h5")
        write_weights(path, args.size)
        print(f"{path}: MobileNetV3Small, include_top=False, random weights")


if __name__ == "__main__":
    main()
