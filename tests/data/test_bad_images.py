"""A corrupt file in an image folder is a DataError naming that file, not a TensorFlow traceback."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from automl.config.models import DataConfig
from automl.data import load_dataset
from automl.errors import DataError
from automl.testing import write_pipeline


@pytest.fixture
def shapes(repo: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "shapes"
    shutil.copytree(repo / "examples" / "shapes", folder)
    return folder


def _load(folder: Path) -> None:
    load_dataset(DataConfig(source="image_folder", path=folder, image_size=[8, 8]), file="p.yaml")


def test_garbage_bytes_in_a_png_name_the_file(shapes: Path) -> None:
    (shapes / "square" / "square_01.png").write_bytes(b"not an image at all\n" * 10)
    with pytest.raises(DataError, match=r"^p.yaml: data.path: .*square[/\\]square_01\.png") as info:
        _load(shapes)
    assert "\n" not in str(info.value)


def test_a_truncated_png_names_the_file(shapes: Path) -> None:
    image = shapes / "circle" / "circle_02.png"
    image.write_bytes(image.read_bytes()[:60])
    with pytest.raises(DataError, match=r"circle[/\\]circle_02\.png.*cannot be decoded") as info:
        _load(shapes)
    assert "\n" not in str(info.value)


def test_an_empty_image_file_names_the_file(shapes: Path) -> None:
    (shapes / "triangle" / "triangle_00.png").write_bytes(b"")
    with pytest.raises(DataError, match=r"triangle[/\\]triangle_00\.png"):
        _load(shapes)


@pytest.mark.fresh_folder  # it checks what is (not) written into a fresh folder
def test_the_cli_shows_one_line_and_exits_2(shapes: Path, tmp_path: Path) -> None:
    (shapes / "circle" / "circle_05.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    path = write_pipeline(tmp_path, data={"source": "image_folder", "path": str(shapes), "image_size": [8, 8]},
                          space={"block": "cnn", "params": {}})
    proc = subprocess.run([sys.executable, "-m", "automl.cli", "run", str(path)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "circle/circle_05.png" in lines[0], proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not (tmp_path / "mlruns").exists()  # nothing was created for a pipeline that cannot load
