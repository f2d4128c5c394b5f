"""Constants of the TestIO API layer: endpoints, page sizes, statuses, retry defaults.

Kept as data so a reader finds every number the client relies on in one place.
"""

from __future__ import annotations

DEFAULT_BASE_URL = "https://api.test.io/customer/v2"

PRODUCTS_PATH = "/products"
PRODUCT_PATH = "/products/{product_id}"
PRODUCT_FEATURES_PATH = "/products/{product_id}/features"
SECTION_FEATURES_PATH = "/products/{product_id}/sections/{section_id}/features"
USER_STORIES_PATH = "/products/{product_id}/user_stories"
PRODUCT_TESTS_PATH = "/products/{product_id}/exploratory_tests"
TEST_PATH = "/exploratory_tests/{test_id}"
BUGS_PATH = "/bugs"
BUG_PATH = "/bugs/{bug_id}"

# without `page` the API silently returns only the newest 150 tests (quirk 5.1)
TESTS_PER_PAGE = 25
BUGS_TEST_IDS_PER_REQUEST = 15

MAX_IN_FLIGHT = 10
TIMEOUT_SECONDS = 30.0
MAX_ATTEMPTS = 4
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 8.0
RETRY_AFTER_DEFAULT_SECONDS = 30.0
RETRY_AFTER_CAP_SECONDS = 60.0

TEST_STATUSES = (
    "initialized",
    "waiting",
    "running",
    "locked",
    "customer_finalized",
    "archived",
    "cancelled",
)
# bugs of a final test never change again, so they are synced once (quirk: "cache forever")
FINAL_TEST_STATUSES = frozenset({"archived", "cancelled"})

BUG_STATUSES = ("forwarded", "accepted", "rejected")
BUG_SEVERITIES = ("critical", "high", "low", "visual", "content", "custom")
