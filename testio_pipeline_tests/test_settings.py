"""Every documented setting works: set to a valid non-default value it reaches the resource or
option it configures; set to an invalid value it fails when the definitions load, naming the
variable. The README and `.env.example` list exactly the settings of `defs/environment.py`."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from testio_pipeline.definitions import build_resources
from testio_pipeline.defs.environment import SETTINGS, InvalidSettingError
from testio_pipeline.defs.freshness import freshness_scale_from_env

ROOT = Path(__file__).resolve().parents[1]

# a valid value different from the default, and what the resource field then holds
VALID = {
    "TESTIO_API_TOKEN": ("tok-123", None),  # an EnvVar: checked below by name
    "TESTIO_API_BASE_URL": ("http://127.0.0.1:9/customer/v2/", "http://127.0.0.1:9/customer/v2"),
    "TESTIO_CUSTOMER_ID": ("42", 42),
    "TESTIO_DUCKDB_PATH": ("/tmp/elsewhere/w.duckdb", "/tmp/elsewhere/w.duckdb"),
    "TESTIO_DUCKDB_LOCK_WAIT_SECONDS": ("7.5", 7.5),
    "TESTIO_MEMORY_BUDGET_MB": ("2048", 2048),
    "TESTIO_MAX_IN_FLIGHT": ("3", 3),
    "TESTIO_BUG_BATCH_SIZE": ("9", 9),
    "TESTIO_MAX_RESPONSE_MB": ("8", 8),
    "TESTIO_CATALOG_TTL_MINUTES": ("15", 15.0),
    "TESTIO_SIMULATOR_SIZE": ("medium", "medium"),
    "TESTIO_SIMULATOR_SEED": ("7", 7),
    "TESTIO_FRESHNESS_SCALE": ("2.5", 2.5),
    "TESTIO_ACCOUNTS_FILE": (str(ROOT / "accounts.example.yaml"), None),
}
INVALID = {
    "TESTIO_API_BASE_URL": ["api.test.io", "ftp://x"],
    "TESTIO_CUSTOMER_ID": ["abc", "0", "-3", "1.5"],
    "TESTIO_DUCKDB_LOCK_WAIT_SECONDS": ["soon", "-1", "nan"],
    "TESTIO_MEMORY_BUDGET_MB": ["1GB", "100", "-1"],
    "TESTIO_MAX_IN_FLIGHT": ["ten", "0", "-2"],
    "TESTIO_BUG_BATCH_SIZE": ["x", "0"],
    "TESTIO_MAX_RESPONSE_MB": ["big", "0"],
    "TESTIO_CATALOG_TTL_MINUTES": ["hourly", "-5"],
    "TESTIO_SIMULATOR_SIZE": ["huge", "0", "-1"],
    "TESTIO_SIMULATOR_SEED": ["seed", "-1"],
    "TESTIO_FRESHNESS_SCALE": ["0", "-1", "double"],
    "TESTIO_ACCOUNTS_FILE": ["/nonexistent/accounts.yaml"],
}


def test_every_setting_has_a_valid_and_an_invalid_case() -> None:
    names = {s.env for s in SETTINGS}
    assert set(VALID) == names
    assert set(INVALID) == names - {"TESTIO_API_TOKEN", "TESTIO_DUCKDB_PATH"}


def test_every_valid_value_reaches_its_resource_field() -> None:
    environ = {env: raw for env, (raw, _) in VALID.items()}
    resources = build_resources(environ)
    for setting in SETTINGS:
        if setting.resource is None:
            continue
        value = getattr(resources[setting.resource], setting.field)
        if setting.secret:
            # the UI shows the variable's name, never its value
            assert isinstance(value, dg.EnvVar) and value == setting.env, (setting.env, value)
        else:
            assert value == VALID[setting.env][1], (setting.env, value)
    assert freshness_scale_from_env(environ) == 2.5


@pytest.mark.parametrize(
    ("env", "raw"), [(env, raw) for env, values in INVALID.items() for raw in values]
)
def test_an_invalid_value_fails_naming_its_variable(env: str, raw: str) -> None:
    # build_resources reads every setting, freshness included, before it builds anything
    with pytest.raises(InvalidSettingError, match=env):
        build_resources({env: raw})


def test_the_definitions_load_with_every_setting_and_refuse_a_bad_one() -> None:
    # the level a user sets them at: the process environment of a fresh interpreter
    code = (
        "from testio_pipeline.definitions import defs; r = defs.resources; "
        "print(r['warehouse'].lock_wait_seconds, r['sync_options'].catalog_ttl_minutes, "
        "r['testio'].max_in_flight)"
    )
    environ = {env: raw for env, (raw, _) in VALID.items()}
    good = subprocess.run(
        [sys.executable, "-c", code], env={**_base_env(), **environ},
        capture_output=True, text=True, timeout=120,
    )
    assert good.returncode == 0, good.stderr[-2000:]
    assert good.stdout.split() == ["7.5", "15.0", "3"]
    bad = subprocess.run(
        [sys.executable, "-c", code],
        env={**_base_env(), "TESTIO_DUCKDB_LOCK_WAIT_SECONDS": "two minutes"},
        capture_output=True, text=True, timeout=120,
    )
    assert bad.returncode != 0
    assert "TESTIO_DUCKDB_LOCK_WAIT_SECONDS='two minutes' is not valid" in bad.stderr


def _base_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("TESTIO_")}


def test_the_configuration_page_and_env_example_list_every_setting_exactly_once() -> None:
    readme = (ROOT / "docs" / "configuration.md").read_text()
    table = re.findall(r"^\| (`TESTIO_[A-Z_]+`(?:, `TESTIO_[A-Z_]+`)*) \|", readme, re.MULTILINE)
    listed = [name for cell in table for name in re.findall(r"TESTIO_[A-Z_]+", cell)]
    assert sorted(listed) == sorted({s.env for s in SETTINGS}), "README configuration table"
    example = re.findall(r"^# (TESTIO_[A-Z_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE)
    assert sorted(example) == sorted({s.env for s in SETTINGS}), ".env.example"
