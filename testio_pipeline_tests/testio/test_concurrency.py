"""Every call sharing a client shares its request slots: the in-flight bound is global."""

from __future__ import annotations

import asyncio

from .fake_api import FakeTestIO, make_client, make_tests, run


def test_listings_bisections_catalogs_and_bugs_together_stay_within_max_in_flight() -> None:
    tests = {pid: make_tests(120, first_id=pid * 1000) for pid in (1, 2, 3)}
    poisoned = {tests[pid][i]["id"] for pid in (1, 2) for i in (5, 6, 61)}
    sections = [{"id": sid} for sid in range(10, 18)]
    product = {"id": 4, "sections": sections, "sections_with_default": sections}
    api = FakeTestIO(
        tests=tests,
        poisoned=poisoned,
        features={(4, s["id"]): [{"id": 500 + s["id"], "title": "f"}] for s in sections},
        bugs={t["id"]: [{"id": t["id"] * 10, "test": {"id": t["id"]}}] for t in tests[3]},
    )

    async def scenario() -> tuple[int, int, int, int]:
        async with make_client(api, max_in_flight=3, tests_pages_ahead=4, bug_batch_size=2) as client:
            async def listed(pid: int) -> int:
                return sum([len(page) async for page in client.iter_tests(pid)])

            async def bugs() -> int:
                ids = [t["id"] for t in tests[3]]
                return sum([b.bug_count async for b in client.iter_bug_bodies(ids)])

            counts = await asyncio.gather(
                listed(1), listed(2), client.fetch_feature_catalog(product), bugs(),
            )
            return counts[0], counts[1], len(counts[2].features), counts[3]

    assert run(scenario()) == (117, 117, 8, 120)
    assert api.peak_in_flight == 3
