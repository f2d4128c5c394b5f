"""Every `TESTIO_*` environment variable: the one table of what a user can set, checked when the
definitions load.

Each setting names the resource field it configures and how its text is read. A value that
does not parse, or is out of range, fails the definitions at load time with a message naming
the variable (`InvalidSettingError`), instead of every run failing later on a config type
error. The token travels as `dg.EnvVar`, so the UI shows the variable's name, never its value;
the other settings are not secret and are passed as their checked values.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import dagster as dg

SIMULATOR_SIZES = ("small", "medium", "large")


class InvalidSettingError(ValueError):
    """A `TESTIO_*` variable holds a value its setting cannot use."""


@dataclass(frozen=True)
class Setting:
    env: str
    # resource key and field it configures; resource None: read elsewhere (named in `target`)
    resource: str | None
    field: str
    parse: Callable[[str], Any]
    expected: str  # what a valid value looks like, for the error message
    secret: bool = False

    def read(self, raw: str) -> Any:
        try:
            return self.parse(raw.strip())
        except (ValueError, OverflowError) as error:
            raise InvalidSettingError(
                f"{self.env}={'<hidden>' if self.secret else repr(raw)} is not valid: expected "
                f"{self.expected}"
            ) from error


def _number(kind: type, minimum: float, *, inclusive: bool = True) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        value = kind(text)
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(text)
        if value < minimum or (value == minimum and not inclusive):
            raise ValueError(text)
        return value

    return parse


def _text(text: str) -> str:
    if not text:
        raise ValueError("empty")
    return text


def _url(text: str) -> str:
    if not text.startswith(("http://", "https://")) or len(text) < 10:
        raise ValueError(text)
    return text.rstrip("/")


def _existing_file(text: str) -> str:
    if not os.path.isfile(text):
        raise ValueError(text)
    return text


def _simulator_size(text: str) -> str:
    if text in SIMULATOR_SIZES:
        return text
    if float(text) > 0 and math.isfinite(float(text)):
        return text
    raise ValueError(text)


SETTINGS: tuple[Setting, ...] = (
    Setting("TESTIO_API_TOKEN", "testio", "api_token", _text, "the API token", secret=True),
    Setting("TESTIO_API_BASE_URL", "testio", "base_url", _url, "an http(s):// URL"),
    Setting("TESTIO_CUSTOMER_ID", "warehouse", "customer_id", _number(int, 1), "an integer >= 1"),
    # the published file readers open; the pipeline writes `.work/<name>` next to it
    Setting("TESTIO_DUCKDB_PATH", "warehouse", "published_path", _text, "a file path"),
    Setting(
        "TESTIO_DUCKDB_LOCK_WAIT_SECONDS",
        "warehouse",
        "lock_wait_seconds",
        _number(float, 0),
        "a number of seconds >= 0",
    ),
    Setting(
        "TESTIO_MEMORY_BUDGET_MB",
        "warehouse",
        "memory_budget_mb",
        _number(int, 256),
        "a number of megabytes >= 256",
    ),
    Setting("TESTIO_MAX_IN_FLIGHT", "testio", "max_in_flight", _number(int, 1), "an integer >= 1"),
    Setting(
        "TESTIO_MAX_RESPONSE_MB",
        "testio",
        "max_response_mb",
        _number(int, 1),
        "a number of megabytes >= 1",
    ),
    Setting(
        "TESTIO_BUG_BATCH_SIZE", "testio", "bug_batch_size", _number(int, 1), "an integer >= 1"
    ),
    Setting(
        "TESTIO_CATALOG_TTL_MINUTES",
        "sync_options",
        "catalog_ttl_minutes",
        _number(float, 0),
        "a number of minutes >= 0",
    ),
    Setting(
        "TESTIO_SIMULATOR_SIZE",
        "testio",
        "simulator_size",
        _simulator_size,
        "small, medium, large or a positive scale such as 2.5",
    ),
    Setting(
        "TESTIO_SIMULATOR_SEED", "testio", "simulator_seed", _number(int, 0), "an integer >= 0"
    ),
    Setting(
        "TESTIO_FRESHNESS_SCALE",
        None,
        "freshness windows",
        _number(float, 0, inclusive=False),
        "a number > 0",
    ),
    # read by `testio_pipeline.accounts` (a named file that does not exist fails the load)
    Setting(
        "TESTIO_ACCOUNTS_FILE", None, "accounts file", _existing_file, "an existing file's path"
    ),
)
SETTINGS_BY_ENV = {s.env: s for s in SETTINGS}


def resource_config(environ: Mapping[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """{resource key: {field: value}} of the settings that are set (and valid) in `environ`."""
    environ = os.environ if environ is None else environ
    config: dict[str, dict[str, Any]] = {}
    for setting in SETTINGS:
        raw = environ.get(setting.env, "")
        if not raw.strip():
            continue
        value = setting.read(raw)
        if setting.resource is None:
            continue
        config.setdefault(setting.resource, {})[setting.field] = (
            dg.EnvVar(setting.env) if setting.secret else value
        )
    return config


def read_setting(env: str, environ: Mapping[str, str] | None = None) -> Any:
    """One setting's checked value, None when unset."""
    raw = (os.environ if environ is None else environ).get(env, "")
    return SETTINGS_BY_ENV[env].read(raw) if raw.strip() else None
