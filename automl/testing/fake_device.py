"""A device played on this machine, for ``study.measure.command`` / ``export.measure.command`` without a phone:
it answers the TFLite file's size / 1000 as its latency in milliseconds (deterministic, and larger files are
slower), after a line of chatter as a real benchmark prints.

    python -m automl.testing.fake_device model.tflite
    pushing model.tflite (12345 bytes)
    latency: 12.345 ms
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m automl.testing.fake_device FILE.tflite", file=sys.stderr)
        return 2
    size = os.path.getsize(argv[0])
    print(f"pushing {argv[0]} ({size} bytes)")
    print(f"latency: {size / 1000} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
