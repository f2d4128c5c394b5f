"""Peer 1: dlt's `rest_api` source loading the TestIO API into DuckDB, in its best configuration.

Best configuration, as dlt documents it for throughput: Parquet loader files, every resource
`parallelized=True`, 20 extract workers, `merge` on the primary keys (so a second run updates
in place instead of appending). What it loads, all written here from the API's docs:
- `products`: one request;
- `exploratory_tests`: per product, `page`/`per_page` pages, stopping at a short page (the API
  sends no total and no next link);
- `bugs`: `filter_test_cycle_ids` with batches of 15 test ids, as testio-mcp does. rest_api's
  dependent resources make one request per parent record, so the batching is a dlt transformer
  on the test pages; `per_page` is 30 so a page splits into two whole batches.

Two halves: `rest_api_config` and the runner side (`command`, `count_rows`) import nothing from
dlt, so the benchmark and a unit test can use them from the project's environment; `main()` runs
inside the peer's own venv (`.peers/dlt`), started by the benchmark as
`.peers/dlt/bin/python scripts/peers/dlt_testio.py run|count WORKDIR`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

NAME = "dlt"
REQUIREMENTS = ["dlt[duckdb,parquet]==1.31.0", "duckdb==2.0.1", "pyarrow==26.0.1"]
TESTS_PER_PAGE = 30
BUG_BATCH = 15
EXTRACT_WORKERS = 20
SHORT_PAGE_PAGINATOR = "short_page_number"
DATASET = "testio"
# table name in the peer's warehouse for each ground-truth count it is checked against
TABLES = {"products": "products", "tests": "exploratory_tests", "bugs": "bugs"}


def rest_api_config(base_url: str, token: str) -> dict[str, Any]:
    """The `RESTAPIConfig` for products and per-product test pages (bugs are a transformer)."""
    return {
        "client": {
            "base_url": base_url.rstrip("/") + "/",
            "auth": {"type": "api_key", "name": "Authorization", "api_key": f"Token {token}",
                     "location": "header"},
        },
        "resource_defaults": {"write_disposition": "merge", "primary_key": "id", "parallelized": True},
        "resources": [
            {
                "name": "products",
                "endpoint": {"path": "products", "data_selector": "products", "paginator": "single_page"},
            },
            {
                "name": "exploratory_tests",
                "endpoint": {
                    "path": "products/{resources.products.id}/exploratory_tests",
                    "data_selector": "exploratory_tests",
                    "params": {"per_page": TESTS_PER_PAGE},
                    "paginator": {"type": SHORT_PAGE_PAGINATOR, "base_page": 1, "page_param": "page",
                                  "total_path": None, "page_size": TESTS_PER_PAGE},
                },
            },
        ],
    }


def bug_batches(test_ids: list[int]) -> list[str]:
    """`filter_test_cycle_ids` values: comma-separated, at most `BUG_BATCH` ids each."""
    return [",".join(map(str, test_ids[i:i + BUG_BATCH])) for i in range(0, len(test_ids), BUG_BATCH)]


def prepare() -> Path:
    """The peer's venv, installed on first use (the benchmark's interpreter makes it)."""
    from peers.venvs import ensure_venv

    return ensure_venv(NAME, sys.executable, REQUIREMENTS)


def command(base_url: str, token: str, workdir: Path, in_flight: int, venv: Path
            ) -> tuple[list[str], dict[str, str], Path]:
    """argv, environment and cwd of one load; the token travels in the environment, not argv."""
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(workdir),
        "TESTIO_API_BASE_URL": base_url,
        "TESTIO_API_TOKEN": token,
        "EXTRACT__WORKERS": str(in_flight),
        # no anonymous usage reports: this machine reaches package registries only
        "RUNTIME__DLTHUB_TELEMETRY": "false",
    }
    return [str(venv / "bin" / "python"), __file__, "run", str(workdir)], env, workdir


def count_rows(workdir: Path, venv: Path) -> dict[str, int]:
    """Rows per checked table, read by the peer's own duckdb (the project's may be another version)."""
    import subprocess

    completed = subprocess.run([str(venv / "bin" / "python"), __file__, "count", str(workdir)],
                               capture_output=True, text=True, check=True)
    return json.loads(completed.stdout)


def main() -> None:
    import dlt
    from dlt.sources.helpers.rest_client import RESTClient
    from dlt.sources.helpers.rest_client.auth import APIKeyAuth
    from dlt.sources.helpers.rest_client.paginators import PageNumberPaginator
    from dlt.sources.rest_api import rest_api_resources

    action, workdir = sys.argv[1], Path(sys.argv[2])
    database = workdir / "dlt.duckdb"
    if action == "count":
        import duckdb

        with duckdb.connect(str(database), read_only=True) as con:
            counts = {k: con.execute(f"select count(*) from {DATASET}.{t}").fetchone()[0]
                      for k, t in TABLES.items()}
        print(json.dumps(counts))
        return

    class ShortPageNumberPaginator(PageNumberPaginator):
        """Page numbers that stop at a short page; dlt's own stops only at an empty one."""

        def __init__(self, page_size: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.page_size = page_size

        def _stop_after_this_page(self, data: list[Any] | None = None) -> bool:
            return not data or len(data) < self.page_size

    base_url, token = os.environ["TESTIO_API_BASE_URL"], os.environ["TESTIO_API_TOKEN"]
    config = rest_api_config(base_url, token)
    for resource in config["resources"]:
        # rest_api validates a paginator dict against its own types only: a custom one goes in
        # as an instance
        paginator = resource["endpoint"]["paginator"]
        if isinstance(paginator, dict) and paginator["type"] == SHORT_PAGE_PAGINATOR:
            resource["endpoint"]["paginator"] = ShortPageNumberPaginator(
                **{k: v for k, v in paginator.items() if k != "type"})

    @dlt.transformer(name="bugs", write_disposition="merge", primary_key="id", parallelized=True)
    def bugs(tests_page: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # a plain function, not a generator: dlt runs each call in its worker pool
        client = RESTClient(base_url=base_url.rstrip("/") + "/",
                            auth=APIKeyAuth(name="Authorization", api_key=f"Token {token}"))
        found: list[dict[str, Any]] = []
        for batch in bug_batches([test["id"] for test in tests_page]):
            response = client.get("bugs", params={"filter_test_cycle_ids": batch})
            response.raise_for_status()
            found.extend(response.json()["bugs"])
        return found

    @dlt.source(name="testio")
    def testio() -> list[Any]:
        resources = {r.name: r for r in rest_api_resources(config)}
        tests = resources["exploratory_tests"]
        return [resources["products"], tests, tests | bugs]

    pipeline = dlt.pipeline(
        pipeline_name="testio_peer", pipelines_dir=str(workdir / "pipelines"),
        destination=dlt.destinations.duckdb(str(database)), dataset_name=DATASET,
    )
    info = pipeline.run(testio(), loader_file_format="parquet")
    info.raise_on_failed_jobs()


if __name__ == "__main__":
    main()
