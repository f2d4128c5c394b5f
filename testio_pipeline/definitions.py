"""The one entry point: every asset, check, job, schedule and resource of the project."""

from __future__ import annotations

import dagster as dg

defs = dg.Definitions(assets=[])
