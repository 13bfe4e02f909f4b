"""
Only one scheduler bills at a time, across processes and machines: the one holding the leader
lock. On PostgreSQL it is a session-level advisory lock held on a connection of its own (it goes
away with the process, so a standby takes over); on SQLite a file lock beside the database.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Protocol

from django.db import connection

logger = logging.getLogger(__name__)

# Any fixed number below 2**31 ("BILL"): pg_locks then shows it as objid with classid 0.
ADVISORY_LOCK_KEY = 0x42494C4C


class LeaderLock(Protocol):
    def acquire(self) -> bool: ...

    def still_held(self) -> bool: ...

    def release(self) -> None: ...


class PostgresLeaderLock:
    def __init__(self) -> None:
        self._connection: Any = None

    def acquire(self) -> bool:
        import psycopg

        if self._connection is not None:
            return True
        params = connection.get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        conn = psycopg.connect(**params, autocommit=True)
        (locked,) = conn.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_LOCK_KEY]).fetchone()
        if not locked:
            conn.close()
            return False
        self._connection = conn
        return True

    def still_held(self) -> bool:
        if self._connection is None:
            return False
        try:
            self._connection.execute("SELECT 1")
        except Exception:
            logger.exception("The scheduler's lock connection was lost")
            self._connection = None
            return False
        return True

    def release(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()  # ends the session: the advisory lock goes with it
            finally:
                self._connection = None

    @staticmethod
    def held_anywhere() -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
                " WHERE l.locktype = 'advisory' AND l.classid = 0 AND l.objid = %s"
                " AND l.objsubid = 1 AND l.granted AND d.datname = current_database())",
                [ADVISORY_LOCK_KEY],
            )
            return bool(cursor.fetchone()[0])


def lock_file_path() -> Path:
    name = str(connection.settings_dict["NAME"])
    if connection.is_in_memory_db():
        # An in-memory database lives in one process: so does its lock.
        digest = hashlib.sha256(f"{os.getpid()}:{name}".encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"billing-scheduler-{digest}.lock"
    return Path(f"{name}.scheduler.lock")


class FileLeaderLock:
    def __init__(self, path: Path | None = None) -> None:
        self._path = path or lock_file_path()
        self._file: Any = None

    def acquire(self) -> bool:
        if self._file is not None:
            return True
        self._path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self._path, "a+")  # noqa: SIM115 (held open while leading)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._file = handle
        return True

    def still_held(self) -> bool:
        return self._file is not None

    def release(self) -> None:
        if self._file is not None:
            try:
                fcntl.flock(self._file, fcntl.LOCK_UN)
                self._file.close()
            finally:
                self._file = None

    @staticmethod
    def held_anywhere() -> bool:
        probe = FileLeaderLock()
        if probe.acquire():
            probe.release()
            return False
        return True


def leader_lock() -> LeaderLock:
    return PostgresLeaderLock() if connection.vendor == "postgresql" else FileLeaderLock()


def leader_lock_held_anywhere() -> bool:
    """Whether some process (this one included) holds the scheduler's lock."""
    if connection.vendor == "postgresql":
        return PostgresLeaderLock.held_anywhere()
    return FileLeaderLock.held_anywhere()
