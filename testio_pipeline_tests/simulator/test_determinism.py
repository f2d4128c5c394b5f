"""Same seed, size and clock give byte-identical bodies on every endpoint kind."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

import httpx

from testio_pipeline.testio.simulator import Simulator, SimulatorConfig
from testio_pipeline_tests.simulator.conftest import client_for


def _requests(sim: Simulator) -> list[tuple[str, dict]]:
    account, t = sim.account, sim.now_epoch
    sectioned = next(p for p in account.products if p.sections)
    legacy = next(p for p in account.products if not p.has_sections)
    test = account.product_tests_at(sectioned.id, t)[30]
    bug_row = test.bug_lo
    story = next(s for f in legacy.features for s in f.stories)
    ids = ",".join(str(x.id) for x in account.product_tests_at(sectioned.id, t)[:15])
    return [
        ("/products", {}),
        (f"/products/{sectioned.id}", {}),
        (f"/products/{sectioned.id}/features", {}),
        (f"/products/{legacy.id}/features", {"includes[]": "user_stories"}),
        (f"/products/{sectioned.id}/sections/{sectioned.sections[0].id}/features", {}),
        (f"/products/{legacy.id}/user_stories", {}),
        (f"/user_stories/{story.id}", {}),
        (f"/products/{sectioned.id}/exploratory_tests", {}),
        (f"/products/{sectioned.id}/exploratory_tests",
         {"page": 2, "per_page": 25, "includes[]": "user_stories"}),
        (f"/exploratory_tests/{test.id}", {}),
        ("/bugs", {"filter_test_cycle_ids": ids}),
        ("/bugs", {}),
        (f"/bugs/{int(account.bugs.cols['id'][bug_row])}", {}),
        ("/bugs/reject_reasons", {}),
    ]


def _bodies(sim: Simulator) -> list[bytes]:
    with client_for(sim) as client:
        answers = [client.get(path, params=params) for path, params in _requests(sim)]
    assert all(r.status_code in (200, 422) for r in answers), [r.status_code for r in answers]
    return [r.content for r in answers]


def test_same_seed_and_size_give_byte_identical_bodies():
    first, second = Simulator(SimulatorConfig(seed=5)), Simulator(SimulatorConfig(seed=5))
    assert _bodies(first) == _bodies(second)
    first.advance(days=12)
    second.advance(days=12)
    assert _bodies(first) == _bodies(second)


def test_bodies_do_not_depend_on_what_was_requested_before():
    warm, cold = Simulator(SimulatorConfig(seed=6)), Simulator(SimulatorConfig(seed=6))
    _bodies(warm)  # fills the render caches at the old clock
    warm.advance(days=3)
    cold.advance(days=3)
    assert _bodies(warm) == _bodies(cold)


def _kept_equals_rendered_across_time_travel(
    kept: Simulator, rendered: Simulator, fetch: Callable[[Simulator], object]
) -> None:
    """`fetch` and every endpoint kind answer the same from both simulators, before and after
    12 days; what `fetch` answers changed meanwhile (the kept bodies were not simply reused)."""
    before = fetch(kept)
    assert before == fetch(rendered)
    assert _bodies(kept) == _bodies(rendered)
    for sim in (kept, rendered):
        sim.advance(days=12)
    after = fetch(kept)
    assert after != before
    assert after == fetch(rendered)
    assert _bodies(kept) == _bodies(rendered)


def test_kept_bug_bodies_are_the_rendered_ones_before_and_after_time_travel():
    kept, rendered = Simulator(SimulatorConfig(seed=5)), Simulator(SimulatorConfig(seed=5))
    kept.keep_bug_bodies()
    bugs_before = len(kept.account.bugs.cols["id"])

    def all_bugs(sim: Simulator) -> bytes:
        with client_for(sim) as client:
            return client.get("/bugs").content

    # bugs were decided (kept bodies of the other state) and new ones generated (never kept)
    _kept_equals_rendered_across_time_travel(kept, rendered, all_bugs)
    assert len(kept.account.bugs.cols["id"]) > bugs_before


def test_kept_test_bodies_are_the_rendered_ones_before_and_after_time_travel():
    kept, rendered = Simulator(SimulatorConfig(seed=5)), Simulator(SimulatorConfig(seed=5))
    kept.keep_test_bodies()

    def every_listing_page(sim: Simulator) -> list[bytes]:
        pages = []
        with client_for(sim) as client:
            for product in sim.account.products:
                listed = len(sim.account.product_tests_at(product.id, sim.now_epoch))
                for page in range(1, listed // 25 + 2):
                    query = {"page": page, "per_page": 25, "includes[]": "user_stories"}
                    pages.append(
                        client.get(f"/products/{product.id}/exploratory_tests", params=query).content
                    )
        return pages

    # tests changed status, found bugs and were created: kept bodies of changed tests are stale
    _kept_equals_rendered_across_time_travel(kept, rendered, every_listing_page)


def test_different_seeds_give_different_accounts():
    a, b = Simulator(SimulatorConfig(seed=1)), Simulator(SimulatorConfig(seed=2))
    with client_for(a) as ca, client_for(b) as cb:
        assert ca.get("/products").content != cb.get("/products").content


def test_a_float_scale_is_deterministic_too():
    one, two = Simulator(SimulatorConfig(size=0.5, seed=3)), Simulator(SimulatorConfig(size=0.5, seed=3))
    with client_for(one) as c1, client_for(two) as c2:
        assert c1.get("/bugs").content == c2.get("/bugs").content


def test_any_host_works_with_the_transport(sim):
    with httpx.Client(transport=sim.transport, headers={"Authorization": "Token simulator-token"}) as client:
        a = client.get("https://api.test.io/customer/v2/products")
        b = client.get("http://localhost:1/customer/v2/products")
    assert a.status_code == 200 and a.content == b.content


_DIGEST = """
import hashlib
from testio_pipeline.testio.simulator import Simulator, SimulatorConfig
sim = Simulator(SimulatorConfig(seed=3))
sim.advance(days=10)
auth = {"authorization": "Token simulator-token"}
digest = hashlib.sha256()
for product in sim.account.products:
    for path in (f"/products/{product.id}/exploratory_tests", f"/products/{product.id}/user_stories?section_id="
                 + str(product.sections_with_default[0].id)):
        path, _, query = path.partition("?")
        digest.update(sim.handle("GET", "/customer/v2" + path, query, auth).body)
digest.update(sim.handle("GET", "/customer/v2/bugs", "", auth).body)
print(digest.hexdigest())
"""


def test_bodies_are_identical_across_processes_with_different_hash_seeds():
    # the HTTP server runs in another process than the test computing the ground truth
    digests = {
        subprocess.run([sys.executable, "-c", _DIGEST], capture_output=True, text=True, check=True,
                       env={**os.environ, "PYTHONHASHSEED": str(seed)}).stdout
        for seed in (1, 2)
    }
    assert len(digests) == 1 and len(digests.pop().strip()) == 64
