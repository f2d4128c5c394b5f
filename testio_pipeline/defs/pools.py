"""Dagster pools of the project (limits in `.dagster/dagster.yaml`)."""

# every step that opens the DuckDB file, assets and checks alike: DuckDB allows one writing
# process per file, so the pool has one slot and those steps never overlap across runs
DUCKDB_WRITER_POOL = "duckdb_writer"
