"""The sync: fetch from the TestIO API, stage to Parquet, merge into DuckDB in one transaction.

One module per ingest asset. Nothing here imports Dagster; the assets in `defs/assets/ingest.py`
are thin wrappers that turn a `SyncReport` into materialization metadata.
"""
