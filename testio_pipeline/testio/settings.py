"""Constants of the TestIO API layer: endpoints, page sizes, statuses, retry defaults.

Kept as data so a reader finds every number the client relies on in one place.
"""

from __future__ import annotations

DEFAULT_BASE_URL = "https://api.test.io/customer/v2"
# where the embedded simulator answers (in process, no network): what the launchpad shows
# without a token; the simulator defines it too (it imports nothing of ours), a test ties them
EMBEDDED_SIMULATOR_BASE_URL = "http://testio-simulator.local/customer/v2"

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

# --- client behaviour (appended by the API-client owner) ---
USER_AGENT = "testio-pipeline/0.1"
# objects instead of bare strings in features[].user_stories, so story ids survive (2026 API)
FEATURE_INCLUDES = ("user_stories",)
# ... and in test listings, where each story then carries its execution outcome (2026 API)
TEST_INCLUDES = ("user_stories",)
# the status a poisoned test record makes every page containing it answer (quirk 5.4); only
# this status triggers bisection, other exhausted failures propagate
POISONED_PAGE_STATUS = 500
# test pages requested ahead of the one being consumed: keeps the semaphore busy without
# wasting more than a few empty pages past the end of a listing
TESTS_PAGES_AHEAD = 3
# ... and for a long listing, up to this many (see pagination.look_ahead)
TESTS_PAGES_AHEAD_MAX = 16
# bug batches kept scheduled per request slot: enough to keep every slot busy, bounded memory
BUGS_PENDING_BATCHES_PER_SLOT = 2
TESTS_PROGRESS_EVERY_PAGES = 20
BUGS_PROGRESS_EVERY_BATCHES = 50
# full test pages in a row that bring no new id before the listing is declared stuck (the API
# ignoring `page`); one or two can legitimately happen when tests are added during a listing
TESTS_STALE_PAGES_LIMIT = 3
# a bisected page of at least this many records where every record failed is an outage, not
# poisoned records: the listing fails instead of skipping the whole page
POISON_OUTAGE_MIN_PAGE = 5

# the largest response body the client reads (TESTIO_MAX_RESPONSE_MB): a /bugs answer for 15
# tests is ~100 KB and a page of 25 tests ~80 KB, so anything near this is not an answer the
# sync can use, and reading it whole would cost its size in memory
MAX_RESPONSE_MB = 64
