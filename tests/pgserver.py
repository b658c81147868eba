"""A throwaway real PostgreSQL server for the test suite.

Usage::

    bin_dir = find_pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) not found")
    with PostgresServer(tmp_path) as pg:
        url = pg.create_database("lianfu_test")  # SQLAlchemy URL (psycopg 3)

The cluster exists only to be thrown away: it listens on 127.0.0.1 only,
trusts every loopback connection, and runs with fsync, synchronous_commit
and full_page_writes off. Never point it at data you want to keep.

PostgreSQL refuses to run as root. When the tests run as root, initdb,
pg_ctl and postgres run as the ``postgres`` system user through ``runuser``,
and the cluster's directory is owned by that user.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

__all__ = ["PostgresServer", "PostgresStartError", "find_pg_bin"]

SUPERUSER = "postgres"
RUN_AS_WHEN_ROOT = "postgres"

#: Candidate directories, most preferred first, after $LIANFU_PG_BIN and $PATH.
_PG_BIN_GLOBS = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin")

#: A Unix socket path (sun_path) holds at most 107 bytes on Linux.
_MAX_SOCKET_PATH = 100

_LOG_TAIL_LINES = 40


class PostgresStartError(RuntimeError):
    """The server could not be initialised or started."""


def _has_tools(directory: Path) -> bool:
    return all(os.access(directory / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres"))


def find_pg_bin() -> Path | None:
    """Return the directory holding ``initdb``, ``pg_ctl`` and ``postgres``, or None.

    ``$LIANFU_PG_BIN`` wins when set. Otherwise ``pg_ctl`` on ``$PATH`` (symlinks
    resolved, so /usr/local/bin links lead to the real bin directory), then the
    usual Debian and RPM locations.
    """
    override = os.environ.get("LIANFU_PG_BIN")
    if override:
        path = Path(override)
        return path if _has_tools(path) else None

    candidates: list[Path] = []
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
        candidates.append(Path(on_path).parent)
    for pattern in _PG_BIN_GLOBS:
        if "*" in pattern:
            root = Path("/")
            candidates.extend(sorted(root.glob(pattern.lstrip("/")), reverse=True))
        else:
            candidates.append(Path(pattern))
    for candidate in candidates:
        if candidate.is_dir() and _has_tools(candidate):
            return candidate
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"(no server log at {path}: {exc})"
    return "\n".join(text.splitlines()[-lines:]) or "(server log is empty)"


class PostgresServer:
    """A disposable PostgreSQL cluster under ``base_dir``.

    ``start()`` creates a private directory ``base_dir/pg-XXXXXXXX`` holding the
    data directory (``data/``), the server log (``server.log``) and the Unix
    socket; ``stop()`` stops the server and removes that directory again.
    """

    def __init__(self, base_dir: Path, port: int | None = None, settings: dict[str, str] | None = None) -> None:
        """`settings`: postgresql.conf lines of the caller's, over the suite's (e.g. ``synchronous_commit = on``
        where a commit must survive the server being stopped as by a crash)."""
        self.base_dir = Path(base_dir).absolute()
        self.settings = dict(settings or {})
        self._port_fixed = port is not None
        self.port: int = port if port is not None else _free_port()
        self.host = "127.0.0.1"
        self.user = SUPERUSER
        self.bin_dir: Path | None = None
        self.workdir: Path | None = None
        self.data_dir: Path | None = None
        self.log_file: Path | None = None
        self.socket_dir: Path | None = None
        self._running = False
        self._run_as: pwd.struct_passwd | None = None

    # ------------------------------------------------------------------ URLs

    def url(self, dbname: str = "postgres") -> str:
        """SQLAlchemy URL (psycopg 3 driver) for ``dbname``."""
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{dbname}"

    def dsn(self, dbname: str = "postgres") -> str:
        """libpq connection URI for ``dbname`` (for ``psycopg.connect``)."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{dbname}"

    @property
    def running(self) -> bool:
        return self._running

    # ------------------------------------------------------------- lifecycle

    def start(self) -> None:
        if self._running:
            return
        bin_dir = find_pg_bin()
        if bin_dir is None:
            raise PostgresStartError("PostgreSQL binaries (initdb, pg_ctl, postgres) not found")
        self.bin_dir = bin_dir
        self._run_as = self._target_user()
        self._make_workdir()
        try:
            self._initdb()
            self._configure()
            attempts = 1 if self._port_fixed else 3
            for attempt in range(attempts):
                try:
                    self._pg_ctl_start()
                    break
                except PostgresStartError:
                    # An automatically chosen port may have been taken between
                    # choosing and binding it; try another one.
                    if attempt + 1 == attempts or "could not bind" not in _tail(self._log):
                        raise
                    self.port = _free_port()
                    self._write_runtime_conf()
            self._running = True
            atexit.register(self.stop)
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop immediately (no checkpoint: the data is thrown away) and clean up."""
        with contextlib.suppress(ValueError):
            atexit.unregister(self.stop)
        if self.data_dir is not None and (self.data_dir / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                self._run(
                    [self._tool("pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "immediate", "-w", "-t", "30"],
                    check=False,
                    timeout=60,
                )
        self._running = False
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
            self.data_dir = None
            self.socket_dir = None

    def halt(self) -> None:
        """Stop the server at once (as a crash would: no checkpoint), keeping its data directory for `resume`."""
        if not self._running or self.data_dir is None:
            return
        self._run([self._tool("pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "immediate", "-w", "-t", "30"],
                  check=False, timeout=60)
        self._running = False

    def resume(self) -> None:
        """Start again, on the same port and data, a server stopped by `halt`; returns once it takes connections."""
        if self._running:
            return
        self._pg_ctl_start()
        self._running = True
        self._wait_until_ready()

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------- databases

    def connect(self, dbname: str = "postgres"):  # -> psycopg.Connection
        import psycopg

        return psycopg.connect(self.dsn(dbname), autocommit=True, connect_timeout=10)

    def create_database(self, name: str) -> str:
        """(Re)create database ``name`` and return its SQLAlchemy URL."""
        from psycopg import sql

        if not self._running:
            raise RuntimeError("PostgresServer is not running; call start() first")
        ident = sql.Identifier(name)
        with self.connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
            conn.execute(sql.SQL("CREATE DATABASE {} ENCODING 'UTF8' TEMPLATE template0").format(ident))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        from psycopg import sql

        with self.connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    # --------------------------------------------------------------- helpers

    @property
    def _log(self) -> Path:
        assert self.log_file is not None
        return self.log_file

    def _tool(self, name: str) -> str:
        assert self.bin_dir is not None
        return str(self.bin_dir / name)

    @staticmethod
    def _target_user() -> pwd.struct_passwd | None:
        """The account the server runs as when we are root; None otherwise."""
        if os.geteuid() != 0:
            return None
        if shutil.which("runuser") is None:  # pragma: no cover - util-linux is everywhere
            raise PostgresStartError("running as root but runuser(1) is not available")
        try:
            return pwd.getpwnam(RUN_AS_WHEN_ROOT)
        except KeyError:
            raise PostgresStartError(
                f"running as root but there is no {RUN_AS_WHEN_ROOT!r} system user to run PostgreSQL as"
            ) from None

    def _can_traverse(self, path: Path, account: pwd.struct_passwd) -> bool:
        st = path.stat()
        if st.st_uid == account.pw_uid:
            return bool(st.st_mode & stat.S_IXUSR)
        if st.st_gid in os.getgrouplist(account.pw_name, account.pw_gid):
            return bool(st.st_mode & stat.S_IXGRP)
        return bool(st.st_mode & stat.S_IXOTH)

    def _make_reachable(self, directory: Path, account: pwd.struct_passwd) -> bool:
        """Let ``account`` traverse into ``directory``.

        Directories under the system temp dir (e.g. pytest's 0700
        /tmp/pytest-of-root) get the search bit for others — not the read bit,
        so their listings stay private. Anything outside the temp dir is left
        alone; returns False if it blocks the way.
        """
        tmp_root = Path(tempfile.gettempdir()).resolve()
        for path in reversed([directory, *directory.parents]):
            if self._can_traverse(path, account):
                continue
            if path != tmp_root and tmp_root in path.parents and path.stat().st_uid == os.geteuid():
                path.chmod(stat.S_IMODE(path.stat().st_mode) | stat.S_IXOTH)
            else:
                return False
        return True

    def _make_workdir(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        parent = self.base_dir
        account = self._run_as
        if account is not None and not self._make_reachable(parent.resolve(), account):
            # base_dir is inside something like /root: fall back to the temp dir.
            parent = Path(tempfile.gettempdir())
        workdir = Path(tempfile.mkdtemp(prefix="pg-", dir=parent))
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.log_file = workdir / "server.log"
        self.data_dir.mkdir(mode=0o700)
        self.log_file.touch(mode=0o600)
        socket_path = workdir / f".s.PGSQL.{self.port:05d}"
        self.socket_dir = workdir if len(str(socket_path).encode()) <= _MAX_SOCKET_PATH else None
        if account is not None:
            for path in (workdir, self.data_dir, self.log_file):
                os.chown(path, account.pw_uid, account.pw_gid)

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C.UTF-8"
        env["LANG"] = "C.UTF-8"
        env["TZ"] = "UTC"
        return env

    def _run(self, argv: list[str], *, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        if self._run_as is not None:
            argv = ["runuser", "-u", self._run_as.pw_name, "--", *argv]
        result = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=self._env(),
            cwd=self.workdir,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise PostgresStartError(
                f"{' '.join(argv)} failed with exit code {result.returncode}\n"
                f"--- stdout ---\n{result.stdout.strip()}\n--- stderr ---\n{result.stderr.strip()}\n"
                f"--- server log ({self.log_file}) ---\n{_tail(self._log)}"
            )
        return result

    def _initdb(self) -> None:
        assert self.data_dir is not None
        base = [
            self._tool("initdb"),
            "-D", str(self.data_dir),
            "-U", SUPERUSER,
            "-E", "UTF8",
            "--auth=trust",
            "--no-sync",
            "--no-instructions",
        ]  # fmt: skip
        try:
            self._run([*base, "--locale=C.UTF-8"])
        except PostgresStartError as exc:
            if "locale" not in str(exc).lower():
                raise
            # No C.UTF-8 locale on this system: empty the data dir, use plain C.
            for child in self.data_dir.iterdir():
                if child.is_dir():
                    shutil.rmtree(child)
                else:
                    child.unlink()
            self._run([*base, "--locale=C"])

    def _configure(self) -> None:
        assert self.data_dir is not None
        # Trust, but only for the Unix socket and IPv4 loopback.
        (self.data_dir / "pg_hba.conf").write_text(
            "# Throwaway test cluster: trust local and loopback connections only.\n"
            "local   all   all                 trust\n"
            "host    all   all   127.0.0.1/32  trust\n",
            encoding="utf-8",
        )
        conf = self.data_dir / "postgresql.conf"
        with conf.open("a", encoding="utf-8") as fh:
            fh.write(
                "\n# --- lianfu test suite ---\n"
                "include_if_exists = 'lianfu_runtime.conf'\n"
                "listen_addresses = '127.0.0.1'\n"
                "fsync = off\n"
                "synchronous_commit = off\n"
                "full_page_writes = off\n"
                "max_connections = 200\n"
                "shared_buffers = 64MB\n"
                "max_wal_size = 1GB\n"
                "checkpoint_timeout = 30min\n"
                "log_min_messages = warning\n"
                "log_min_error_statement = error\n"
                "timezone = 'UTC'\n"
            )
            for name, value in self.settings.items():
                fh.write(f"{name} = {value}\n")
        self._write_runtime_conf()

    def _write_runtime_conf(self) -> None:
        assert self.data_dir is not None
        socket_dir = str(self.socket_dir) if self.socket_dir is not None else ""
        runtime = self.data_dir / "lianfu_runtime.conf"
        runtime.write_text(
            f"port = {self.port}\nunix_socket_directories = '{socket_dir}'\n",
            encoding="utf-8",
        )
        if self._run_as is not None:
            for path in (runtime, self.data_dir / "pg_hba.conf", self.data_dir / "postgresql.conf"):
                os.chown(path, self._run_as.pw_uid, self._run_as.pw_gid)

    def _pg_ctl_start(self) -> None:
        assert self.data_dir is not None
        self._run(
            [
                self._tool("pg_ctl"), "start",
                "-D", str(self.data_dir),
                "-l", str(self.log_file),
                "-w", "-t", "60",
            ],
            timeout=90,
        )  # fmt: skip

    def _wait_until_ready(self, timeout: float = 30.0) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(self.dsn(), connect_timeout=3) as conn:
                    conn.execute("select 1")
                return
            except psycopg.OperationalError as exc:
                last_error = exc
                time.sleep(0.1)
        raise PostgresStartError(
            f"PostgreSQL on {self.host}:{self.port} did not accept connections within {timeout:.0f}s: "
            f"{last_error}\n--- server log ({self.log_file}) ---\n{_tail(self._log)}"
        )
