"""Accounts as partitions: which account a run syncs, and the resources bound to it.

With an accounts file (`testio_pipeline.accounts`) every asset is partitioned by account: one
static partition per account key. Static rather than dynamic partitions added by a sensor: the
run process needs the file anyway (token variable, base URL, customer id of its partition), the
code location reloads when the file changes, and a static list needs no daemon to exist before
a first run from the CLI. Without a file nothing is partitioned and a run syncs the one account
of the `TESTIO_*` variables.

A run learns its account from its partition tag (`dagster/partition`), which asset steps and
check steps alike carry, and works on resources bound to that account: the API resource with
the account's token, base URL or simulator, the warehouse with its customer id (and its own
file, if the account has one), the sync options with its product filter. Nothing else of a resource changes, so every setting of
the single-account setup applies to each account.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import dagster as dg
from dagster._core.storage.tags import PARTITION_NAME_TAG

from testio_pipeline.accounts import Account, load_accounts
from testio_pipeline.defs.resources import SyncOptionsResource, TestIOResource, WarehouseResource
from testio_pipeline.testio.settings import DEFAULT_BASE_URL, EMBEDDED_SIMULATOR_BASE_URL
from testio_pipeline.warehouse.publish import adopt_published, working_path_for

StepContext = Union[dg.AssetExecutionContext, dg.AssetCheckExecutionContext, dg.OpExecutionContext]


def accounts_partitions(accounts: Sequence[Account]) -> dg.StaticPartitionsDefinition:
    return dg.StaticPartitionsDefinition([account.key for account in accounts])


def partitioned(
    assets: Sequence[dg.AssetsDefinition], partitions: dg.PartitionsDefinition
) -> list[dg.AssetsDefinition]:
    """The same assets, every one partitioned by account."""
    return [
        asset.map_asset_specs(lambda spec: spec.replace_attributes(partitions_def=partitions))
        for asset in assets
    ]


@dataclass(frozen=True)
class AccountResources:
    """The resources of one run, bound to the run's account (or unchanged without accounts)."""

    account: Optional[Account]
    warehouse: WarehouseResource
    testio: Optional[TestIOResource]
    sync_options: SyncOptionsResource

    @property
    def label(self) -> str:
        return self.account.display_name if self.account else "default account"


def run_account(context: StepContext, warehouse: WarehouseResource) -> Optional[Account]:
    """The account of this run's partition; None for an unpartitioned run."""
    key = context.run.tags.get(PARTITION_NAME_TAG)
    if key is None or not warehouse.accounts_file:
        return None
    for account in load_accounts_cached(warehouse.accounts_file):
        if account.key == key:
            return account
    raise dg.Failure(f"account {key!r} is not listed in {warehouse.accounts_file}")


@functools.lru_cache(maxsize=8)
def load_accounts_cached(path: str) -> tuple[Account, ...]:
    # read once per process: every step of a run asks
    return tuple(load_accounts(Path(path)))


def bind_account(
    context: StepContext,
    warehouse: WarehouseResource,
    testio: Optional[TestIOResource] = None,
    sync_options: Optional[SyncOptionsResource] = None,
) -> AccountResources:
    """The resources of this run's account (the warehouse knows the accounts file)."""
    options = sync_options or SyncOptionsResource()
    account = run_account(context, warehouse)
    if account is None:
        return AccountResources(None, warehouse, testio, options)
    if account.duckdb_path:
        # a file of its own: start its working copy from the published one, as the shared
        # file's is when the warehouse resource is set up
        adopt_published(working_path_for(account.duckdb_path), Path(account.duckdb_path))
    return AccountResources(
        account,
        warehouse.model_copy(update=_warehouse_settings(account)),
        testio.model_copy(update=_api_settings(account)) if testio is not None else None,
        # a product filter set for one run narrows further than the account's own
        options
        if options.product_ids or not account.product_ids
        else options.model_copy(update={"product_ids": list(account.product_ids)}),
    )


def _warehouse_settings(account: Account) -> dict[str, object]:
    settings: dict[str, object] = {"customer_id": account.customer_id}
    if account.duckdb_path:
        # readers open this file; the pipeline writes its private working copy next to it
        settings["published_path"] = account.duckdb_path
        settings["path"] = str(working_path_for(account.duckdb_path))
    return settings


def _api_settings(account: Account) -> dict[str, object]:
    settings: dict[str, object] = {
        "simulator_size": account.simulator.size,
        "simulator_seed": account.simulator.seed,
        "api_token": None,
    }
    if account.base_url:
        settings["base_url"] = account.base_url
    elif account.token_env:
        # the deployment's default URL may be the simulator's: a token goes to TestIO only
        settings["base_url"] = DEFAULT_BASE_URL
    else:
        settings["base_url"] = EMBEDDED_SIMULATOR_BASE_URL
    if account.token_env:
        token = os.environ.get(account.token_env)
        if not token:
            # the variable's name only: its value is a secret
            raise dg.Failure(
                f"account {account.key!r}: the environment variable {account.token_env} that "
                "should hold its API token is not set (put it in .env or the deployment's secrets)",
                allow_retries=False,
            )
        settings["api_token"] = token
    return settings
