"""Opening automl's stores (the Optuna and MLflow databases, the study folders) safely.

Two processes that create a fresh SQLite store at the same moment both run its schema migrations and one
of them dies (alembic: "Online migration expected to match one row"). :func:`store_lock` lets one process
at a time create, migrate or open a store; :func:`check_writable` turns a store or folder automl cannot
write into one line naming the path, before SQLite or MLflow fail deep inside.
"""

from __future__ import annotations

import fcntl
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from automl.errors import StudyError

T = TypeVar("T")

#: what automl tells a user who gave it a store it cannot write
STORES_NEED_WRITING = "automl needs write access to its stores"
LOCK_TIMEOUT = 120.0  # seconds; creating a store takes about one
_DAMAGED = ("file is not a database", "database disk image is malformed")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def sqlite_file(url_or_path: str | Path) -> Path | None:
    """The database file of a SQLite URL (or a plain path); None for other URLs and in-memory SQLite.

    >>> sqlite_file("sqlite:///mlruns/optuna.db"), sqlite_file("postgresql://host/db")
    (PosixPath('mlruns/optuna.db'), None)
    """
    if isinstance(url_or_path, Path):
        return url_or_path
    text = str(url_or_path)
    if text.startswith("sqlite:///"):
        file = text[len("sqlite:///"):].split("?", 1)[0]
        return Path(file) if file and file != ":memory:" and not file.startswith("file::memory:") else None
    return None if _URL.match(text) else Path(text)


def shown(path: Path) -> str:
    """``path`` as a user typed it: relative to the working directory when under it."""
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _lacks(path: Path, mode: int) -> str | None:
    """``"writable"`` (or readable, searchable) when ``path`` lacks one of ``mode``'s permissions."""
    missing = [word for bit, word in ((os.R_OK, "readable"), (os.W_OK, "writable"), (os.X_OK, "searchable"))
               if bit & mode and not os.access(path, bit)]
    return " or ".join(missing) or None


def check_writable(path: Path, what: str) -> None:
    """Raise StudyError unless automl can write ``path`` (a file or a folder, existing or to be made).

    An existing file must be readable and writable, and its folder writable too (SQLite writes a journal
    beside its database, automl replaces files by renaming); a path still to be made needs its nearest
    existing folder writable. ``what`` says why automl writes there. The message names the path that lacks
    the permission, e.g. ``mlruns/optuna.db: not writable (permission denied): automl needs write access to
    its stores``.
    """
    path = Path(path)
    if path.is_dir():
        checks = [(path, os.R_OK | os.W_OK | os.X_OK, "")]
    elif path.exists():
        checks = [(path, os.R_OK | os.W_OK, ""),
                  (path.absolute().parent, os.W_OK | os.X_OK, f", needed to write {path.name} there")]
    else:
        parent = path.absolute().parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not parent.is_dir():
            raise StudyError(f"{shown(parent)}: not a folder, so {shown(path)} cannot be made: {what}")
        checks = [(parent, os.W_OK | os.X_OK, f", needed to make {shown(path)}")]
    for target, mode, why in checks:
        missing = _lacks(target, mode)
        if missing:
            kind = "folder " if why else ""
            raise StudyError(f"{shown(target)}: {kind}not {missing} (permission denied{why}): {what}")


_held = threading.local()  # lock files this thread holds: a nested store_lock on one store must not wait


@contextmanager
def store_lock(url_or_path: str | Path, *, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold ``<database>.lock`` (``fcntl.flock``, beside a SQLite file) while a store is created or opened.

    The store's folder is made and checked first (:func:`check_writable`). Other URLs (PostgreSQL, an MLflow
    server) take no lock: wrap their calls in :func:`retrying`. Re-entrant within a thread.

    >>> with store_lock("sqlite:///mlruns/optuna.db"):  # doctest: +SKIP
    ...     storage = optuna.storages.RDBStorage("sqlite:///mlruns/optuna.db")
    """
    file = sqlite_file(url_or_path)
    held: set[str] = getattr(_held, "files", None) or set()
    _held.files = held
    key = str(file.absolute()) if file is not None else ""
    if file is None or key in held:
        yield
        return
    check_writable(file, STORES_NEED_WRITING)
    file.parent.mkdir(parents=True, exist_ok=True)
    lock = file.with_name(file.name + ".lock")
    # read-only is enough for flock, so a lock file made by another user (mode 644) still serves
    fd = os.open(lock, os.O_RDONLY | os.O_CREAT, 0o666)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StudyError(f"{shown(lock)}: another process has held this lock for {timeout:.0f} s; "
                                     "is an automl process stuck? (delete the file if none is running)") from None
                time.sleep(0.05)
        held.add(key)
        try:
            yield
        except Exception as exc:
            damage = _not_a_database(exc)
            if damage is None:
                raise
            raise StudyError(f"{shown(file)}: not a SQLite database ({damage}): move it away (automl then makes "
                             "a fresh one) or give another --storage / --tracking-uri") from None
        finally:
            held.discard(key)
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _not_a_database(exc: BaseException) -> str | None:
    """SQLite's words when ``exc`` (or what it wraps) says the file is no database or a damaged one."""
    seen: BaseException | None = exc
    for _ in range(10):  # a chain of wrappers (MLflow, SQLAlchemy, sqlite3) is a few links long
        if seen is None:
            break
        for words in _DAMAGED:
            if words in str(seen):
                return words
        seen = seen.__cause__ or seen.__context__
    return None


def _transient(exc: BaseException) -> bool:
    """A failure a concurrent creator of the same store causes (a migration or a row written twice)."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(names & {"OperationalError", "IntegrityError", "CommandError"})


def retrying(fn: Callable[[], T], *, attempts: int = 5, delay: float = 0.2) -> T:
    """``fn()``, retried with backoff when another process creating the same store got in the way."""
    for attempt in range(attempts):
        try:
            return fn()
        except Exception as exc:
            if attempt == attempts - 1 or not _transient(exc):
                raise
            time.sleep(delay * 2**attempt)
    raise AssertionError("unreachable")
