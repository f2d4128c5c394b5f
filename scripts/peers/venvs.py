"""A private virtualenv per peer, under `.peers/` (gitignored), so the project's own environment
never gains a peer's dependencies.

A venv is rebuilt only when its pinned requirements or its place change: the venv's path, the
interpreter and the pins are written to a stamp file after a successful install, and a venv
whose stamp differs is deleted and made again (a venv copied or moved elsewhere keeps scripts
whose `#!` line names the old place, and they fail to start).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

PEERS_DIR = Path(__file__).resolve().parents[2] / ".peers"
STAMP = "requirements.stamp"


def ensure_venv(name: str, python: str, requirements: list[str]) -> Path:
    """Return the venv directory `.peers/<name>` with `requirements` installed by `python`'s pip."""
    venv = PEERS_DIR / name
    wanted = "\n".join([str(venv), python, *requirements])
    stamp = venv / STAMP
    if stamp.exists() and stamp.read_text() == wanted:
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    PEERS_DIR.mkdir(exist_ok=True)
    print(f"installing {name} into {venv}: {' '.join(requirements)}", flush=True)
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         *requirements],
        check=True,
    )
    stamp.write_text(wanted)
    return venv
