"""automl.store.access: the SQLite file of a URL, the store lock, retries, and the writability check."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

from automl.errors import StudyError
from automl.store.access import (
    check_writable,
    driver_problem,
    hide_password,
    redact,
    retrying,
    sqlite_file,
    store_lock,
    unreachable,
)

pytestmark = pytest.mark.fresh_folder  # the stores' locks and files in a fresh folder


def test_sqlite_file_of_urls_and_paths() -> None:
    assert sqlite_file("sqlite:///mlruns/optuna.db") == Path("mlruns/optuna.db")
    assert sqlite_file("sqlite:////abs/optuna.db?timeout=5") == Path("/abs/optuna.db")
    assert sqlite_file(Path("x.db")) == Path("x.db") and sqlite_file("x.db") == Path("x.db")
    for other in ("postgresql://u@host/db", "http://127.0.0.1:5000", "file:./mlruns", "sqlite:///:memory:"):
        assert sqlite_file(other) is None, other


def test_the_lock_is_exclusive_across_holders_and_reentrant_in_one_thread(tmp_path: Path) -> None:
    url = "sqlite:///mlruns/optuna.db"
    events: list[str] = []

    def other() -> None:
        with store_lock(url):
            events.append("other")

    with store_lock(url):
        with store_lock(url):  # nested: must not wait for itself
            thread = threading.Thread(target=other)
            thread.start()
            time.sleep(0.3)
            events.append("first")
    thread.join(10)
    assert events == ["first", "other"]
    assert (tmp_path / "mlruns" / "optuna.db.lock").exists() and not (tmp_path / "mlruns" / "optuna.db").exists()


def test_a_lock_held_too_long_names_the_lock_file() -> None:
    url = "sqlite:///mlruns/optuna.db"
    errors: list[str] = []

    def waiter() -> None:
        try:
            with store_lock(url, timeout=0.2):
                pass
        except StudyError as exc:
            errors.append(str(exc))

    with store_lock(url):
        thread = threading.Thread(target=waiter)
        thread.start()
        thread.join(10)
    assert len(errors) == 1 and errors[0].startswith("mlruns/optuna.db.lock: another process has held this lock")


def test_other_urls_take_no_lock_and_make_no_file(tmp_path: Path) -> None:
    with store_lock("postgresql://u@host/db"):
        pass
    assert list(tmp_path.iterdir()) == []


class OperationalError(Exception):  # named like SQLAlchemy's: what a concurrent migration raises
    pass


def test_retrying_retries_what_a_concurrent_creator_causes() -> None:
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("table studies already exists")
        return "ok"

    assert retrying(flaky, delay=0.001) == "ok" and len(calls) == 3


def test_retrying_gives_up_and_passes_other_errors_through() -> None:
    def broken() -> None:
        raise OperationalError("still racing")

    with pytest.raises(OperationalError):
        retrying(broken, attempts=2, delay=0.001)
    calls: list[int] = []

    def wrong() -> None:
        calls.append(1)
        raise ValueError("a bug, not a race")

    with pytest.raises(ValueError):
        retrying(wrong, delay=0.001)
    assert len(calls) == 1


def test_check_writable_accepts_what_can_be_written_or_made(tmp_path: Path) -> None:
    check_writable(tmp_path, "why")
    check_writable(tmp_path / "new" / "deeper" / "x.db", "why")
    (tmp_path / "x.db").write_text("")
    check_writable(tmp_path / "x.db", "why")


def test_check_writable_refuses_a_path_below_a_file(tmp_path: Path) -> None:
    (tmp_path / "mlruns").write_text("a file where the folder should be")
    with pytest.raises(StudyError, match=r"^mlruns: not a folder, so mlruns/optuna.db cannot be made: why$"):
        check_writable(tmp_path / "mlruns" / "optuna.db", "why")


def test_redact_masks_the_password_and_nothing_else() -> None:
    assert redact("postgresql+psycopg2://automl:s3cret@db:5432/automl") == "postgresql+psycopg2://automl:***@db:5432/automl"
    # an unencoded "@" or "/" in a password: everything up to the last "@" is masked, no tail leaks
    assert redact("postgresql://u:p@ss/w@db/automl") == "postgresql://u:***@db/automl"
    assert redact("postgresql://db/x?user=u&password=s3cret&sslmode=require") == \
        "postgresql://db/x?user=u&password=***&sslmode=require"
    assert redact("https://u:tok@mlflow.example:5000") == "https://u:***@mlflow.example:5000"
    for kept in ("sqlite:///mlruns/optuna.db", "postgresql://u@db/x", "http://127.0.0.1:5000", "mlruns/optuna.db"):
        assert redact(kept) == kept


def test_hide_password_masks_every_copy_in_a_message() -> None:
    url = "postgresql://u:s3%40cret@db/x"
    assert hide_password(f"cannot open {url}: bad s3@cret, s3%40cret", url) == \
        "cannot open postgresql://u:***@db/x: bad ***, ***"


def test_driver_problem_names_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    assert driver_problem("sqlite:///mlruns/optuna.db") is None and driver_problem("http://127.0.0.1:5000") is None
    monkeypatch.setitem(sys.modules, "psycopg2", None)  # `import psycopg2` fails, as where it is not installed
    assert driver_problem("postgresql+psycopg2://u:s3cret@db/x") == (
        'postgresql+psycopg2://u:***@db/x: needs the database driver psycopg2, which is not installed: '
        'pip install "automl[postgres]"')
    assert driver_problem("postgres://u:s3cret@db/x") == (
        "postgres://u:***@db/x: SQLAlchemy knows no database 'postgres': write "
        "postgresql+psycopg2://USER:PASSWORD@HOST:PORT/DATABASE")


def test_unreachable_is_one_line_only_for_server_databases() -> None:
    class OperationalError(Exception):
        pass

    url = "postgresql+psycopg2://u:s3cret@db/x"
    refused = OperationalError('connection to server at "db" failed: password s3cret rejected\n\n'
                               "(Background on this error at: https://sqlalche.me/e/21/e3q8)")
    assert unreachable(refused, url) == ('postgresql+psycopg2://u:***@db/x: cannot connect (connection to server at '
                                         '"db" failed: password *** rejected): check the host, port, user and password')
    assert unreachable(refused, "sqlite:///x.db") is None and unreachable(ValueError("x"), url) is None
