"""Feature catalogs: section detection, per-section dedupe, 422 fallback, failures."""

from __future__ import annotations

from typing import Any

import pytest

from testio_pipeline.testio.errors import TestIOHTTPError, TestIOUnavailableError
from testio_pipeline.testio.feature_catalog import FeatureCatalog

from .fake_api import FakeTestIO, error, make_client, run

UNSECTIONED = {
    "id": 21,
    "name": "Flourish",
    "sections": [],
    "sections_with_default": [{"id": 21855, "name": "default-section"}],
}
SECTIONED = {
    "id": 18559,
    "name": "Canva",
    "sections": [{"id": 22042, "name": "Presentations"}, {"id": 22041, "name": "Editor"}],
    "sections_with_default": [{"id": 22041, "name": "Editor"}, {"id": 22042, "name": "Presentations"}],
}
# remove.bg: sections only visible through sections_with_default
DEFAULT_LIST_ONLY = {
    "id": 24959,
    "name": "remove.bg",
    "sections": [],
    "sections_with_default": [{"id": 1, "name": "Web"}, {"id": 2, "name": "API"}],
}


def feature(feature_id: int, *stories: Any) -> dict[str, Any]:
    return {"id": feature_id, "title": f"F{feature_id}", "description": None, "howtofind": None,
            "user_stories": list(stories)}


def catalog_of(api: FakeTestIO, product: dict[str, Any], **options: Any) -> FeatureCatalog:
    async def scenario() -> FeatureCatalog:
        async with make_client(api, **options) as client:
            return await client.fetch_feature_catalog(product)

    return run(scenario())


def test_a_product_without_sections_uses_the_product_endpoint_once() -> None:
    api = FakeTestIO(features={(21, None): [feature(1, "I can log in"), feature(2)]})
    catalog = catalog_of(api, UNSECTIONED)
    assert (catalog.product_id, catalog.has_sections, catalog.section_ids, catalog.requests) == (
        21, False, (21855,), 1,
    )
    # a lone default section is no real section: the features are listed under none
    assert [(f["id"], f["section_ids"]) for f in catalog.features] == [(1, []), (2, [])]
    assert catalog.features[0]["user_stories"] == ["I can log in"]
    (request,) = api.requests
    assert request.url.path.endswith("/products/21/features")
    assert request.url.params.get_list("includes[]") == ["user_stories"]


def test_features_are_deduplicated_across_sections() -> None:
    api = FakeTestIO(
        features={
            (18559, 22041): [feature(10, "a"), feature(11)],
            (18559, 22042): [feature(11), feature(10, "a", "b"), feature(12)],
            # the whole-product answer must not be used: it cannot say which section lists what
            (18559, None): [feature(10), feature(11), feature(12), feature(13)],
        }
    )
    catalog = catalog_of(api, SECTIONED)
    assert catalog.has_sections and catalog.section_ids == (22041, 22042)
    by_id = {f["id"]: f for f in catalog.features}
    assert sorted(by_id) == [10, 11, 12]
    assert by_id[10]["section_ids"] == [22041, 22042]
    assert by_id[11]["section_ids"] == [22041, 22042]
    assert by_id[12]["section_ids"] == [22042]
    # a section showing more stories for the same feature adds them, without repeats
    assert by_id[10]["user_stories"] == ["a", "b"]
    assert sorted(api.paths()) == [
        "/products/18559/sections/22041/features",
        "/products/18559/sections/22042/features",
    ]
    assert all(r.url.params.get_list("includes[]") == ["user_stories"] for r in api.requests)
    assert catalog.requests == 2


def test_sections_listed_only_with_the_default_count_as_sections() -> None:
    api = FakeTestIO(features={(24959, 1): [feature(5)], (24959, 2): [feature(5), feature(6)]})
    catalog = catalog_of(api, DEFAULT_LIST_ONLY)
    assert catalog.has_sections and catalog.section_ids == (1, 2)
    assert [(f["id"], f["section_ids"]) for f in catalog.features] == [(5, [1, 2]), (6, [2])]


def test_a_422_from_the_product_endpoint_falls_back_to_the_sections() -> None:
    api = FakeTestIO(features={(21, 21855): [feature(1), feature(2)]}, features_422={21})
    catalog = catalog_of(api, UNSECTIONED)
    # the same answer as the product endpoint would have given: still a product without sections
    assert [(f["id"], f["section_ids"]) for f in catalog.features] == [(1, []), (2, [])]
    assert not catalog.has_sections and catalog.section_ids == (21855,)
    assert api.paths() == ["/products/21/features", "/products/21/sections/21855/features"]
    assert catalog.requests == 2


def test_a_422_without_known_sections_raises() -> None:
    product = {"id": 30, "sections": [], "sections_with_default": []}
    api = FakeTestIO(features_422={30})
    with pytest.raises(TestIOHTTPError) as caught:
        catalog_of(api, product)
    assert caught.value.status == 422 and caught.value.api_message == "section_id required"


def test_a_failing_section_fails_the_whole_catalog() -> None:
    api = FakeTestIO(features={(18559, 22041): [feature(10)], (18559, 22042): [feature(11)]})
    api.fail("/products/18559/sections/22042/features", *[error(500, "boom")] * 3)
    with pytest.raises(TestIOUnavailableError) as caught:
        catalog_of(api, SECTIONED, max_attempts=3)
    assert "/products/18559/sections/22042/features" in str(caught.value)
    assert caught.value.endpoint == "GET /products/{product_id}/sections/{section_id}/features"


def test_story_objects_are_passed_through_for_the_models() -> None:
    story = {"id": 60011, "path": "I can tap", "title": "I can tap", "feature_id": 177038}
    api = FakeTestIO(features={(21, None): [feature(177038, story)]})
    (only,) = catalog_of(api, UNSECTIONED).features
    assert only["user_stories"] == [story]


def test_catalog_requests_count_retries() -> None:
    api = FakeTestIO(features={(21, None): [feature(1)]})
    api.fail("/products/21/features", error(503, "busy"))
    assert catalog_of(api, UNSECTIONED).requests == 2
