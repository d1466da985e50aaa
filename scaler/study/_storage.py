"""Storage: Optuna's RDBStorage with heartbeats and retries, and the cross-worker lock that makes n_trials global.

The claim lock serialises, across every worker of one study, the short moment between counting
the study's trials and creating the next one (Optuna's `ask`). It is held for milliseconds, never
during training, and it dies with its holder:

- PostgreSQL: a session-level advisory lock (`pg_advisory_lock`) on a key hashed from the
  study name, taken on a connection of its own; the server drops it when that connection closes.
- MySQL: `GET_LOCK(name)`, likewise tied to a connection.
- SQLite: an exclusive `flock` on `<database>.lock` next to the file; the kernel drops it when
  the process dies. (SQLite is for workers on one machine.)
- anything else (or an in-memory SQLite): a process-local lock, so `n_trials` is only exact for
  the workers of one process; a warning says so.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import sqlite3
import threading
import warnings
from pathlib import Path
from typing import Any, Iterator

import optuna
import sqlalchemy
from sqlalchemy.engine import make_url

from scaler.errors import ConfigError

__all__ = ["open_storage", "ClaimLock", "claim_lock", "sqlite_path", "retry_callback", "check_storage_url",
           "safe_url"]


def sqlite_path(url: str) -> Path | None:
    """The database file of a sqlite URL (None for other URLs and in-memory SQLite)."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def retry_callback(max_retry: int) -> optuna.storages.RetryHeartbeatStaleTrialCallback:
    """Re-queue a trial whose worker died (its heartbeat went stale), keeping its intermediate values."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry, inherit_intermediate_values=True)


def _sqlite_connect(path: str) -> sqlite3.Connection:
    """A connection to a study's SQLite file in WAL mode with synchronous=NORMAL.

    Optuna writes each user attribute in its own transaction; with SQLite's default rollback
    journal every one of them is two fsyncs (~20 ms here), which alone would make the search
    overhead several percent of a short trial. WAL + NORMAL commits without an fsync (~1.5 ms) and
    still never corrupts the file; a power cut may lose the last commits, not a dead worker.
    Workers on one machine share the file, so a writer waits up to 60 s for another.
    """
    conn = sqlite3.connect(path, timeout=60, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def _normalise(url: str) -> str:
    """postgresql:// and postgres:// use psycopg2 explicitly (the one driver installed with the extra)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix):]
    return url


def safe_url(url: str) -> str:
    """A URL as it may be printed: without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sqlalchemy.exc.ArgumentError:
        return url


def check_storage_url(url: str, where: str = "storage") -> str:
    """`url` itself when SQLAlchemy knows its scheme and its driver is installed here; else a one-line ConfigError.

    Checked before anything is opened or written, so `mysql://...` without a MySQL driver, or a
    misspelt scheme, fails in one line instead of a traceback from deep inside SQLAlchemy.
    """
    valid = "valid: sqlite:///FILE, postgresql://user@host/db, or another SQLAlchemy URL whose driver is installed"
    try:
        parsed = make_url(_normalise(url))
    except sqlalchemy.exc.ArgumentError:
        raise ConfigError(f"{where} = {url!r}: not an SQLAlchemy URL; {valid}") from None
    try:
        dialect = parsed.get_dialect()
    except sqlalchemy.exc.NoSuchModuleError:
        raise ConfigError(f"{where} = {safe_url(url)!r}: unknown database scheme {parsed.drivername!r}; "
                          f"{valid}") from None
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        raise ConfigError(f"{where} = {safe_url(url)!r}: the driver of {parsed.drivername!r} is not installed "
                          f"({exc}); {valid}") from None
    return url


def open_storage(url: str, *, heartbeat_interval: int | None = None, grace_period: int | None = None,
                 max_retry: int = 2) -> optuna.storages.RDBStorage:
    """An RDBStorage for `url`; with a heartbeat, trials of dead workers are failed and retried.

    Args:
        url: any SQLAlchemy URL; a SQLite file's folder is created.
        heartbeat_interval: seconds between a running trial's heartbeats (None: no heartbeat).
        grace_period: seconds without a heartbeat after which a running trial counts as dead.
        max_retry: how many times a dead worker's trial is re-queued (as a WAITING trial with
            system attribute `failed_trial`, see RetryHeartbeatStaleTrialCallback).
    """
    url = _normalise(check_storage_url(url))
    parsed = make_url(url)
    engine_kwargs: dict[str, Any] = {}
    db_file = sqlite_path(url)
    if db_file is not None:
        db_file.parent.mkdir(parents=True, exist_ok=True)
        engine_kwargs["creator"] = functools.partial(_sqlite_connect, str(db_file))
    elif not parsed.drivername.startswith("sqlite"):
        engine_kwargs["pool_pre_ping"] = True
    heartbeat: dict[str, Any] = {}
    if heartbeat_interval is not None:
        heartbeat = {"heartbeat_interval": heartbeat_interval, "grace_period": grace_period,
                     "heartbeat_stale_trial_callback": retry_callback(max_retry)}
    # Several workers starting at once on a fresh database race to create Optuna's tables: the
    # first creates them under the lock, the others find them.
    with _global_lock(url), warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **heartbeat)
        except sqlalchemy.exc.OperationalError as exc:
            raise ConfigError(f"cannot open storage {safe_url(url)}: {_first_line(exc)}") from None


def _first_line(exc: sqlalchemy.exc.DBAPIError) -> str:
    """The driver's own message, first line only (a one-line error)."""
    lines = str(exc.orig).strip().splitlines()
    return lines[0] if lines else type(exc.orig).__name__


def _key(name: str) -> int:
    """A signed 64-bit advisory-lock key for `name`."""
    return int.from_bytes(hashlib.sha1(f"scaler.study:{name}".encode()).digest()[:8], "big", signed=True)


class ClaimLock:
    """A re-acquirable cross-process lock for one study; `release` is idempotent."""

    def __init__(self, url: str, study_name: str) -> None:
        self.url = _normalise(url)
        self.study_name = study_name
        self._held = False
        self._conn: Any = None
        self._engine: Any = None
        self._file: Any = None
        self._local = threading.Lock()
        parsed = make_url(self.url)
        self.backend = parsed.get_backend_name()
        db_file = sqlite_path(self.url)
        if self.backend in ("postgresql", "mysql", "mariadb"):
            self._engine = sqlalchemy.create_engine(self.url, poolclass=sqlalchemy.pool.NullPool)
        elif db_file is not None:
            self._lock_path = db_file.with_name(db_file.name + ".lock")
        elif self.backend == "sqlite":  # in memory: one process, where the thread lock is exact
            self.backend = "local"
        else:
            self.backend = "local"
            warnings.warn(f"storage {parsed.render_as_string(hide_password=True)} has no cross-process lock here: "
                          f"n_trials is exact only for the workers of this process", RuntimeWarning, stacklevel=2)

    def acquire(self) -> None:
        """Block until this worker holds the lock."""
        if self._held:
            return
        self._local.acquire()
        try:
            if self.backend == "postgresql":
                if self._conn is None:
                    self._conn = self._engine.connect()
                self._conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": _key(self.study_name)})
                self._conn.commit()
            elif self.backend in ("mysql", "mariadb"):
                if self._conn is None:
                    self._conn = self._engine.connect()
                self._conn.execute(sqlalchemy.text("SELECT GET_LOCK(:k, -1)"), {"k": f"scaler.{self.study_name}"[:64]})
            elif self.backend == "sqlite":
                import fcntl

                self._file = open(self._lock_path, "a+")  # noqa: SIM115 (held across calls)
                fcntl.flock(self._file.fileno(), fcntl.LOCK_EX)
        except BaseException:
            self._local.release()
            raise
        self._held = True

    def release(self) -> None:
        """Let the next worker claim (no-op when not held)."""
        if not self._held:
            return
        self._held = False
        try:
            if self.backend == "postgresql":
                self._conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": _key(self.study_name)})
                self._conn.commit()
            elif self.backend in ("mysql", "mariadb"):
                self._conn.execute(sqlalchemy.text("SELECT RELEASE_LOCK(:k)"), {"k": f"scaler.{self.study_name}"[:64]})
            elif self.backend == "sqlite":
                import fcntl

                fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
                self._file.close()
                self._file = None
        finally:
            self._local.release()

    def close(self) -> None:
        """Release and drop the lock's connection."""
        self.release()
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._engine is not None:
            self._engine.dispose()

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """`with lock.held():` acquire, then release (unless released inside)."""
        self.acquire()
        try:
            yield
        finally:
            self.release()


def claim_lock(url: str, study_name: str) -> ClaimLock:
    """The claim lock of `study_name` on the storage at `url`."""
    return ClaimLock(url, study_name)


@contextlib.contextmanager
def _global_lock(url: str) -> Iterator[None]:
    """A storage-wide lock around table creation (PostgreSQL and SQLite files; nothing elsewhere)."""
    backend = make_url(url).get_backend_name()
    if backend != "postgresql" and sqlite_path(url) is None:
        yield
        return
    lock = ClaimLock(url, "__tables__")
    try:
        lock.acquire()
    except sqlalchemy.exc.OperationalError as exc:
        lock.close()
        raise ConfigError(f"cannot reach storage {safe_url(url)}: {_first_line(exc)}") from None
    try:
        yield
    finally:
        lock.close()
