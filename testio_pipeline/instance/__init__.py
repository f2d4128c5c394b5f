"""The project's Dagster instance storage: Dagster's own SQLite (`sqlite.py`, the project's
`.dagster/dagster.yaml`) and Postgres (`postgres.py`, `deploy/dagster.yaml`) storage, each
changed in one respect only, how often it connects. Every event of a run (step start, output,
materialization, check evaluation, log line) is a write to the instance, ~180 per run of the
main job, and Dagster connects anew for each; at the sizes most accounts have, that was most of
a run."""
