"""A real Postgres server for the deployment tests: Debian's `postgresql` binaries, a fresh
cluster in a temporary directory (`initdb`), started on a free port (`pg_ctl start`) and
removed afterwards. No mock: Dagster's Postgres storage runs against it as in production."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

# initdb refuses to run as root; Debian's package creates this system user
POSTGRES_SYSTEM_USER = "postgres"
DATABASE = "dagster"
USER = "dagster"


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str
    database: str
    # stops and starts the server (`pg_ctl restart`): every open connection dies
    restart: Callable[[], None] = field(compare=False, repr=False)

    def environment(self) -> dict[str, str]:
        """The variables deploy/dagster.yaml reads (trust authentication: no password)."""
        return {
            "DAGSTER_POSTGRES_HOST": self.host,
            "DAGSTER_POSTGRES_PORT": str(self.port),
            "DAGSTER_POSTGRES_USER": self.user,
            "DAGSTER_POSTGRES_PASSWORD": "",
            "DAGSTER_POSTGRES_DB": self.database,
        }


def postgres_bin_dir() -> Path | None:
    """Where `initdb` and `pg_ctl` are: on PATH, else Debian's versioned directory."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).resolve().parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", POSTGRES_SYSTEM_USER, "--", *command]


@contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        raise RuntimeError("Postgres is not installed: scripts/setup installs Debian's postgresql")
    # outside pytest's tmp dirs: those are private to root, and the server runs as `postgres`
    root = Path(tempfile.mkdtemp(prefix="testio-postgres-"))
    data, sockets = root / "data", root / "sockets"
    sockets.mkdir()
    if os.geteuid() == 0:
        account = pwd.getpwnam(POSTGRES_SYSTEM_USER)
        for path in (root, sockets):
            os.chown(path, account.pw_uid, account.pw_gid)
    port = _free_port()
    run = lambda *command: subprocess.run(  # noqa: E731
        _as_server_user([str(bin_dir / command[0]), *command[1:]]),
        check=True,
        capture_output=True,
        text=True,
    )
    run("initdb", "-D", str(data), "-U", USER, "--auth=trust", "--no-sync", "-E", "UTF8")
    run(
        "pg_ctl", "start", "-w", "-D", str(data), "-l", str(root / "server.log"),
        "-o", f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off",
    )
    try:
        run("createdb", "-h", "127.0.0.1", "-p", str(port), "-U", USER, DATABASE)
        yield PostgresServer(
            host="127.0.0.1", port=port, user=USER, database=DATABASE,
            # with its log file, as at start: the server must not hold run()'s output pipes
            restart=lambda: run(
                "pg_ctl", "restart", "-w", "-m", "fast", "-D", str(data),
                "-l", str(root / "server.log"),
            ),
        )
    finally:
        subprocess.run(
            _as_server_user([str(bin_dir / "pg_ctl"), "stop", "-D", str(data), "-m", "fast", "-w"]),
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)
