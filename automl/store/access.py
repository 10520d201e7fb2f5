"""Opening automl's stores (the Optuna and MLflow databases, the study folders) safely.

Two processes that create a fresh SQLite store at the same moment both run its schema migrations and one
of them dies (alembic: "Online migration expected to match one row"). :func:`store_lock` lets one process
at a time create, migrate or open a store; :func:`check_writable` turns a store or folder automl cannot
write into one line naming the path, before SQLite or MLflow fail deep inside. A server database
(PostgreSQL) takes no lock: :func:`driver_problem` and :func:`unreachable` turn a missing driver or a refused
connection into one line, and :func:`redact` masks the password wherever automl shows or logs a URL.
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
from typing import Any, TypeVar

from automl.errors import StudyError

T = TypeVar("T")

#: what automl tells a user who gave it a store it cannot write
STORES_NEED_WRITING = "automl needs write access to its stores"
LOCK_TIMEOUT = 120.0  # seconds; creating a store takes about one
_DAMAGED = ("file is not a database", "database disk image is malformed")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
# user:password@ up to the last "@" (an unencoded "@" or "/" in a password must not leak its tail), and
# libpq's ?password=... parameter
_USERINFO = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@?#]*):(?P<password>.*)@")
_QUERY_PASSWORD = re.compile(r"(?i)(?P<key>[?&]password=)(?P<password>[^&#]*)")
MASK = "***"
#: what to install for a database driver that is missing, by SQLAlchemy driver name
_DRIVER_INSTALL = {
    "psycopg2": 'pip install "automl[postgres]"',
    # SQLAlchemy 2.1 picks psycopg (3) for a plain postgresql:// URL; the extra brings psycopg2
    "psycopg": 'write postgresql+psycopg2://... and pip install "automl[postgres]"',
}


def redact(url: str) -> str:
    """``url`` with its password masked as ``***``: how automl shows and logs a storage or tracking URL.

    A value that is not a URL but has a colon (``notaurl:s3cret``, a mistyped ``user:password@host``) shows
    only what comes before its first colon: whatever follows may be a password.

    >>> redact("postgresql+psycopg2://automl:s3cret@db:5432/automl")
    'postgresql+psycopg2://automl:***@db:5432/automl'
    >>> redact("postgresql://db/automl?user=automl&password=s3cret"), redact("sqlite:///mlruns/optuna.db")
    ('postgresql://db/automl?user=automl&password=***', 'sqlite:///mlruns/optuna.db')
    >>> redact("notaurl:s3cret"), redact("mlruns/optuna.db")
    ('notaurl:***', 'mlruns/optuna.db')
    """
    text = str(url)
    if "://" not in text and ":" in text:
        return f"{text.split(':', 1)[0]}:{MASK}"
    text = _USERINFO.sub(lambda m: f"{m['head']}:{MASK}@", text, count=1)
    return _QUERY_PASSWORD.sub(lambda m: f"{m['key']}{MASK}", text)


# any URL's user:password@ inside free text (a library's message or log line): the password runs to the last
# "@" before the next blank or quote
_TEXT_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@?#'\"]*):(?P<password>[^\s'\"]*)@")
_TEXT_QUERY_PASSWORD = re.compile(r"(?i)(?P<key>[?&]password=)(?P<password>[^&#\s'\"]*)")


def scrub(text: str) -> str:
    """``text`` (any message, log line or traceback) with the password of every URL in it masked.

    What :func:`redact` does for one URL, done for all the URLs a library's exception or log line quotes
    (MLflow's "API request to http://user:s3cret@host/api/... failed").

    >>> scrub("API request to http://user:s3cret@127.0.0.1:1/api/2.0 failed; see postgresql://a:b@db/x")
    'API request to http://user:***@127.0.0.1:1/api/2.0 failed; see postgresql://a:***@db/x'
    """
    # the placeholder of automl's own hints (postgresql+psycopg2://USER:PASSWORD@HOST...) stays as written
    text = _TEXT_USERINFO.sub(lambda m: m[0] if m["password"] == "PASSWORD" else f"{m['head']}:{MASK}@", str(text))
    return _TEXT_QUERY_PASSWORD.sub(lambda m: f"{m['key']}{MASK}", text)


def scrub_logs() -> None:
    """Mask URL passwords in every log record made from now on, whichever library logs it (MLflow warns
    "API request to http://user:s3cret@... failed" on each retry). Installed once, by ``import automl``."""
    import logging

    make = logging.getLogRecordFactory()
    if getattr(make, "automl_scrubs", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a record whose arguments do not format: the handler reports it, as it would
            return record
        if "://" in message:
            record.msg, record.args = scrub(message), ()
        return record

    factory.automl_scrubs = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def _passwords(url: str) -> list[str]:
    """The password of ``url`` as written and percent-decoded (what a driver's message might quote)."""
    from urllib.parse import unquote

    found = [m["password"] for m in (_USERINFO.match(url), *_QUERY_PASSWORD.finditer(url)) if m and m["password"]]
    return sorted({p for raw in found for p in (raw, unquote(raw))}, key=len, reverse=True)


def hide_password(text: str, url: str) -> str:
    """``text`` (an error message) with ``url`` redacted and any copy of its password masked."""
    text = text.replace(url, redact(url))
    for password in _passwords(url):
        text = text.replace(password, MASK)
    return text


def is_server_database(url: str) -> bool:
    """A database URL other than SQLite (PostgreSQL, MySQL): no file, no lock, a driver to import.

    >>> is_server_database("postgresql+psycopg2://db/automl"), is_server_database("sqlite:///mlruns/optuna.db")
    (True, False)
    """
    scheme = str(url).split("://", 1)[0].lower() if "://" in str(url) else ""
    return bool(scheme) and not scheme.startswith("sqlite") and scheme.split("+")[0] not in (
        "http", "https", "file", "databricks", "mlflow-artifacts")


def driver_problem(url: str) -> str | None:
    """Why ``url`` cannot be opened before any connection: an unknown database or a driver not installed.

    None for SQLite and when the driver imports; a value that is no URL at all is a problem too. The message
    starts with the redacted URL and says what to install, e.g. ``postgresql+psycopg2://automl:***@db/automl:
    needs the database driver psycopg2, which is not installed: pip install "automl[postgres]"``.
    """
    if "://" not in str(url):  # SQLAlchemy's own words quote the whole value, password and all
        return (f"{redact(url)}: not a database URL: write sqlite:///PATH.db or "
                "postgresql+psycopg2://USER:PASSWORD@HOST:PORT/DATABASE")
    if not is_server_database(url):
        return None
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    shown_url = redact(url)
    try:
        dialect = make_url(url).get_dialect()
    except NoSuchModuleError:
        scheme = url.split("://", 1)[0]
        return (f"{shown_url}: SQLAlchemy knows no database '{scheme}': write "
                "postgresql+psycopg2://USER:PASSWORD@HOST:PORT/DATABASE")
    except (ArgumentError, ValueError) as exc:
        return f"{shown_url}: not a database URL ({hide_password(str(exc), url)})"
    try:
        dialect.import_dbapi()
    except ImportError:
        driver = str(dialect.driver)
        how = _DRIVER_INSTALL.get(driver, f"pip install the {driver} package (automl is tested on PostgreSQL: "
                                          f"postgresql+psycopg2://... with {_DRIVER_INSTALL['psycopg2']})")
        return f"{shown_url}: needs the database driver {driver}, which is not installed: {how}"
    return None


def unreachable(exc: BaseException, url: str) -> str | None:
    """One line for a server database that refused or failed the connection (host, port, user, password), or
    None when ``exc`` is something else. The URL and the driver's message are shown with the password masked.
    """
    if not is_server_database(url) or "OperationalError" not in {c.__name__ for c in type(exc).__mro__}:
        return None
    cause = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's error
    words = " ".join(str(cause).split()) or type(cause).__name__
    words = re.sub(r"\(Background on this error at: [^)]*\)", "", words).strip()
    return f"{redact(url)}: cannot connect ({hide_password(words, url)[:300]}): check the host, port, user and password"


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


def not_made_yet(url: str) -> bool:
    """Whether ``url`` names a SQLite store whose file does not exist: it holds no study, and a command that only
    reads must not make it (opening it would).

    >>> not_made_yet("sqlite:///no/such/folder/optuna.db"), not_made_yet("postgresql://db/automl")
    (True, False)
    """
    file = sqlite_file(url)
    return file is not None and not file.exists()


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


@contextmanager
def database_lock(url: str, name: str) -> Iterator[None]:
    """Hold the lock of study ``name`` in the storage ``url`` across processes and hosts: what makes a study's
    budget reservation (count the trials, then ask one) and its creation by several workers atomic.

    PostgreSQL: a session advisory lock (``pg_advisory_lock``) on a connection of its own, released when the
    block ends or the process dies (the server drops the connection). SQLite: :func:`store_lock` (one host).
    Other databases are not tested with several workers: a StudyError.

    >>> with database_lock("postgresql+psycopg2://automl:pw@db/automl", "quickstart"):  # doctest: +SKIP
    ...     ...  # count, then ask
    """
    if sqlite_file(url) is not None:
        with store_lock(url):
            yield
        return
    if not url.startswith(("postgresql:", "postgresql+")):
        raise StudyError(f"{redact(url)}: a study budget and `automl worker` need a PostgreSQL (or, on one host, "
                         "SQLite) storage")
    import hashlib

    import sqlalchemy

    key = int.from_bytes(hashlib.sha256(f"automl-study:{name}".encode()).digest()[:8], "big", signed=True)
    if url not in _LOCK_ENGINES:  # one pooled connection per process: a new one (scram auth) costs ~40 ms
        _LOCK_ENGINES[url] = sqlalchemy.create_engine(url, pool_size=1, max_overflow=4, pool_pre_ping=True)
    try:
        conn = retrying(_LOCK_ENGINES[url].connect)
    except Exception as exc:
        message = unreachable(exc, url)
        if message is None:
            raise
        raise StudyError(message) from None
    with conn:
        conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": key})
        conn.commit()  # the lock is the session's: it outlives the transaction
        try:
            yield
        finally:
            conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"), {"key": key})
            conn.commit()


#: database_lock's connection pools, by URL (a process that dies drops its connections, and its locks with them)
_LOCK_ENGINES: dict[str, Any] = {}
