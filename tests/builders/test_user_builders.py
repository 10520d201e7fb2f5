"""Your own model (issue 14): `block: my_models.py:build` is checked when the space is resolved (one line naming the
file and `block`, exit 2) and builds a compiled model that ends in automl's output layers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from automl.cli import app
from automl.testing import write_pipeline

runner = CliRunner()

BUILDER = '''
import keras

def build(hp, data):
    inputs = keras.Input(shape=data.input_shape)
    x = keras.layers.Flatten()(data.normalization()(inputs))
    x = keras.layers.Dense(hp["width"], activation="relu")(x)
    if data.task == "classification":
        return keras.Model(inputs, keras.layers.Dense(data.num_classes, activation="softmax")(x))
    return keras.Model(inputs, keras.layers.Dense(1)(x))

def compiled(hp, data):
    model = build(hp, data)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=123.0), loss="mse")
    return model

def seen(hp, data):
    seen.calls.append((dict(hp), data))
    return build(hp, data)
seen.calls = []

def not_a_model(hp, data):
    return [1, 2]

def boom(hp, data):
    raise ValueError("the builder broke")

def wrong_output(hp, data):
    inputs = keras.Input(shape=data.input_shape)
    return keras.Model(inputs, keras.layers.Dense(7, activation="softmax")(keras.layers.Flatten()(inputs)))

not_callable = 3
'''


def _space(folder: Path, block: str, params: dict | None = None) -> Path:
    path = folder / "space.yaml"
    path.write_text(yaml.safe_dump({"block": block, "params": params or {"width": {"type": "int", "low": 4,
                                                                                    "high": 8}}}))
    return path


def _validate(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["validate", *args])
    return result.exit_code, result.output.strip()


@pytest.fixture
def builders(tmp_path: Path) -> Path:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "mine.py").write_text(BUILDER)
    (tmp_path / "models" / "broken.py").write_text("import no_such_module_here\n")
    return tmp_path


@pytest.mark.parametrize(("block", "expected"), [
    ("models/absent.py:build", "block: builder file not found: models/absent.py (relative to {base})"),
    ("models/broken.py:build", "block: cannot import 'models/broken.py': ModuleNotFoundError: No module named "
                               "'no_such_module_here'"),
    ("models/mine.py:buidl", "block: 'models/mine.py' has no function 'buidl'; did you mean 'build'?"),
    ("models/mine.py:not_callable", "block: 'not_callable' in 'models/mine.py' is not a function, got 3"),
    ("models/mine.py:", "block: expected FILE.py:FUNCTION or package.module:FUNCTION, got 'models/mine.py:'"),
    ("no_such_package_xyz.models:build", "block: cannot import 'no_such_package_xyz.models': ModuleNotFoundError"),
])
def test_a_builder_that_cannot_load_is_one_line_naming_the_space_file_and_block(
        builders: Path, block: str, expected: str) -> None:
    space = _space(builders, block)
    code, out = _validate(str(space))
    assert code == 2, out
    assert "\n" not in out and "Traceback" not in out
    assert out.startswith(f"{space}: " + expected.format(base=builders)), out


def test_an_inline_space_names_the_pipeline_and_space_block_and_resolves_against_the_pipeline(builders: Path) -> None:
    path = write_pipeline(builders, space={"block": "models/absent.py:build", "params": {"width": 4}})
    code, out = _validate(str(path))
    assert (code, out) == (2, f"{path}: space.block: builder file not found: models/absent.py (relative to "
                              f"{builders})")
    good = write_pipeline(builders, name="good", space={"block": "models/mine.py:build", "params": {"width": 4}})
    code, out = _validate(str(good))
    assert code == 0 and "blocks models/mine.py:build" in out, out


def test_a_builder_file_given_on_the_command_line_is_relative_to_the_working_directory(
        builders: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (builders / "sub").mkdir()
    path = write_pipeline(builders / "sub", space={"block": "mlp", "params": {}})
    monkeypatch.chdir(builders)
    code, out = _validate(str(path), "--set", "space.block=models/mine.py:build", "--set", "space.params.width=4")
    assert code == 0, out
    assert f"blocks {builders / 'models' / 'mine.py'}:build" in out


def test_a_builder_module_on_the_python_path(builders: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(builders / "models"))
    code, out = _validate(str(_space(builders, "mine:build")))
    assert code == 0, out


def test_params_of_a_builder_are_its_own_and_training_params_are_still_checked(builders: Path) -> None:
    from automl.api import validate

    ok = _space(builders, "models/mine.py:build", {"width": 4, "activation": "mish", "lr": 0.01})
    assert validate(ok).kind == "space"  # `activation` means what the builder makes of it
    bad = _space(builders, "models/mine.py:build", {"width": 4, "lr": -1.0})
    code, out = _validate(str(bad))
    assert (code, out) == (2, f"{bad}: params.lr: expected a value > 0, got -1")


def test_a_choice_of_a_block_and_a_builder_conditions_the_builders_own_params(builders: Path) -> None:
    from automl.config.loader import load_space_file
    from automl.space import resolve_space

    path = builders / "space.yaml"
    path.write_text(yaml.safe_dump({"block": {"type": "categorical", "choices": ["mlp", "models/mine.py:build"]},
                                    "params": {"width": {"type": "int", "low": 4, "high": 8}, "units": 8}}))
    space = resolve_space(load_space_file(path), 2, file=str(path))
    assert space.params["width"].when == {"block": ["models/mine.py:build"]}
    assert space.params["units"].when == {}  # mlp's and the builder's
    from automl.testing.fakes import FirstChoiceSuggester

    block, hp = space.decode(space.sample(FirstChoiceSuggester({"block": "models/mine.py:build", "width": 5})))
    assert block == f"{builders / 'models' / 'mine.py'}:build" and hp["width"] == 5 and hp["units"] == 8


def _spec(task: str = "classification"):
    from automl.builders.model import ModelSpec

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6)).astype("float32")
    y = rng.integers(0, 3, 40) if task == "classification" else rng.normal(size=40)
    return ModelSpec.from_arrays(x, y, task, 3 if task == "classification" else 0), x, y


def _target(builders: Path, function: str) -> str:
    return f"{builders / 'models' / 'mine.py'}:{function}"


def test_the_builder_gets_the_trials_values_and_the_data(builders: Path) -> None:
    from automl.builders import user
    from automl.builders.model import build_model

    spec, _, _ = _spec()
    model = build_model(_target(builders, "seen"), {"width": 5, "lr": 0.01}, spec)
    module = user.import_file(str(builders / "models" / "mine.py"))
    hp, data = module.seen.calls[-1]
    assert hp == {"width": 5, "lr": 0.01}
    assert (data.input_shape, data.num_classes, data.task) == ((6,), 3, "classification")
    assert data["input_shape"] == (6,) and len(data.x_mean) == 6
    assert [layer.name for layer in model.layers][-2:] == ["logits", "probs"]
    build_model(_target(builders, "seen"), {"width": 5}, _spec("regression")[0])
    assert module.seen.calls[-1][1].num_classes is None and module.seen.calls[-1][1].task == "regression"


def test_a_compiled_model_is_recompiled_with_the_spaces_optimizer_and_trains(builders: Path) -> None:
    import keras

    from automl.builders.model import build_model

    spec, x, y = _spec()
    model = build_model(_target(builders, "compiled"), {"width": 4, "optimizer": "adam", "lr": 0.01}, spec)
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(0.01)
    history = model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert np.isfinite(history.history["loss"][0]) and "accuracy" in history.history
    probs = model.predict(x[:4], verbose=0)
    assert probs.shape == (4, 3) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    regression, xr, yr = _spec("regression")
    reg = build_model(_target(builders, "build"), {"width": 4}, regression)
    assert reg.predict(xr[:4], verbose=0).shape == (4,)


@pytest.mark.parametrize(("function", "expected"), [
    ("not_a_model", "builder mine.py:not_a_model returned list, not a keras.Model"),
    ("boom", "builder mine.py:boom raised ValueError: the builder broke"),
    ("wrong_output", "builder mine.py:wrong_output returned a model whose output has shape (None, 7); a classifier "
                     "of 3 classes ends in (None, 3)"),
])
def test_a_builder_that_fails_or_returns_something_else_raises_with_the_reason(
        builders: Path, function: str, expected: str) -> None:
    from automl.builders.model import build_model

    with pytest.raises(Exception, match=r".*") as info:
        build_model(_target(builders, function), {"width": 4}, _spec()[0])
    assert str(info.value).startswith(expected), str(info.value)


@pytest.mark.parametrize("block", ["os:system", "subprocess:getoutput", "this:x", "importlib.util:find_spec"])
def test_a_standard_library_module_is_refused_before_it_is_imported(builders: Path, block: str) -> None:
    import subprocess
    import sys

    path = write_pipeline(builders, space={"block": "mlp", "params": {}})
    # in a fresh process: `this` prints the Zen of Python when imported, so its absence proves no import ran
    result = subprocess.run([sys.executable, "-m", "automl.cli", "validate", str(path), "--set",
                             f"space.block={block}"], capture_output=True, text=True, timeout=120, cwd=builders)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (f"{path}: space.block: '{block}' names a module of Python's standard library, "
                                     "not a model builder: write FILE.py:FUNCTION (a file of yours) or "
                                     "package.module:FUNCTION of your own package")
    assert "Beautiful is better" not in result.stdout + result.stderr


def test_validate_says_which_builder_files_it_imported(builders: Path) -> None:
    good = write_pipeline(builders, name="good", space={"block": "models/mine.py:build", "params": {"width": 4}})
    code, out = _validate(str(good))
    assert code == 0, out
    assert (f"note: imported {builders / 'models' / 'mine.py'} (block models/mine.py:build): its code ran; run only "
            "pipelines you trust") in out


def test_a_builder_that_prints_in_a_loop_shows_a_few_lines_and_counts_the_rest(
        builders: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from automl.builders.user import SHOWN_LINES, BuilderData, call

    (builders / "models" / "chatty.py").write_text(BUILDER + '''
def chatty(hp, data):
    for i in range(200_000):
        print("line", i)
    return build(hp, data)
''')
    model = call(f"{builders / 'models' / 'chatty.py'}:chatty", {"width": 4},
                 BuilderData(input_shape=(3,), num_classes=2, task="classification", x_mean=(0.0,) * 3,
                             x_var=(1.0,) * 3))
    assert model is not None
    lines = capsys.readouterr().out.splitlines()
    assert lines[:SHOWN_LINES] == [f"line {i}" for i in range(SHOWN_LINES)]
    assert lines[SHOWN_LINES:] == [f"[builder chatty.py:chatty printed {200_000 - SHOWN_LINES} more lines, not shown]"]
