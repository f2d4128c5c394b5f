"""The read path of Customer API v2: routing, auth, quirks of reference §5, JSON bodies.

Transport-agnostic: `Simulator.handle` (used by the in-process httpx transport and by the HTTP
server) routes here with `match_route` and answers with `ApiHandler.respond`; the caller then
waits `delay_seconds` before answering (asynchronously where it can).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from testio_pipeline.testio.simulator import names
from testio_pipeline.testio.simulator.catalog import Product
from testio_pipeline.testio.simulator.config import API_PREFIX, DEFAULT_PER_PAGE, UNPAGED_TESTS_LIMIT
from testio_pipeline.testio.simulator.encode import dumps
from testio_pipeline.testio.simulator.render import feature_json

if TYPE_CHECKING:
    from testio_pipeline.testio.simulator.simulator import Simulator

JSON_TYPE = "application/json; charset=utf-8"
UNKNOWN_ENDPOINT = "unknown"
USER_STORY_PATH = "/user_stories/{user_story_id}"
REJECT_REASONS_PATH = "/bugs/reject_reasons"


@dataclass(slots=True)
class ApiResponse:
    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=lambda: [("content-type", JSON_TYPE)])
    delay_seconds: float = 0.0


class ApiError(Exception):
    """An answer other than 200, with the API's `{"error": ...}` body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_response(status: int, message: str) -> ApiResponse:
    return ApiResponse(status, dumps({"error": message}))


class Query:
    """Query parameters as sent; arrays may come as `k[]=a&k[]=b`, `k=a&k=b` or `k=a,b`."""

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self.items = items

    def get(self, key: str) -> str | None:
        for k, v in self.items:
            if k == key:
                return v
        return None

    def values(self, key: str) -> list[str]:
        found = [v for k, v in self.items if k in (key, key + "[]")]
        return [part.strip() for v in found for part in v.split(",") if part.strip()]

    def ints(self, key: str) -> list[int] | None:
        raw = self.values(key)
        if not raw and all(k not in (key, key + "[]") for k, _ in self.items):
            return None
        try:
            return [int(v) for v in raw]
        except ValueError:
            raise ApiError(400, f"{key} must be a comma-separated list of integers") from None

    def int_or(self, key: str, default: int) -> int:
        raw = self.get(key)
        if raw is None or raw == "":
            return default
        try:
            return int(raw)
        except ValueError:
            raise ApiError(400, f"{key} must be an integer") from None


Route = tuple[re.Pattern[str], str, str]
# endpoint labels as the API reference names them (the same strings as the client's settings,
# stated here: the simulator imports nothing of the pipeline)
ROUTES: list[Route] = [
    (re.compile(r"/products"), "/products", "products"),
    (re.compile(r"/products/(\d+)"), "/products/{product_id}", "product"),
    (re.compile(r"/products/(\d+)/features"), "/products/{product_id}/features", "product_features"),
    (re.compile(r"/products/(\d+)/sections/(\d+)/features"), "/products/{product_id}/sections/{section_id}/features",
     "section_features"),
    (re.compile(r"/products/(\d+)/user_stories"), "/products/{product_id}/user_stories", "user_stories"),
    (re.compile(r"/products/(\d+)/exploratory_tests"), "/products/{product_id}/exploratory_tests", "tests"),
    (re.compile(r"/exploratory_tests/(\d+)"), "/exploratory_tests/{test_id}", "test"),
    (re.compile(r"/bugs"), "/bugs", "bugs"),
    (re.compile(r"/bugs/reject_reasons"), REJECT_REASONS_PATH, "reject_reasons"),
    (re.compile(r"/bugs/(\d+)"), "/bugs/{bug_id}", "bug"),
    (re.compile(r"/user_stories/(\d+)"), USER_STORY_PATH, "user_story"),
]


def match_route(path: str) -> tuple[str, str, tuple[int, ...]] | None:
    """(template, handler name, numeric path ids) of an API path below the prefix."""
    for pattern, template, name in ROUTES:
        m = pattern.fullmatch(path)
        if m:
            return template, name, tuple(int(g) for g in m.groups())
    return None


def api_path(path: str) -> str | None:
    """The part of `path` below `/customer/v2`, or None when it is not an API path."""
    if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
        return path[len(API_PREFIX):].rstrip("/") or "/"
    return None


class ApiHandler:
    """Serves the read path of one simulator at its current clock."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.handlers: dict[str, Callable[[tuple[int, ...], Query, int], Any]] = {
            "products": self._products, "product": self._product,
            "product_features": self._product_features, "section_features": self._section_features,
            "user_stories": self._user_stories, "tests": self._tests, "test": self._test,
            "bugs": self._bugs, "reject_reasons": self._reject_reasons, "bug": self._bug,
            "user_story": self._user_story,
        }

    def respond(self, name: str, ids: tuple[int, ...], query: Query, t: int) -> ApiResponse:
        try:
            payload = self.handlers[name](ids, query, t)
        except ApiError as exc:
            return error_response(exc.status, exc.message)
        return ApiResponse(200, payload if isinstance(payload, bytes) else dumps(payload))

    def _story_objects(self, query: Query) -> bool:
        return self.sim.config.honour_includes and "user_stories" in query.values("includes")

    def _product_or_404(self, product_id: int) -> Product:
        product = self.sim.account.product(product_id)
        if product is None:
            raise ApiError(404, f"Product {product_id} not found")
        return product

    def _products(self, ids: tuple[int, ...], query: Query, t: int) -> Any:
        wanted = query.ints("filter[product_ids]")
        products = self.sim.account.products
        if wanted is not None:
            keep = set(wanted)
            products = [p for p in products if p.id in keep]
        return {"products": [self.sim.renderer.product(p) for p in sorted(products, key=lambda p: p.id)]}

    def _product(self, ids: tuple[int, ...], query: Query, t: int) -> Any:
        return {"product": self.sim.renderer.product(self._product_or_404(ids[0]))}

    def _hostile_status(self, errors: dict[int, int], product_id: int) -> None:
        status = errors.get(product_id)
        if status is not None:
            raise ApiError(status, f"You are not allowed to access product {product_id}")

    def _product_features(self, ids: tuple[int, ...], query: Query, t: int) -> Any:
        product = self._product_or_404(ids[0])
        self._hostile_status(self.sim.hostile.catalog_errors, product.id)
        if product.has_sections and self.sim.config.features_endpoint == "legacy_422":
            # the 2025 API refused the product-wide list for products with sections (quirk 5.6)
            raise ApiError(422, "section_id required: this product has sections, use /sections/{id}/features")
        objects = self._story_objects(query)
        return {"features": [feature_json(f, t, objects) for f in product.features_at(t)]}

    def _section_features(self, ids: tuple[int, ...], query: Query, t: int) -> Any:
        product = self._product_or_404(ids[0])
        self._hostile_status(self.sim.hostile.catalog_errors, product.id)
        section_ids = {s.id for s in product.sections_with_default} | {product.default_section_id}
        if ids[1] not in section_ids:
            raise ApiError(404, f"Section {ids[1]} not found")
        objects = self._story_objects(query)
        if product.has_sections and ids[1] not in {s.id for s in product.sections_with_default}:
            return {"features": []}  # the hidden default section of a sectioned product
        return {"features": [feature_json(f, t, objects) for f in product.features_at(t, ids[1])]}

    def _user_stories(self, ids: tuple[int, ...], query: Query, t: int) -> Any:
        product = self._product_or_404(ids[0])
        section_id = query.get("section_id")
        if product.has_sections and not section_id:
            # the live API answers 500 (sometimes 400) here instead of a helpful 4xx (quirk 5.6)
            raise ApiError(500, "Internal Server Error")
        sid = query.int_or("section_id", 0) if section_id else None
        if sid is not None and sid not in {s.id for s in product.sections_with_default}:
            raise ApiError(404, f"Section {sid} not found")
        seen: dict[int, str] = {}
        for feature in product.features_at(t, sid):
            for story in feature.stories:
                seen.setdefault(story.id, story.title)
        return {"user_stories": [{"id": i, "path": s, "title": s} for i, s in sorted(seen.items())]}

    def _user_story(self, ids: tuple[int, ...], query: Query, t: int) -> Any:
        for product in self.sim.account.products:
            for feature in product.features_at(t):
                for story in feature.stories:
                    if story.id == ids[0]:
                        # the one endpoint without an envelope (quirk 5.12)
                        return {"id": story.id, "path": story.title, "title": story.title}
        raise ApiError(404, f"User story {ids[0]} not found")

    def _tests(self, ids: tuple[int, ...], query: Query, t: int) -> Any:
        product = self._product_or_404(ids[0])
        self._hostile_status(self.sim.hostile.listing_errors, product.id)
        tests = self.sim.account.product_tests_at(product.id, t)
        if query.get("page") is not None:
            page = max(1, query.int_or("page", 1))
            per_page = query.int_or("per_page", DEFAULT_PER_PAGE)
            per_page = per_page if per_page > 0 else DEFAULT_PER_PAGE
            window = tests[(page - 1) * per_page: page * per_page]
        elif self.sim.config.truncate_unpaged_tests:
            window = tests[:UNPAGED_TESTS_LIMIT]  # quirk 5.1: silently only the newest 150
        else:
            window = tests
        if any(self.sim.is_poisoned(x.id) for x in window):
            raise ApiError(500, "Internal Server Error")  # quirk 5.4
        objects = self._story_objects(query)
        hostile = self.sim.hostile
        items = [
            hostile.patch_test(x.id, self.sim.test_bytes(x, t, objects, single=False))
            for x in window
        ]
        return b'{"exploratory_tests":[' + b",".join(items) + b"]}"

    def _test(self, ids: tuple[int, ...], query: Query, t: int) -> Any:
        test = self.sim.account.test_at(ids[0], t)
        if test is None:
            raise ApiError(404, f"Exploratory test {ids[0]} not found")
        if self.sim.is_poisoned(test.id):
            raise ApiError(500, "Internal Server Error")
        body = self.sim.hostile.patch_test(
            test.id, self.sim.test_bytes(test, t, self._story_objects(query), single=True)
        )
        return b'{"exploratory_test":' + body + b"}"

    def _bugs(self, ids: tuple[int, ...], query: Query, t: int) -> Any:
        account = self.sim.account
        test_ids = query.ints("filter_test_cycle_ids")
        product_ids = query.ints("filter_product_ids")
        section_ids = query.ints("filter_section_ids")
        if test_ids is not None:
            tests = [x for x in (account.test_at(i, t) for i in dict.fromkeys(test_ids)) if x is not None]
        else:
            tests = account.tests_at(t)
        if product_ids is not None:
            tests = [x for x in tests if x.product.id in set(product_ids)]
        if section_ids is not None:
            tests = [x for x in tests if x.section_id in set(section_ids)]
        cols = account.bugs.cols
        rows = [np.arange(x.bug_lo, x.bug_hi) for x in tests if x.bug_hi > x.bug_lo]
        rows_arr = np.concatenate(rows) if rows else np.empty(0, np.int64)
        rows_arr = rows_arr[cols["reported_at"][rows_arr] <= t]
        export = query.get("export_status")
        if export is not None:
            exported = cols["exported"][rows_arr] & (cols["decided_at"][rows_arr] <= t)
            none = np.zeros(len(rows_arr), bool)  # export_requested: nothing is pending here
            keep = {"exported": exported, "not_exported": ~exported}.get(export, none)
            rows_arr = rows_arr[keep]
        # newest first; clients must not rely on any order
        rows_arr = rows_arr[np.argsort(-cols["id"][rows_arr], kind="stable")]
        bodies = self.sim.renderer.bugs(rows_arr, t)
        hostile = self.sim.hostile
        if hostile.bug_objects:
            bug_ids = cols["id"][rows_arr].tolist()
            bodies = [hostile.patch_bug(i, b) for i, b in zip(bug_ids, bodies)]
        return b'{"bugs":[' + b",".join(bodies) + b"]}"

    def _bug(self, ids: tuple[int, ...], query: Query, t: int) -> Any:
        account = self.sim.account
        row = account.bugs.row_of(ids[0])
        if row is None or int(account.bugs.cols["reported_at"][row]) > t:
            raise ApiError(404, f"Bug {ids[0]} not found")
        return b'{"bug":' + self.sim.renderer.bugs([row], t)[0] + b"}"

    def _reject_reasons(self, ids: tuple[int, ...], query: Query, t: int) -> Any:
        reasons = [{"key": k, "name": n, "default_comment": c} for k, n, c in names.REJECT_REASONS]
        return {"reject_reasons": reasons}


class HeaderLookup(Protocol):
    def get(self, key: str, default: Any = None) -> Any: ...


def authorized(headers: HeaderLookup, token: str) -> bool:
    """Whether the request carries `Authorization: Token <token>`."""
    value = headers.get("authorization") or ""
    scheme, _, given = value.partition(" ")
    return scheme.lower() == "token" and given.strip() == token
