"""Freshness policies of every asset, declared in one table.

The windows match the cadence of the schedules in `schedules.py`: the incremental ingest tables
(and the analytics computed from them) are synced every 15 minutes, so they warn after 20 and
fail after 45; the product catalog is synced hourly, so it warns after 1 hour and fails after 2.

`definitions.py` calls `apply_freshness_policies(assets)` once, on the list it hands to
`dg.Definitions`; nothing else in the project sets a freshness policy. An asset that the table
does not cover and that declares no policy of its own is an error at load time, so a new asset
cannot reach the UI without one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import dagster as dg

# scales every window, e.g. 2 for a deployment that syncs half as often; read at load time
FRESHNESS_SCALE_ENV_VAR = "TESTIO_FRESHNESS_SCALE"

ANALYTICS_GROUP = "analytics"
PUBLISH_GROUP = "publish"  # `defs/assets/publish.py`


@dataclass(frozen=True)
class FreshnessWindow:
    """How old an asset's latest materialization may get: WARN at `warn`, FAIL at `fail`."""

    warn: timedelta
    fail: timedelta

    def __post_init__(self) -> None:
        if not timedelta(minutes=1) <= self.warn < self.fail:
            raise ValueError(f"need 1 minute <= warn < fail, got warn={self.warn} fail={self.fail}")

    def scaled(self, factor: float) -> FreshnessWindow:
        """The same window stretched by `factor` (> 0)."""
        if factor <= 0:
            raise ValueError(f"freshness scale must be > 0, got {factor}")
        return FreshnessWindow(warn=self.warn * factor, fail=self.fail * factor)

    def policy(self) -> dg.FreshnessPolicy:
        return dg.FreshnessPolicy.time_window(fail_window=self.fail, warn_window=self.warn)


# synced every 15 minutes by incremental_sync_job: warns when a run is 5 minutes overdue,
# fails when two ticks in a row brought nothing
INCREMENTAL_WINDOW = FreshnessWindow(warn=timedelta(minutes=20), fail=timedelta(minutes=45))
# synced hourly by catalog_sync_job: warns when a run is overdue at all (a slower run than
# the previous one shows WARN for the seconds it is slower), fails when one tick brought nothing
CATALOG_WINDOW = FreshnessWindow(warn=timedelta(hours=1), fail=timedelta(hours=2))

WINDOWS_BY_KEY: Mapping[str, FreshnessWindow] = {
    "products": CATALOG_WINDOW,
    "features": CATALOG_WINDOW,
    "tests": INCREMENTAL_WINDOW,
    "test_features": INCREMENTAL_WINDOW,
    "test_feature_stories": INCREMENTAL_WINDOW,
    "bugs": INCREMENTAL_WINDOW,
    "users": INCREMENTAL_WINDOW,
}
# analytics are recomputed in every incremental run, after the bugs they count
WINDOWS_BY_GROUP: Mapping[str, FreshnessWindow] = {
    ANALYTICS_GROUP: INCREMENTAL_WINDOW,
    # the published file is put in place at the end of every sync run
    PUBLISH_GROUP: INCREMENTAL_WINDOW,
}

AssetsT = TypeVar("AssetsT")


class MissingFreshnessPolicyError(ValueError):
    """Raised when an asset is neither in the freshness table nor carries its own policy."""


def freshness_scale_from_env(environ: Mapping[str, str] | None = None) -> float:
    """The window multiplier from `TESTIO_FRESHNESS_SCALE` (default 1.0)."""
    from testio_pipeline.defs.environment import read_setting

    scale = read_setting(FRESHNESS_SCALE_ENV_VAR, environ)
    return 1.0 if scale is None else scale


def window_for(
    key: dg.AssetKey,
    group_name: str | None,
    *,
    by_key: Mapping[str, FreshnessWindow] = WINDOWS_BY_KEY,
    by_group: Mapping[str, FreshnessWindow] = WINDOWS_BY_GROUP,
) -> FreshnessWindow | None:
    """The window of one asset: its key's entry first, then its group's, else None."""
    window = by_key.get(key.to_user_string())
    if window is None and group_name is not None:
        window = by_group.get(group_name)
    return window


class _PolicyMapper:
    """Sets the table's policy on one spec at a time and remembers specs it could not cover."""

    def __init__(
        self,
        scale: float | None,
        by_key: Mapping[str, FreshnessWindow],
        by_group: Mapping[str, FreshnessWindow],
    ) -> None:
        self._factor = freshness_scale_from_env() if scale is None else scale
        self._by_key = by_key
        self._by_group = by_group
        self.missing: list[str] = []

    def __call__(self, spec: dg.AssetSpec) -> dg.AssetSpec:
        window = window_for(spec.key, spec.group_name, by_key=self._by_key, by_group=self._by_group)
        if window is None:
            if spec.freshness_policy is None:
                self.missing.append(spec.key.to_user_string())
            return spec
        return dg.apply_freshness_policy(spec, window.scaled(self._factor).policy())

    def raise_if_missing(self) -> None:
        if self.missing:
            raise MissingFreshnessPolicyError(
                f"no freshness policy for {sorted(self.missing)}: add the key to WINDOWS_BY_KEY "
                f"or its group to WINDOWS_BY_GROUP in {__name__}"
            )


def apply_freshness_policies(
    assets: Iterable[AssetsT],
    *,
    scale: float | None = None,
    by_key: Mapping[str, FreshnessWindow] = WINDOWS_BY_KEY,
    by_group: Mapping[str, FreshnessWindow] = WINDOWS_BY_GROUP,
) -> list[AssetsT]:
    """Return `assets` with the table's freshness policy set on every spec they hold.

    The table wins over a policy declared on the asset itself; an asset the table does not
    cover keeps its own policy, and one without any raises `MissingFreshnessPolicyError`.
    `scale` (default: `TESTIO_FRESHNESS_SCALE`, else 1) stretches every window. Objects that
    hold no specs (source assets, cacheable definitions) pass through unchanged.
    """
    mapper = _PolicyMapper(scale, by_key, by_group)
    mapped: list[AssetsT] = []
    for obj in assets:
        if isinstance(obj, dg.AssetsDefinition):
            mapped.append(obj.map_asset_specs(mapper))
        elif isinstance(obj, dg.AssetSpec):
            mapped.append(mapper(obj))
        else:
            mapped.append(obj)
    mapper.raise_if_missing()
    return mapped

