"""The TestIO accounts of a deployment, read from an accounts file (no Dagster here).

Without a file the deployment syncs one account configured by the `TESTIO_*` variables, as it
always did. With one (`TESTIO_ACCOUNTS_FILE`, else `accounts.yaml` in the working directory
when it exists), every account is a partition of every asset. The file names the environment
variable that holds each account's token, never the token itself:

    accounts:
      - key: acme                    # partition key: letters, digits, `_` and `-`
        customer_id: 1               # stored in every row of this account
        name: Acme QA
        token_env: TESTIO_TOKEN_ACME # unset key: the embedded simulator below
        base_url: https://api.test.io/customer/v2
        product_ids: [101, 102]      # optional: only these products
        simulator: {size: small, seed: 1}
        duckdb_path: data/acme.duckdb  # optional: a warehouse file of its own
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

ACCOUNTS_FILE_ENV = "TESTIO_ACCOUNTS_FILE"
DEFAULT_ACCOUNTS_FILE = "accounts.yaml"
KEY_PATTERN = r"^[A-Za-z0-9_-]+$"


class AccountsFileError(ValueError):
    """The accounts file cannot be used; the message names the file and the problem."""


class SimulatedAccount(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    size: str = "small"
    seed: int = 1


class Account(BaseModel):
    """One TestIO account: where its data comes from and the customer id its rows carry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(pattern=KEY_PATTERN)
    customer_id: int
    name: str = ""
    token_env: Optional[str] = None
    base_url: Optional[str] = None
    product_ids: list[int] = []
    simulator: SimulatedAccount = SimulatedAccount()
    # a file of its own instead of the deployment's shared one (docs/deployment.md)
    duckdb_path: Optional[str] = None

    @property
    def display_name(self) -> str:
        return self.name or self.key


class AccountsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    accounts: list[Account] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> AccountsFile:
        for attribute in ("key", "customer_id"):
            values = [getattr(account, attribute) for account in self.accounts]
            duplicated = sorted({str(v) for v in values if values.count(v) > 1})
            if duplicated:
                # two accounts with one customer id would write into each other's rows
                raise ValueError(f"duplicate account {attribute}: {', '.join(duplicated)}")
        return self


def accounts_file_path(environ: Optional[dict[str, str]] = None) -> Optional[Path]:
    """The accounts file of this deployment, or None for the single-account setup.

    A file named by `TESTIO_ACCOUNTS_FILE` must exist (a typo must not silently fall back to
    one account); the default `accounts.yaml` is used only when present.
    """
    env = os.environ if environ is None else environ
    named = env.get(ACCOUNTS_FILE_ENV)
    if named:
        path = Path(named)
        if not path.is_file():
            raise AccountsFileError(f"{ACCOUNTS_FILE_ENV}={named}: no such file")
        return path
    default = Path(DEFAULT_ACCOUNTS_FILE)
    return default if default.is_file() else None


def load_accounts(path: Path) -> list[Account]:
    """The accounts listed in `path`, validated; raises `AccountsFileError` naming the problem."""
    try:
        document = yaml.safe_load(path.read_text())
        return list(AccountsFile.model_validate(document or {}).accounts)
    except (OSError, yaml.YAMLError, ValidationError) as error:
        raise AccountsFileError(f"accounts file {path}: {error}") from error
