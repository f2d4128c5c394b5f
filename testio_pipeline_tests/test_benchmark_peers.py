"""The dlt peer's REST API config (scripts/peers/dlt_testio.py) has the shape the benchmark claims,
and a peer that cannot even start is a FAILED run, not a crash of the benchmark.

dlt itself is not installed here (the benchmark installs it into its own venv), so this checks the
plain config: the claims in the README's "Peers" table rest on it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "peers" / "dlt_testio.py"


def load_peer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dlt_testio", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_resource_merges_on_id_in_parallel_with_the_token_header() -> None:
    peer = load_peer()
    config = peer.rest_api_config("http://127.0.0.1:1/customer/v2", "secret")

    assert config["resource_defaults"] == {"write_disposition": "merge", "primary_key": "id",
                                           "parallelized": True}
    assert config["client"]["base_url"] == "http://127.0.0.1:1/customer/v2/"
    assert config["client"]["auth"] == {"type": "api_key", "name": "Authorization",
                                        "api_key": "Token secret", "location": "header"}
    assert [r["name"] for r in config["resources"]] == ["products", "exploratory_tests"]


def test_test_pages_are_per_product_and_stop_at_a_short_page() -> None:
    peer = load_peer()
    tests = peer.rest_api_config("http://x/customer/v2", "t")["resources"][1]["endpoint"]

    assert tests["path"] == "products/{resources.products.id}/exploratory_tests"
    assert tests["data_selector"] == "exploratory_tests"
    assert tests["paginator"]["type"] == peer.SHORT_PAGE_PAGINATOR
    assert tests["paginator"]["page_param"] == "page" and tests["paginator"]["base_page"] == 1
    # the stop is only right when the page size asked for is the one compared against
    assert tests["params"]["per_page"] == tests["paginator"]["page_size"]
    # a page splits into whole bug batches
    assert tests["params"]["per_page"] % peer.BUG_BATCH == 0


def test_bug_batches_cover_every_test_once_with_at_most_15_ids() -> None:
    peer = load_peer()
    ids = list(range(100, 131))

    batches = peer.bug_batches(ids)

    assert [len(b.split(",")) for b in batches] == [15, 15, 1]
    assert [int(i) for b in batches for i in b.split(",")] == ids
    assert peer.bug_batches([]) == []


def test_a_peer_that_cannot_start_is_a_failed_run_with_its_reason(tmp_path: Path) -> None:
    import sys

    sys.path.insert(0, str(SCRIPT.parents[1]))  # `peers` is a package beside benchmark.py
    try:
        from peers.compare import failure_reason, measure
    finally:
        sys.path.remove(str(SCRIPT.parents[1]))
    log = tmp_path / "run.log"
    # e.g. a venv moved after install: its scripts' `#!` names a place that is gone
    code, wall, peak = measure([str(tmp_path / "gone" / "testio-mcp"), "sync"], {}, tmp_path, log)
    assert (code, wall, peak) == (127, 0.0, 0.0)
    assert failure_reason(code, log, {}, {}).startswith("exit 127: cannot start")
