"""Peer 2: testio-mcp 1.0.0's `sync --refresh-bugs`, the sync of TestIO's own MCP server.

Its licence forbids copying or redistributing its code, so it is only installed (from PyPI, at
benchmark time, into `.peers/testio-mcp`, gitignored) and run; nothing of it is committed.

Configuration, from its CLI help and its settings (`testio_mcp/config.py`): the base URL, token
and SQLite path come from `TESTIO_CUSTOMER_API_*` / `TESTIO_DB_PATH`; `MAX_CONCURRENT_API_REQUESTS`
and `CONNECTION_POOL_SIZE` are set to the benchmark's in-flight limit; everything else is left at
its defaults. `HOME` is a scratch directory so it reads no `~/.testio-mcp.env`.

One packaging gap: every `sync` first runs `alembic upgrade head` in the working directory, but
the 1.0.0 wheel ships no `alembic.ini` nor migrations, so a bare install fails with "No
'script_location' key found". The sdist of the same version has them; the benchmark downloads it
and runs the sync from the directory holding them, which is how its own repository runs it.
"""

from __future__ import annotations

import glob
import os
import shutil
import sqlite3
import subprocess
import tarfile
from contextlib import closing
from pathlib import Path

from peers.venvs import ensure_venv

NAME = "testio-mcp"
VERSION = "1.0.0"
REQUIREMENTS = [f"testio-mcp=={VERSION}"]
# it requires Python >= 3.12
PYTHON_VERSIONS = ("3.12", "3.13")
TABLES = {"products": "products", "tests": "tests", "bugs": "bugs"}


def find_python() -> str:
    """A Python >= 3.12 on this machine: a pyenv build, else on PATH, else one `uv` knows."""
    candidates: list[str] = []
    for version in PYTHON_VERSIONS:
        candidates += sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}*/bin/python{version}")))
        candidates += [found] if (found := shutil.which(f"python{version}")) else []
        if shutil.which("uv"):
            uv = subprocess.run(["uv", "python", "find", version], capture_output=True, text=True)
            candidates += [uv.stdout.strip()] if uv.returncode == 0 and uv.stdout.strip() else []
    for candidate in candidates:
        # a pyenv shim is on PATH even when it has no such version to run
        works = subprocess.run([candidate, "-c", "import sys, venv; sys.exit(sys.version_info < (3, 12))"],
                               capture_output=True)
        if works.returncode == 0:
            return candidate
    raise RuntimeError(f"testio-mcp {VERSION} needs Python {' or '.join(PYTHON_VERSIONS)}; none found")


def migrations_dir(venv: Path) -> Path:
    """`alembic.ini` and `alembic/` from the sdist of the pinned version, unpacked once."""
    target = venv / "migrations"
    if (target / "alembic.ini").exists():
        return target
    download = venv / "sdist"
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
         "--no-deps", "--no-binary", ":all:", "--dest", str(download), *REQUIREMENTS],
        check=True,
    )
    (archive,) = download.glob("*.tar.gz")
    prefix = f"testio_mcp-{VERSION}/"
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers()
                   if m.name == prefix + "alembic.ini" or m.name.startswith(prefix + "alembic/")]
        for member in members:
            member.name = member.name.removeprefix(prefix)
        tar.extractall(target, members=members, filter="data")
    return target


def prepare() -> Path:
    """The peer's venv (Python >= 3.12) with its migrations beside it, installed on first use."""
    venv = ensure_venv(NAME, find_python(), REQUIREMENTS)
    migrations_dir(venv)
    return venv


def command(base_url: str, token: str, workdir: Path, in_flight: int, venv: Path
            ) -> tuple[list[str], dict[str, str], Path]:
    """argv, environment and cwd of one sync; the token travels in the environment, not argv."""
    env = {
        # `alembic` is looked up on PATH
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(workdir),
        "TESTIO_CUSTOMER_API_BASE_URL": base_url,
        "TESTIO_CUSTOMER_API_TOKEN": token,
        "TESTIO_DB_PATH": str(workdir / "cache.db"),
        "MAX_CONCURRENT_API_REQUESTS": str(in_flight),
        "CONNECTION_POOL_SIZE": str(in_flight),
    }
    argv = [str(venv / "bin" / "testio-mcp"), "sync", "--refresh-bugs", "--yes"]
    return argv, env, migrations_dir(venv)


def count_rows(workdir: Path, venv: Path) -> dict[str, int]:
    """Rows per checked table in its SQLite cache."""
    with closing(sqlite3.connect(workdir / "cache.db")) as con:
        return {k: con.execute(f"select count(*) from {t}").fetchone()[0] for k, t in TABLES.items()}
